"""pytest fixtures for tests/train; the helpers live in train_fixtures.py (a unique module name,
so a whole-suite run never imports another folder's conftest by mistake)."""
import pytest

from train_fixtures import *  # noqa: F401,F403


@pytest.fixture(scope="session")
def facesets(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("facesets")
    a = make_faceset(base / "alice", n=6, seed=1, skin=(0.62, 0.46, 0.40))
    b = make_faceset(base / "bob", n=5, seed=2, skin=(0.45, 0.36, 0.33), layout="v2")  # as extract writes
    return a.root, b.root


