"""Two real OCIO configs of different versions: OpenImageIO's built-in latest ACES studio config and
the ACES studio config for OCIO 2.1 (the newest Natron 2.5's OCIO 2.1 can load), written to a file
by the opencolorio package. Each runs in its own process with ``$OCIO`` set, as under Natron."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CONFIG_21 = "ocio://studio-config-v1.0.0_aces-v1.3_ocio-v2.1"

PROBE = r"""
import json, numpy as np
from faceplate.colour import ColourConfig
c = ColourConfig.from_env()
x = np.array([[[0.18, 0.18, 0.18], [1.0, 0.5, 0.25], [4.0, 0.01, 0.0]]], np.float32)
proxy = c.to_proxy(x, "scene_linear")
back = c.convert(c.convert(x, "ACEScg", "ACEScct"), "ACEScct", "ACEScg")
print(json.dumps({"config": c.config, "proxy_space": c.proxy_space, "srgb": c.resolve("sRGB Encoded Rec.709 (sRGB)"),
                  "lin_ap1": c.resolve("lin_ap1"), "scene_linear": c.resolve("scene_linear"),
                  "proxy": proxy.tolist(), "round_trip": float(np.abs(back - x).max())}))
"""


@pytest.fixture(scope="module")
def config_21(tmp_path_factory) -> Path:
    ocio = pytest.importorskip("PyOpenColorIO")
    path = tmp_path_factory.mktemp("ocio") / "studio-config-ocio-v2.1.ocio"
    cfg = ocio.Config.CreateFromFile(CONFIG_21)
    assert (cfg.getMajorVersion(), cfg.getMinorVersion()) == (2, 1)
    path.write_text(cfg.serialize())
    return path


def _probe(ocio: str) -> dict:
    env = dict(os.environ, OCIO=ocio)
    r = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_spaces_are_found_by_role_alias_or_interop_id_in_both_configs(config_21):
    latest = _probe("ocio://studio-config-latest")
    old = _probe(str(config_21))
    assert latest["proxy_space"] == latest["srgb"] == "sRGB Encoded Rec.709 (sRGB)"
    assert old["proxy_space"] == old["srgb"] == "sRGB - Texture"  # the 2.1 config's name for it
    assert latest["lin_ap1"] == old["lin_ap1"] == "ACEScg" == latest["scene_linear"] == old["scene_linear"]
    assert old["config"] == str(config_21)
    for a, b in zip(sum(sum(latest["proxy"], []), []), sum(sum(old["proxy"], []), [])):
        assert abs(a - b) < 1e-4  # the same detector input whichever config Natron uses
    assert latest["round_trip"] < 1e-4 and old["round_trip"] < 1e-4  # float32 through a log curve at 4.0


def test_a_service_never_serves_another_config(config_21, tmp_path):
    """The default socket is per config; a service asked to render for another config refuses."""
    from faceplate import wire

    a = wire.default_socket_path({"XDG_RUNTIME_DIR": str(tmp_path), "OCIO": str(config_21)})
    b = wire.default_socket_path({"XDG_RUNTIME_DIR": str(tmp_path), "OCIO": "ocio://studio-config-latest"})
    assert a != b
    code = ("import os, json\n"
            "from faceplate.render.service import EngineService\n"
            "from faceplate.errors import ServiceError\n"
            "svc = EngineService(socket_path='/nonexistent/x.sock')\n"
            "try:\n"
            "    svc.render({'op': 'render', 'plate': '/p.####.exr', 'frame': 1, 'out': '/o.####.exr',\n"
            "                'model': '/m.onnx', 'settings': {}, 'ocio': 'ocio://studio-config-latest'})\n"
            "except ServiceError as exc:\n"
            "    print(json.dumps(str(exc)))\n")
    r = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, OCIO=str(config_21)), capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    msg = json.loads(r.stdout.strip().splitlines()[-1])
    assert str(config_21) in msg and "ocio://studio-config-latest" in msg and "never serves another config" in msg
