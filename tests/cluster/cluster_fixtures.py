"""Helpers for the cluster tests (imported as ``cluster_fixtures``: a unique name).

Reuses the render tests' builders (``tests/render/render_fixtures.py``: a synthetic shot written as
EXRs and a real ONNX swap model) and adds what the cluster tests compare: every file of two output
folders bit for bit, and two face sets record by record.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

RENDER_TESTS = Path(__file__).resolve().parents[1] / "render"
if str(RENDER_TESTS) not in sys.path:
    sys.path.insert(0, str(RENDER_TESTS))

from render_fixtures import FIRST, Shot, build_model, build_shot, plate_pixels, write_plate  # noqa: E402

__all__ = ["FIRST", "Shot", "build_model", "build_shot", "plate_pixels", "write_plate", "assert_same_frames",
           "exr_files", "assert_same_facesets"]


def exr_files(folder: Path) -> list[str]:
    """Visible EXR names in ``folder`` (temporary files start with a dot)."""
    return sorted(p.name for p in Path(folder).iterdir() if p.suffix == ".exr" and not p.name.startswith("."))


def assert_same_frames(a: Path, b: Path, expected: int) -> None:
    """Every EXR in ``a`` and ``b``: same names, same channels, windows, metadata and pixel bits."""
    from faceplate.plates.image import read_image

    names = exr_files(a)
    assert names == exr_files(b) and len(names) == expected, (names, exr_files(b))
    for name in names:
        x, y = read_image(Path(a) / name), read_image(Path(b) / name)
        assert x.channels == y.channels and x.data_window == y.data_window, name
        assert x.display_window == y.display_window, name
        assert x.metadata == y.metadata, name
        assert np.array_equal(np.ascontiguousarray(x.pixels).view(np.uint32),
                              np.ascontiguousarray(y.pixels).view(np.uint32)), f"{name}: pixels differ"


def _records(folder: Path) -> list[dict]:
    doc = json.loads((Path(folder) / "faceset.json").read_text())
    out = []
    for r in doc["faces"]:
        r = dict(r)
        extra = dict(r.get("extra", {}))
        mf = dict(extra.get("merged_from", {}))
        mf.pop("faceset", None)  # where the per-source set was written differs by design
        extra["merged_from"] = mf
        r["extra"] = extra
        out.append(r)
    return out


def assert_same_facesets(a: Path, b: Path) -> None:
    """Same face records (ids, sources, landmarks, transforms...) and bit-identical crops and masks."""
    from faceplate.plates.image import read_image

    ra, rb = _records(a), _records(b)
    assert len(ra) > 0 and ra == rb
    for r in ra:
        for key in ("image", "mask"):
            x, y = read_image(Path(a) / r[key]), read_image(Path(b) / r[key])
            assert np.array_equal(np.ascontiguousarray(x.pixels).view(np.uint32),
                                  np.ascontiguousarray(y.pixels).view(np.uint32)), r[key]
            assert x.metadata == y.metadata, r[key]
