"""Paths of the Natron side, the fake NatronEngine put on ``sys.path``, and the ``host`` fixture.

Not a conftest.py: other test folders import their own ``conftest`` by name, and a second one here
would shadow theirs.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FAKE = Path(__file__).resolve().parent / "fake_natron"
PLUGIN = ROOT / "plugin"
NODES = ROOT / "nodes"

for _p in (FAKE, PLUGIN, NODES):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))


@pytest.fixture
def host(monkeypatch, tmp_path):
    """A fresh fake NatronRenderer started the studio way: plugin/ and nodes/ on NATRON_PLUGIN_PATH
    (':'-separated, as on Linux), an empty HOME, init.py run at start."""
    import NatronEngine

    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("NATRON_PLUGIN_PATH", "{}:{}".format(PLUGIN, NODES))
    monkeypatch.setenv("FACEPLATE_NATRON_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    natron = NatronEngine.PyCoreApplication()
    monkeypatch.setattr(NatronEngine, "natron", natron)
    natron.start()
    app = NatronEngine.App(natron)
    return natron, app
