"""initGui.py's "Faceplate" menu against a fake NatronGui: entries, node creation, training command."""
from __future__ import annotations

import shlex

import pytest

from natron_env import host, PLUGIN  # noqa: F401  (host: fixture)


@pytest.fixture
def gui(host, monkeypatch):
    import NatronEngine
    import NatronGui

    natron = NatronGui.PyGuiApplication()
    natron._paths = list(NatronEngine.natron._paths)
    monkeypatch.setattr(NatronGui, "natron", natron)
    monkeypatch.setattr(NatronEngine, "natron", natron)
    app = NatronGui.GuiApp(natron)
    natron.app = app
    import faceplate_gui

    monkeypatch.setattr(faceplate_gui, "_INSTALLED", [])
    for _ in range(2):  # run from the plug-in path and from ~/.Natron: one menu
        exec(compile((PLUGIN / "initGui.py").read_text(), "initGui.py", "exec"), {"__name__": "initGui"})
    return natron, app


def test_menu_entries_resolve_to_callables(gui):
    natron, app = gui
    import importlib

    assert [g for g, _ in natron.menu] == ["Faceplate/Faceplate Swap", "Faceplate/Faceplate Mask",
                                           "Faceplate/Train a model…"]
    for _, fn in natron.menu:
        module, name = fn.rsplit(".", 1)
        assert callable(getattr(importlib.import_module(module), name))


def test_swap_entry_connects_to_the_selected_read(gui, tmp_path):
    natron, app = gui
    import faceplate_gui

    for f in (1, 2):
        (tmp_path / ("plate.%04d.exr" % f)).write_bytes(b"")
    read = app.createReader(str(tmp_path / "plate.####.exr"))
    app.selected = [read]
    faceplate_gui.create_swap()
    node = app.getNode("FaceplateSwap")
    assert node.getInput(0) is read
    assert node.getParam("plateFile").getValue() == str(tmp_path / "plate.####.exr")
    assert node.getNode("ReadLive").layers is not None  # activated after creation


def test_train_entry_shows_commands_the_cli_accepts(gui, tmp_path):
    natron, app = gui
    import faceplate_gui
    from faceplate.cli.main import build_parser

    for f in (1001, 1002, 1003):
        (tmp_path / ("plate.%04d.exr" % f)).write_bytes(b"")
    app.selected = [app.createReader(str(tmp_path / "plate.####.exr"))]
    faceplate_gui.show_training_command()
    kind, title, message = natron.dialogs[-1]
    commands = [ln for ln in message.splitlines() if "faceplate" in ln and not ln.startswith("Run")]
    assert [shlex.split(c)[1] for c in commands] == ["extract", "extract", "train", "export"]
    assert "--frames 1001-1003" in commands[0]
    parser = build_parser()
    for c in commands:
        argv = shlex.split(c)[1:]
        args = parser.parse_args(argv)  # the real CLI takes every command as shown
        assert args.command == argv[0]


def test_train_entry_without_selection_explains(gui):
    natron, app = gui
    import faceplate_gui

    app.selected = []
    faceplate_gui.show_training_command()
    assert "Select the plate" in natron.dialogs[-1][2]
