"""Fixtures for the cluster tests: ONE local Ray runtime (2 CPUs) for the whole session, a synthetic
shot and real ONNX models (helpers live in ``cluster_fixtures``)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from cluster_fixtures import FIRST, build_model, build_shot


@pytest.fixture(scope="session")
def ray_runtime():
    """A local Ray runtime with 2 CPUs whose workers import the same faceplate as this process."""
    import ray  # part of the dev install (faceplate[cluster]); a missing one fails, never skips

    import faceplate

    engine = str(Path(faceplate.__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (engine, os.environ.get("PYTHONPATH", "")) if p)
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=256 << 20,
             runtime_env={"env_vars": {"PYTHONPATH": path}})
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("cluster-models")
    build_model(d / "conv.onnx", "conv")
    return d


@pytest.fixture(scope="session")
def cluster_shot(tmp_path_factory, astronaut):
    """12 frames, the 4th without a face."""
    return build_shot(tmp_path_factory.mktemp("cluster-shot"), astronaut.acescg, n=12, no_face=(FIRST + 3,))
