"""pytest fixtures for tests/curate; the helpers live in curate_fixtures.py (a unique module name,
so a whole-suite run never imports another folder's conftest by mistake)."""
import pytest

from curate_fixtures import *  # noqa: F401,F403


@pytest.fixture
def faceset_factory(tmp_path):
    def _make(name: str, faces: list[dict], **kw) -> FaceSet:
        return make_set(tmp_path / name, faces, **kw)

    return _make
