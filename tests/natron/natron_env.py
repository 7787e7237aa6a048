"""Paths of the Natron side, and the fake NatronEngine put on ``sys.path`` (imported by the tests)."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FAKE = Path(__file__).resolve().parent / "fake_natron"
PLUGIN = ROOT / "plugin"
NODES = ROOT / "nodes"

for _p in (FAKE, PLUGIN, NODES):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))
