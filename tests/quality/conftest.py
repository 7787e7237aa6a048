"""Fixtures for the quality tests (helpers live in ``quality_fixtures``)."""
from __future__ import annotations

from pathlib import Path

import pytest

from quality_fixtures import FIRST, build_model, build_shot


@pytest.fixture(scope="session")
def quality_models(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("quality-models")
    build_model(d / "identity.onnx", "identity")
    build_model(d / "invert.onnx", "invert")
    return d


@pytest.fixture(scope="session")
def quality_shot(tmp_path_factory, astronaut):
    """3 frames, the middle one without a face."""
    return build_shot(tmp_path_factory.mktemp("quality-shot"), astronaut.acescg, n=3, no_face=(FIRST + 1,))
