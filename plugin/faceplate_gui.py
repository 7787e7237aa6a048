"""The "Faceplate" menu of Natron's GUI (imported by initGui.py only; standard library + NatronGui).

Entries: add FaceplateSwap / FaceplateMask after the selected node, and "Train a model…", which
shows the exact commands that train a model for the selected plate.
"""
from __future__ import annotations

import faceplate_bridge as bridge

MENU = "Faceplate"
SWAP_ID = "io.faceplate.FaceplateSwap"
MASK_ID = "io.faceplate.FaceplateMask"


def _natron():
    import NatronGui

    return NatronGui.natron


_INSTALLED = []


def install_menu() -> None:
    """Add the menu once per session (initGui.py may run from the plug-in path and from ~/.Natron)."""
    if _INSTALLED:
        return
    _INSTALLED.append(True)
    natron = _natron()
    natron.addMenuCommand(MENU + "/Faceplate Swap", "faceplate_gui.create_swap")
    natron.addMenuCommand(MENU + "/Faceplate Mask", "faceplate_gui.create_mask")
    natron.addMenuCommand(MENU + "/Train a model…", "faceplate_gui.show_training_command")


def _selected_plate(app):
    """(plate pattern, first, last) from the selected Read or Faceplate node, else (None, None, None)."""
    for node in app.getSelectedNodes():
        for knob_name in ("plateFile", "filename"):
            knob = node.getParam(knob_name)
            if knob is not None and knob.getValue():
                pattern = knob.getValue()
                frames = bridge.frames_on_disk(pattern)
                return pattern, (frames[0] if frames else None), (frames[-1] if frames else None)
    return None, None, None


def _create(plugin_id: str):
    natron = _natron()
    app = natron.getActiveInstance()
    selected = list(app.getSelectedNodes())
    node = app.createNode(plugin_id)
    if node is None:
        natron.warningDialog("Faceplate", "Natron did not load {} (see the script editor for errors)".format(plugin_id))
        return
    if selected:  # the host fires onInputChanged: the node fills Plate file and activates itself
        node.connectInput(0, selected[0])


def create_swap():
    bridge.guard(_create, SWAP_ID)


def create_mask():
    bridge.guard(_create, MASK_ID)


def show_training_command():
    def show():
        natron = _natron()
        app = natron.getActiveInstance()
        plate, first, last = _selected_plate(app)
        if plate is None:
            natron.informationDialog("Faceplate: train a model",
                                     "Select the plate's Read node (or a Faceplate node) first.")
            return
        text = bridge.training_command(plate, first, last)
        print(text)
        natron.informationDialog(
            "Faceplate: train a model",
            "Run these in a terminal (the second extract is the face to put in):\n\n" + text +
            "\n\nThen set the node's Model to face.onnx and its Alignments to faceset_plate/alignments.json.")
    bridge.guard(show)
