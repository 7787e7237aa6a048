"""The installer in a temporary HOME: install, --check passes, --uninstall leaves nothing behind.

Reuses the engine environment this suite runs in (FACEPLATE_ENV + --skip-pip), so torch is not
installed again; everything else (assets, Natron registration, config, the service) is real.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "install" / "install.sh"


def _tree(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def _run(args, env, timeout=240):
    return subprocess.run(["bash", str(INSTALL)] + args, env=env, capture_output=True, text=True, timeout=timeout)


SWAP_ID, MASK_ID = "io.faceplate.FaceplateSwap", "io.faceplate.FaceplateMask"
FAKE = ROOT / "tests" / "natron" / "fake_natron"


def first_start_loads_the_nodes(home: Path, env: dict) -> list:
    """A new NatronRenderer process (the fake host) started in ``home``: which of our nodes it can create."""
    code = (
        "import sys; sys.path.insert(0, %r)\n"
        "import NatronEngine as ne\n"
        "natron = ne.natron.start()\n"
        "app = ne.App(natron)\n"
        "print([i for i in (%r, %r) if app.createNode(i) is not None])\n" % (str(FAKE), SWAP_ID, MASK_ID))
    env = dict(env, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), FACEPLATE_NATRON_CACHE=str(home / "cache"))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                       cwd=str(home))
    assert r.returncode == 0, r.stderr
    return eval(r.stdout.strip().splitlines()[-1])


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "home"
    (home / ".Natron").mkdir(parents=True)
    (home / ".Natron" / "init.py").write_text("# the artist's own start-up\nprint('hello')\n")
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "FACEPLATE_", "NATRON_"))}
    env.update({"HOME": str(home), "XDG_RUNTIME_DIR": str(run), "FACEPLATE_ENV": sys.prefix})
    return home, run, env


@pytest.mark.slow
def test_install_check_uninstall_in_a_temporary_home(home):
    home, run, env = home
    before = _tree(home)
    prefix_before = sorted(os.listdir(sys.prefix))

    r = _run(["--skip-pip"], env)
    assert r.returncode == 0, r.stdout + r.stderr
    init = (home / ".Natron" / "init.py").read_text()
    assert init.startswith("# the artist's own start-up\nprint('hello')\n")  # kept
    assert "appendToNatronPath" not in init and str(ROOT / "plugin") in init  # only scanned from the next start
    assert (home / ".Natron" / "initGui.py").exists()
    assert first_start_loads_the_nodes(home, env) == [SWAP_ID, MASK_ID]  # the very first start
    conf = (home / ".config" / "faceplate" / "natron.conf").read_text()
    assert f"engine_python={sys.prefix}/bin/python" in conf
    assets = home / ".local" / "share" / "faceplate" / "assets"
    assert assets.is_dir() and any(assets.iterdir())

    again = _run(["--skip-pip"], env)  # idempotent: same result, one block
    assert again.returncode == 0, again.stdout + again.stderr
    assert (home / ".Natron" / "init.py").read_text() == init

    check = _run(["--check"], env)
    assert check.returncode == 0, check.stdout + check.stderr
    for item in ("engine", "onnxruntime", "GPU", "face-model assets", "Natron registration", "engine service"):
        assert item in check.stdout
    assert "FAIL" not in check.stdout

    studio = _run(["--print-studio-setup"], env)
    assert "NATRON_PLUGIN_PATH=" in studio.stdout and str(ROOT / "plugin") in studio.stdout
    export = [ln for ln in studio.stdout.splitlines() if ln.startswith("export NATRON_PLUGIN_PATH=")][0]
    fresh = home.parent / "studio-home"
    fresh.mkdir()
    path = subprocess.run(["bash", "-c", export + '; printf %s "$NATRON_PLUGIN_PATH"'], capture_output=True,
                          text=True, env={"PATH": os.environ["PATH"]}).stdout
    assert first_start_loads_the_nodes(fresh, dict(env, HOME=str(fresh), NATRON_PLUGIN_PATH=path)) == [SWAP_ID, MASK_ID]

    gone = _run(["--uninstall"], env)
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert _tree(home) == before  # nothing left behind; the artist's file is as it was
    assert list(run.iterdir()) == []  # the service stopped, its runtime folder removed
    assert sorted(os.listdir(sys.prefix)) == prefix_before  # an env it did not create is kept


@pytest.mark.slow
def test_check_fails_when_not_installed(home):
    home, run, env = home
    env["FACEPLATE_ENV"] = str(home / "no-env")
    r = _run(["--check"], env, timeout=60)
    assert r.returncode != 0
    assert "FAIL" in r.stdout and "not installed" in r.stdout
    assert "Natron registration" in r.stdout


def test_unknown_option_is_an_error(home):
    home, run, env = home
    r = _run(["--frobnicate"], env, timeout=30)
    assert r.returncode == 2 and "unknown option --frobnicate" in r.stderr
