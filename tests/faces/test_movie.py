"""Movies as a source for extract: an mp4 written in the test with OpenCV extracts frame-accurately
(frame numbers = movie frames, --frames and --every sample them); an unreadable movie and a movie
given to render are clear errors naming the file, with nothing written."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from faceplate.cli.main import main

SRGB = "sRGB Encoded Rec.709 (sRGB)"
N = 12
SHIFT = 8  # px per frame


@pytest.fixture(scope="module")
def movie(tmp_path_factory, astronaut):
    """clip.mp4: 12 frames 640×360 of the astronaut (256 px) moving SHIFT px right per frame."""
    path = tmp_path_factory.mktemp("movie") / "clip.mp4"
    face = cv2.resize(np.asarray(astronaut.srgb), (256, 256), interpolation=cv2.INTER_AREA)
    wr = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 24.0, (640, 360))
    assert wr.isOpened()
    for f in range(N):
        px = np.full((360, 640, 3), 0.3, np.float32)
        px[50:306, 100 + SHIFT * f:356 + SHIFT * f] = face
        wr.write(cv2.cvtColor(np.round(px * 255).astype(np.uint8), cv2.COLOR_RGB2BGR))
    wr.release()
    return path


def test_movie_reader_counts_and_reads_every_frame(movie):
    from faceplate.plates.movie import MovieReader

    r = MovieReader(movie)
    assert r.count == N and r.size == (640, 360)
    a, b = r.read(5), r.read(2)  # backwards: re-opened and decoded up to the frame
    assert a.pixels.shape == (360, 640, 3) and a.pixels.dtype == np.float32 and 0 <= a.pixels.min() <= a.pixels.max() <= 1
    assert a.path.endswith("clip.mp4@5")
    # frame 5's face sits 3 × SHIFT px right of frame 2's: the column profile moved by exactly that
    ca, cb = a.pixels[100:250].mean(axis=(0, 2)), b.pixels[100:250].mean(axis=(0, 2))
    shifts = [int(np.argmin([np.abs(ca[s + 80:s + 560] - cb[80:560]).mean() for s in range(0, 40)]))]
    assert shifts == [3 * SHIFT]


def test_extract_a_movie_frame_accurately(face_assets, movie, tmp_path):
    out = tmp_path / "set"
    assert main(["extract", str(movie), "--out", str(out), "--size", "64", "--colour-space", SRGB,
                 "--frames", "2-10", "--every", "4", "--quiet"]) == 0
    doc = json.loads((out / "alignments.json").read_text())
    assert sorted(int(f) for f in doc["frames"]) == [2, 6, 10] and doc["cuts"] == []
    x = {int(f): np.asarray(fr["faces"][0]["landmarks"])[:, 0].mean() for f, fr in doc["frames"].items()}
    assert abs((x[6] - x[2]) - 4 * SHIFT) < 1.5 and abs((x[10] - x[6]) - 4 * SHIFT) < 1.5
    fs = json.loads((out / "faceset.json").read_text())
    assert [r["frame"] for r in fs["faces"]] == [2, 6, 10] and fs["plate_colour_space"] == SRGB
    assert all(r["source"] == str(movie) for r in fs["faces"])


def test_movie_errors_name_the_file(face_assets, movie, tmp_path, capsys):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(300))
    cases = [
        ([str(bad), "--colour-space", SRGB], f"movie {bad}: cannot be"),
        ([str(movie)], "is a movie, which has no scene-linear default"),
        ([str(movie), "--colour-space", SRGB, "--frames", "10-14"], f"movie {movie} has frames 0-11, found [12, 13, 14]"),
    ]
    for i, (args, match) in enumerate(cases):
        out = tmp_path / f"o{i}"
        rc = main(["extract", *args, "--out", str(out), "--quiet"])
        err = capsys.readouterr().err
        assert rc == 2 and match in err, err
        assert not out.exists()


def test_render_refuses_a_movie(movie, tmp_path, capsys):
    out = tmp_path / "passes.####.exr"
    rc = main(["render", str(movie), "--model", str(tmp_path / "m.onnx"), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and f"plate {movie} is a movie (.mp4)" in err and "image sequences" in err, err
    assert not any(tmp_path.glob("passes*"))
