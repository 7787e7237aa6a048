import pytest

from faceplate.errors import InputError, MissingFrameError
from faceplate.plates import Sequence, parse_frames


@pytest.mark.parametrize("text, frames", [
    ("1001", (1001,)),
    ("1001-1004", (1001, 1002, 1003, 1004)),
    ("1001-1007x3", (1001, 1004, 1007)),
    ("1-2,5,7-9x2", (1, 2, 5, 7, 9)),
    ("3,1,3", (3, 1)),
])
def test_parse_frames(text, frames):
    assert parse_frames(text).frames == frames


@pytest.mark.parametrize("bad", ["", "a-b", "10-1", "1-5x0", "1001-"])
def test_parse_frames_rejects_bad_ranges_naming_the_parameter(bad):
    with pytest.raises(InputError, match="--frames"):
        parse_frames(bad)


def test_frame_range_str_round_trips():
    assert str(parse_frames("1001-1100x2")) == "1001-1099x2"
    assert str(parse_frames("1,2,5")) == "1,2,5"


@pytest.mark.parametrize("pattern, path", [
    ("/p/plate.####.exr", "/p/plate.1001.exr"),
    ("/p/plate.%04d.exr", "/p/plate.1001.exr"),
    ("/p/plate.%06d.exr", "/p/plate.001001.exr"),
    ("/p/plate.@.exr", "/p/plate.1001.exr"),
    ("/p/plate.##.exr", "/p/plate.1001.exr"),
])
def test_sequence_paths(pattern, path):
    assert str(Sequence(pattern).path(1001)) == path


def test_padding_for_small_frames():
    assert Sequence("a.####.exr").path(7).name == "a.0007.exr"
    assert Sequence("a.@.exr").path(7).name == "a.7.exr"


def test_frames_on_disk_ignores_temporaries_and_other_names(tmp_path):
    for name in ["s.0001.exr", "s.0002.exr", "s.0010.exr", ".s.0003.tmp-1-ab.exr", "t.0004.exr", "s.0005.exr.bak"]:
        (tmp_path / name).write_bytes(b"x")
    seq = Sequence(str(tmp_path / "s.####.exr"))
    assert seq.frames_on_disk() == [1, 2, 10]
    assert seq.default_range().frames == (1, 2, 10)


def test_pattern_matching_nothing_names_the_pattern(tmp_path):
    seq = Sequence(str(tmp_path / "none.####.exr"))
    with pytest.raises(MissingFrameError, match="matches no file"):
        seq.default_range()


def test_missing_frames_are_listed(tmp_path):
    for f in (1, 2, 4):
        (tmp_path / f"s.{f:04d}.exr").write_bytes(b"x")
    seq = Sequence(str(tmp_path / "s.####.exr"))
    with pytest.raises(MissingFrameError, match=r"1 requested frame\(s\) missing: 3; found 1-4"):
        seq.check_frames(parse_frames("1-4"))


def test_two_tokens_are_refused():
    with pytest.raises(InputError, match="one frame token"):
        Sequence("a.####.%04d.exr").path(1)


def test_still_is_a_sequence_without_token(tmp_path):
    p = tmp_path / "still.png"
    p.write_bytes(b"x")
    seq = Sequence(str(p))
    assert seq.is_still and seq.path(5) == p and seq.frames_on_disk() == [0]
