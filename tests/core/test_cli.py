"""The console command: in process and as a subprocess (OpenTimelineIO habit)."""
import os
import subprocess
import sys

from faceplate import __version__
from faceplate.cli.main import main


def test_version_and_help_in_process(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().err


def test_subprocess_version_and_no_telemetry(tmp_path):
    env = dict(os.environ, HOME=str(tmp_path))
    out = subprocess.run([sys.executable, "-m", "faceplate", "--version"], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and __version__ in out.stdout
    code = "import faceplate, os; print(os.environ['ORT_DISABLE_TELEMETRY'])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == "1"


def test_help_does_not_import_torch():
    code = "import sys; from faceplate.cli.main import build_parser; build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
