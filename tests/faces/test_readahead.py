"""Pass 1's read-ahead: frames in order, the same as read in line, errors at their own frame."""
import threading
import time

import numpy as np
import pytest

from faceplate.colour import ColourConfig
from faceplate.errors import PlateError
from faceplate.faces.readahead import ReadAhead, prepare
from faceplate.faces.source import open_source
from faceplate.plates import Image, write_image


@pytest.mark.parametrize("ahead", [0, 1, 3])
def test_frames_come_back_in_order_and_complete(ahead):
    seen, lock = [], threading.Lock()

    def load(f):
        with lock:
            seen.append(f)
        return f * 2

    got = []
    for x in ReadAhead(range(10, 20), load, ahead=ahead):
        with lock:  # never more than ``ahead`` frames beyond the one handed over
            assert max(seen) <= x // 2 + ahead
        got.append(x)
    assert got == [f * 2 for f in range(10, 20)] and sorted(seen) == list(range(10, 20))


@pytest.mark.parametrize("ahead", [0, 1, 2])
def test_an_error_is_raised_at_its_frame(ahead):
    def load(f):
        if f == 4:
            raise PlateError(f"plate x (frame {f}): corrupt")
        return f

    out = []
    with pytest.raises(PlateError, match=r"frame 4\): corrupt"):
        for x in ReadAhead(range(10), load, ahead=ahead):
            out.append(x)
    assert out == [0, 1, 2, 3]  # every frame before the bad one was handed over, none after


def test_the_window_grows_to_what_the_budget_holds():
    seen, lock = [], threading.Lock()

    def load(f):
        with lock:
            seen.append(f)
        return np.zeros(100, np.uint8)  # 100 bytes a frame

    reader = ReadAhead(range(50), load, ahead=1, workers=2, budget=550, size_of=lambda a: a.nbytes, most=8)
    it = iter(reader)
    next(it)
    deadline = time.time() + 5
    while time.time() < deadline:
        with lock:
            if len(seen) >= 6:
                break
        time.sleep(0.01)
    time.sleep(0.05)
    with lock:
        assert sorted(seen) == list(range(6))  # frame 0 handed over, 5 (550 // 100) frames ahead of it
    reader.close()
    big = ReadAhead(range(50), load, ahead=2, budget=10 ** 9, size_of=lambda a: a.nbytes, most=4)
    assert len(list(big)) == 50 and big._ahead == 4  # never more than ``most``


def test_reads_run_beside_the_caller_and_stop_when_left():
    started, release = [], threading.Event()

    def load(f):
        started.append(f)
        if f >= 2:
            release.wait(5)
        return f

    reader = ReadAhead(range(100), load, ahead=1)
    it = iter(reader)
    assert next(it) == 0
    assert next(it) == 1  # frame 2 is being read meanwhile
    release.set()
    reader.close()
    assert max(started) <= 3  # leaving early reads nothing more


def test_prepare_matches_reading_in_line(tmp_path):
    from faceplate.faces.analyse import reduce
    from faceplate.faces.shots import signature
    from faceplate.faces.source import read_frame

    rng = np.random.default_rng(0)
    for f in (1, 2):
        px = rng.random((90, 160, 3), dtype=np.float32) * 4.0
        write_image(tmp_path / f"p.{f:04d}.exr", Image(px, ("R", "G", "B"), (3, 2, 160, 90), (0, 0, 170, 100)))
    src = open_source([str(tmp_path / "p.####.exr")], "1-2")
    cfg = ColourConfig()
    got = prepare(src, 2, 64, cfg, "ACEScg", proxy=True)
    img, rgb = read_frame(src, 2)
    small, k = reduce(rgb, 64)
    assert (got.frame, got.data_window, got.display_window, got.path) == (2, img.data_window, img.display_window,
                                                                           str(img.path))
    assert np.array_equal(got.rgb, rgb)
    assert got.scale == k and np.array_equal(got.small, small) and small.shape == (36, 64, 3)
    np.testing.assert_array_equal(got.signature.luma, signature(small).luma)
    np.testing.assert_array_equal(got.proxy, cfg.to_proxy(small, "ACEScg"))
    assert prepare(src, 1, 64).proxy is None
    (tmp_path / "p.0002.exr").unlink()
    with pytest.raises(PlateError, match=r"p.0002.exr \(frame 2\): file not found"):
        list(ReadAhead([1, 2], lambda f: prepare(src, f, 64)))
