"""Fixtures for the render tests (helpers live in ``render_fixtures``)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from render_fixtures import FIRST, Shot, build_model, build_shot


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("models")
    build_model(d / "invert.onnx", "invert")
    build_model(d / "identity.onnx", "identity")
    build_model(d / "shift.onnx", "shift")
    build_model(d / "conv.onnx", "conv")
    return d


@pytest.fixture(scope="session")
def shot(tmp_path_factory, astronaut) -> Shot:
    """3 frames, the middle one without a face."""
    return build_shot(tmp_path_factory.mktemp("shot"), astronaut.acescg, n=3, no_face=(FIRST + 1,))


@pytest.fixture()
def short_tmp():
    """A short private folder for Unix sockets (paths are limited to ~100 bytes)."""
    import shutil
    import tempfile

    d = tempfile.mkdtemp(prefix="fp-", dir="/tmp")
    os.chmod(d, 0o700)
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def extracted(shot, face_assets, tmp_path_factory) -> Path:
    """A face set (64 px) made by the real `faceplate extract` from the test shot."""
    from faceplate.cli.main import main

    out = tmp_path_factory.mktemp("faceset")
    rc = main(["extract", shot.plate, "--frames", f"{FIRST}-{FIRST + 2}", "--out", str(out), "--size", "64",
               "--face", "all"])
    assert rc == 0
    return out
