"""Fixtures for the Natron side: the fake NatronEngine on sys.path, a fresh host per test."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from natron_env import PLUGIN  # noqa: E402  (puts the fake NatronEngine, plugin/ and nodes/ on sys.path)


@pytest.fixture
def host(monkeypatch, tmp_path):
    """A fresh fake Natron with our plug-in folder on NATRON_PLUGIN_PATH and init.py run."""
    import NatronEngine

    natron = NatronEngine.PyCoreApplication()
    monkeypatch.setattr(NatronEngine, "natron", natron)
    monkeypatch.setenv("NATRON_PLUGIN_PATH", str(PLUGIN))
    monkeypatch.setenv("FACEPLATE_NATRON_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    code = compile((PLUGIN / "init.py").read_text(), str(PLUGIN / "init.py"), "exec")
    exec(code, {"__name__": "init", "__file__": str(PLUGIN / "init.py")})
    app = NatronEngine.App(natron)
    return natron, app
