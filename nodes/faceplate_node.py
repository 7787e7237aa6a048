"""The group both Faceplate nodes build, their knobs, and their callbacks (no pixel math here).

Inside the group (``Name`` = script name; ids in :mod:`faceplate_bridge`)::

    Plate (Input) -> WritePlate (32f) -> RunScript (stdlib client -> engine service)
                                              | Sync
                                   ReadLive (passes.####.exr)     ReadPrerendered (batch/farm passes)
                                              \\                      /
                                               SourceSwitch (which = knob "source")
                                                 |-> ShuffleSwap (RGBA <- swap.*; mask.Y rides along)
                                                 |-> (comp: the passes' own R,G,B,A)
                                                 |-> MaskRGB -> MaskAlpha (RGBA <- mask.Y)
                                               OutputSwitch (which = knob "output") -> Output

Every callback is wrapped so that an error becomes the node's status text, never an exception in
Natron. The knobs of the render parameters are generated from ``plugin/params.json``.
"""
from __future__ import annotations

import os

import faceplate_bridge as bridge

COLOUR_PLANE = "uk.co.thefoundry.OfxImagePlaneColour"
PAGE = "faceplate"


def _create(app, group, plugin_id: str, name: str, inputs=()):
    node = app.createNode(plugin_id, -1, group)
    if node is None:
        raise RuntimeError("Natron has no plug-in {} (needed by Faceplate's {})".format(plugin_id, name))
    node.setScriptName(name)
    for index, src in inputs:
        node.connectInput(index, src)
    return node


def _set(node, **values):
    for name, value in values.items():
        node.getParam(name).setValue(value)


def _choice(knob, option: str, index: int) -> None:
    """Set a host choice knob by its option id, else by index (ids differ between host builds)."""
    try:
        knob.setValue(option)
    except Exception:  # noqa: BLE001 - an id this build does not know
        knob.setValue(index)


def build_graph(app, group, output_choice: bool) -> dict:
    """The inner graph; ``output_choice`` adds the swap/comp/mask OutputSwitch (FaceplateSwap).

    Channel choices, files and frame ranges are *not* set here: inside ``createInstance`` a Read
    learns nothing and a Shuffle drops channel names it cannot see yet (natron-api.md section 6);
    :func:`activate` sets them once the group exists and has an input.
    """
    n = {}
    n["Plate"] = _create(app, group, bridge.ID_INPUT, "Plate")
    n["WritePlate"] = _create(app, group, bridge.ID_WRITE, "WritePlate", [(0, n["Plate"])])
    _set(n["WritePlate"], processAllPlanes=False)
    _choice(n["WritePlate"].getParam("bitDepth"), "32f", 4)
    _choice(n["WritePlate"].getParam("compression"), "none", 0)
    n["RunScript"] = _create(app, group, bridge.ID_RUNSCRIPT, "RunScript", [(0, n["Plate"])])
    _set(n["RunScript"], paramCount=1, type1=0)  # 0 = File Name: "####" becomes the frame
    n["ReadLive"] = _create(app, group, bridge.ID_READ, "ReadLive", [(0, n["RunScript"])])  # Sync input
    n["ReadPrerendered"] = _create(app, group, bridge.ID_READ, "ReadPrerendered")
    for read in (n["ReadLive"], n["ReadPrerendered"]):
        _set(read, onMissingFrame="error", outputPremult=1)
    n["SourceSwitch"] = _create(app, group, bridge.ID_SWITCH, "SourceSwitch",
                                [(0, n["ReadLive"]), (1, n["ReadPrerendered"])])
    src = n["SourceSwitch"]
    # mask: R,G,B <- mask.Y, then A <- R (setting only a one-channel outputA is ignored by Shuffle)
    n["MaskRGB"] = _create(app, group, bridge.ID_SHUFFLE, "MaskRGB", [(0, src)])
    n["MaskAlpha"] = _create(app, group, bridge.ID_SHUFFLE, "MaskAlpha", [(0, n["MaskRGB"]), (1, n["MaskRGB"])])
    n["Output"] = _create(app, group, bridge.ID_OUTPUT, "Output")
    if output_choice:
        n["ShuffleSwap"] = _create(app, group, bridge.ID_SHUFFLE, "ShuffleSwap", [(0, src)])
        # inputs in bridge.OUTPUTS order: swap, comp, mask
        n["OutputSwitch"] = _create(app, group, bridge.ID_SWITCH, "OutputSwitch",
                                    [(0, n["ShuffleSwap"]), (1, src), (2, n["MaskAlpha"])])
        n["Output"].connectInput(0, n["OutputSwitch"])
    else:
        n["Output"].connectInput(0, n["MaskAlpha"])
    return n


#: Shuffle channel choices, set by :func:`activate` once the Reads know the passes' layers.
SHUFFLES = {
    "ShuffleSwap": {"outputR": "B.swap.R", "outputG": "B.swap.G", "outputB": "B.swap.B", "outputA": "B.swap.A"},
    "MaskRGB": {"outputR": "B.mask.Y", "outputG": "B.mask.Y", "outputB": "B.mask.Y"},
    "MaskAlpha": {"outputA": "A.{}.R".format(COLOUR_PLANE)},
}


def _own_knob(group, page, knob, help_text, value=None):
    """Add one of the node's own knobs; its value is *set* (the host's setDefaultValue does not)."""
    knob.setHelp(help_text)
    if value is not None:
        knob.setDefaultValue(value)
        knob.setValue(value)
    page.addParam(knob)
    return knob


def build_knobs(group, output_choice: bool) -> None:
    """The user page: generated render-parameter knobs, then the node's own knobs, all at their defaults."""
    page = group.createPageParam(PAGE, "Faceplate")
    params = bridge.load_params()
    for p in params:
        if not output_choice and p["name"] == "comp":
            continue  # the mask node never shows the comp
        page.addParam(bridge.create_param_knob(group, p))

    def add(knob, help_text, value=None):
        return _own_knob(group, page, knob, help_text, value)

    add(group.createFileParam("alignments", "Alignments"),
        "alignments.json from 'faceplate extract' for this plate (optional; faces are detected otherwise) "
        "(--alignments)")
    if output_choice:
        out = group.createChoiceParam("output", "Output")
        out.setOptions([("swap", "the swap element (premultiplied RGBA) with the mask as plane mask.Y"),
                        ("comp", "the plate with the face replaced"),
                        ("mask", "the face matte in R, G, B and A")])
        add(out, "what the node's main output shows", 0)
    source = group.createChoiceParam("source", "Source")
    source.setOptions([("live", "render each frame through the engine service as Natron asks for it"),
                       ("prerendered", "read passes rendered by 'Render passes' or by a farm job")])
    add(source, "where the passes come from", 0)
    add(group.createIntParam("timeout", "Timeout per frame (s)"),
        "the live path gives up on a frame after this many seconds (nothing is written, the reason is logged)",
        bridge.DEFAULT_TIMEOUT)
    add(group.createFileParam("plateFile", "Plate file"),
        "the plate sequence on disk (####): the engine reads it directly, so faces are tracked and smoothed "
        "over the shot; filled from an upstream Read")
    add(group.createIntParam("firstFrame", "First frame"), "first frame of the shot (filled from the plate)", 1)
    add(group.createIntParam("lastFrame", "Last frame"), "last frame of the shot (filled from the plate)", 100)
    add(group.createFileParam("prerenderedPasses", "Pre-rendered passes"),
        "passes sequence read when Source is 'prerendered' (written by 'Render passes' or a farm job)")
    add(group.createStringParam("workFolder", "Work folder"),
        "this node's passes and log for the live path", bridge.default_work_folder())
    add(group.createButtonParam("renderPasses", "Render passes"),
        "render the frame range through the engine in the background; the node then reads the result")
    add(group.createButtonParam("refresh", "Refresh"),
        "re-read the passes and show the engine's last message")
    status = add(group.createStringParam("status", "Status"), "the engine's last message for this node", "")
    status.setEnabled(False)
    group.refreshUserParamsGUI()


def set_callbacks(group, module: str) -> None:
    """Callbacks resolved through the PyPlug module (Natron imports it; the Ext is imported into it).
    ``afterNodeCreated`` is set for the GUI; a scripted ``createNode`` never fires it (verified), so
    nothing depends on it: connecting the input or any knob edit activates the node."""
    group.getParam("onParamChanged").setValue(module + ".onParamChanged")
    group.getParam("onInputChanged").setValue(module + ".onInputChanged")
    group.getParam("afterNodeCreated").setValue(module + ".afterNodeCreated")


# ----------------------------------------------------------------------------------------------
# state from knobs


def _value(group, name, default=None):
    knob = group.getParam(name)
    return default if knob is None else knob.getValue()


def _upstream_read(group):
    """The Read (or any node with a ``filename`` knob) connected to the group's input, or None."""
    src = group.getInput(0)
    if src is None or src.getParam("filename") is None:
        return None
    return src


def plate_on_disk(group) -> str:
    """The plate sequence the engine can read itself: 'Plate file', else the upstream Read's file;
    '' when neither names a sequence with frames on disk (then the inner 32f Write provides it)."""
    read = _upstream_read(group)
    candidates = [_value(group, "plateFile", ""), read.getParam("filename").getValue() if read is not None else ""]
    for pattern in candidates:
        if pattern and bridge.frames_on_disk(pattern):
            return bridge.hashes(pattern)
    return ""


def settings(group) -> dict:
    """Everything the engine needs from the node's knobs, checked (``problems`` lists bad values)."""
    params = bridge.load_params()
    values = bridge.knob_values(group, params)
    problems = bridge.check_values(params, values)
    output = bridge.OUTPUTS[_value(group, "output", 0)] if group.getParam("output") is not None else "mask"
    if "comp" in values:
        values["comp"] = bool(values["comp"]) or output == "comp"
    work = _value(group, "workFolder")
    if not work:  # cleared by the artist (or an old project): a fresh one, kept on the node
        work = bridge.default_work_folder()
        group.getParam("workFolder").setValue(work)
    plate = plate_on_disk(group)
    space = values.get("colour_space") or "scene_linear"
    read = _upstream_read(group)
    if plate and space == "scene_linear" and read is not None and read.getParam("ocioInputSpace") is not None:
        space = read.getParam("ocioInputSpace").getValue() or space  # the file's own space, as Natron reads it
    values["colour_space"] = space
    alignments = _value(group, "alignments", "")
    extra = ["--alignments", alignments] if alignments else []
    client_args = bridge.param_args(params, values, "client") + extra
    timeout = int(_value(group, "timeout", bridge.DEFAULT_TIMEOUT))
    if timeout <= 0:
        problems.append("knob 'Timeout per frame (s)': expected more than 0 seconds, found {}".format(timeout))
    if not values.get("model"):
        problems.append("set 'Model' (an .onnx file from 'faceplate export')")
    first, last = int(_value(group, "firstFrame", 1)), int(_value(group, "lastFrame", 1))
    if last < first:
        problems.append("knobs 'First frame'/'Last frame': expected first <= last, found {}-{}".format(first, last))
        last = first
    paths = bridge.node_paths(work, bridge.passes_key(plate or bridge.node_paths(work)["plate"], client_args))
    return {
        "params": params, "values": values, "output": output, "paths": paths, "work": work,
        "client_args": client_args,
        "cli_args": bridge.param_args(params, values, "cli") + extra,
        "source": bridge.SOURCES[_value(group, "source", 0)], "timeout": max(1, timeout),
        "plate": plate, "plate_knob": _value(group, "plateFile", ""), "first": first, "last": last,
        "space": space, "problems": problems,
        "prerendered": _value(group, "prerenderedPasses", "") or paths["prerendered"],
    }


def set_status(group, text: str) -> None:
    knob = group.getParam("status")
    if knob is not None and knob.getValue() != text[:500]:
        knob.setValue(text[:500])


# ----------------------------------------------------------------------------------------------
# activation: what must happen after the group exists (a Read set inside createInstance finds nothing)


def _set_read(read, pattern: str, space: str, first: int, last: int) -> None:
    """File name, then reload (the Read learns layers and a range), then the shot's range explicitly:
    a Read keeps the range it found, and would hold its last frame for every later one."""
    fname = read.getParam("filename")
    if fname.getValue() != pattern:
        fname.setValue(pattern)
    fname.reloadFile()
    read.getParam("ocioInputSpace").setValue(space)
    read.getParam("firstFrame").setValue(first)
    read.getParam("lastFrame").setValue(last)
    _choice(read.getParam("before"), "black", 3)  # outside the shot: no face, an empty element
    _choice(read.getParam("after"), "black", 3)


def _reconnect(node, source) -> None:
    """Input 0 of ``node`` from ``source``: the host refuses to connect an input that is connected
    already, so a different source is disconnected first."""
    current = node.getInput(0)
    if current is not None and current.getScriptName() == source.getScriptName():
        return
    if current is not None:
        node.disconnectInput(0)
    if not node.connectInput(0, source):
        raise RuntimeError("Natron refused to connect {} to {}".format(source.getScriptName(), node.getScriptName()))


def activate(group) -> str:
    """Point the inner nodes at this node's files, write tiny placeholder passes, reload the Reads,
    then set ranges and channel choices. Does nothing on disk until the node has an input.

    The placeholders are frames ``last + 1`` and ``last + 2``, outside the shot's range: the Read
    learns the layers from them, and no real frame ever replaces a file the Read (and OpenImageIO's
    cache inside it) has already opened."""
    s = settings(group)
    if group.getInput(0) is None:
        return "connect a plate to the input" + ("; " + s["problems"][0] if s["problems"] else "")
    paths, space = s["paths"], s["space"]
    os.makedirs(s["work"], exist_ok=True)
    bridge.drop_other_passes(s["work"], paths["passes"])
    if not _value(group, "prerenderedPasses", ""):
        group.getParam("prerenderedPasses").setValue(paths["prerendered"])
    run = group.getNode("RunScript")
    plate = s["plate"]
    if plate:  # the engine reads the plate sequence itself: tracking and smoothing over the shot
        _reconnect(run, group.getNode("Plate"))
    else:  # not a sequence on disk: the inner 32f Write provides each frame as it is rendered
        write = group.getNode("WritePlate")
        write.getParam("filename").setValue(paths["plate"])
        write.getParam("ocioOutputSpace").setValue(space)
        _reconnect(run, write)
        plate = paths["plate"]
    run.getParam("filename1").setValue(paths["passes"])
    run.getParam("script").setValue(bridge.runscript_text(plate, paths["passes"], paths["log"],
                                                          s["client_args"], s["timeout"]))
    run.getParam("validate").setValue(True)
    comp = bool(s["values"].get("comp"))
    problems = list(s["problems"])
    for read_name, pattern in (("ReadLive", paths["passes"]), ("ReadPrerendered", s["prerendered"])):
        own = os.path.abspath(pattern).startswith(os.path.abspath(s["work"]) + os.sep)
        if own:  # placeholders only where no other process writes passes (farm chunks share folders)
            # after the shot: a real frame never replaces a placeholder the Read has already opened
            spare = (s["last"] + 1, s["last"] + 2)
            bridge.drop_placeholders(pattern, keep=spare, comp=comp)
            if len(bridge.frames_on_disk(pattern)) < 2:
                bridge.ensure_placeholders(pattern, spare, comp, plate)
        frames = bridge.frames_on_disk(pattern)
        if len(frames) < 2 and (read_name == "ReadLive" or s["source"] == "prerendered"):
            problems.append("{}: {} frame(s) of {} on disk; a Read needs two to learn the layers".format(
                read_name, len(frames), pattern))
        _set_read(group.getNode(read_name), pattern, space, s["first"], s["last"])
    group.getNode("SourceSwitch").getParam("which").setValue(bridge.SOURCES.index(s["source"]))
    for name, channels in SHUFFLES.items():  # now that the Reads know the layers
        node = group.getNode(name)
        if node is not None:
            for knob, value in channels.items():
                node.getParam(knob).setValue(value)
            _choice(node.getParam("outputPremult"), "Premultiplied", 1)
    if group.getNode("OutputSwitch") is not None:
        group.getNode("OutputSwitch").getParam("which").setValue(bridge.OUTPUTS.index(s["output"]))
    if bridge.engine_python() is None:
        return "error: engine not found; " + bridge.INSTALL_HINT
    if problems:
        return "error: " + problems[0]
    mode = "plate read from {}".format(plate) if s["plate"] else "plate written per frame (not a sequence on disk: " \
        "faces tracked over the frames rendered so far)"
    return bridge.last_message(paths["log"]) or "ready ({} path; {})".format(s["source"], mode)


_WATCHED = set()
WATCH_MS = 3000


def watch_status(group) -> None:
    """In the GUI, keep *Status* showing the engine's last message for this node (live renders log
    from RunScript, outside any callback). One Qt timer chain per node; stops when the node is gone."""
    import NatronEngine

    work = _value(group, "workFolder", "")
    if not work or work in _WATCHED or NatronEngine.natron.isBackground():
        return

    def tick():
        try:
            text = bridge.last_message(bridge.node_paths(_value(group, "workFolder", work))["log"])
            if text and group.getParam("status").getValue() != text[:500]:
                set_status(group, text)
        except Exception:  # noqa: BLE001 - the node was deleted: stop watching
            _WATCHED.discard(work)
            return
        bridge.call_later(WATCH_MS, tick)

    if bridge.call_later(WATCH_MS, tick):
        _WATCHED.add(work)


_BUSY = set()


def node_key(group) -> str:
    """A node's identity across callbacks. Not ``id()``: the host hands each callback a new Python
    wrapper of the same node (``new Effect(node)`` in Natron's PyNode.cpp); the script name is stable."""
    return group.getScriptName()


def _guarded(group, fn, *args):
    """Run ``fn(group)``; its text (or any error) becomes the Status. Knob changes that ``fn`` makes
    itself fire ``onParamChanged`` again (script edits arrive too): those are ignored while it runs."""
    key = node_key(group)
    _BUSY.add(key)
    try:
        try:
            text = fn(group, *args)
        except Exception as exc:  # noqa: BLE001 - nothing may escape into Natron
            text = "error: {}".format(exc)
        try:
            if text is not None:
                set_status(group, text)
        except Exception:  # noqa: BLE001
            pass
    finally:
        _BUSY.discard(key)


def render_passes(group) -> str:
    """The "Render passes" button: a background batch render; the node reads the result when done."""
    s = settings(group)
    if not s["plate"]:
        return "set 'Plate file' (the plate sequence on disk) before rendering passes"
    if not s["values"].get("model"):
        return "set 'Model' (an .onnx file from 'faceplate export') before rendering passes"
    os.makedirs(os.path.dirname(s["prerendered"]), exist_ok=True)
    key = s["work"]
    text = bridge.start_prerender(key, s["plate"], s["first"], s["last"], s["prerendered"], s["cli_args"],
                                  s["paths"]["log"])
    bridge.call_later(2000, lambda: _guarded(group, _poll, key))
    return text


def _poll(group, key):
    state = bridge.prerender_state(key)
    s = settings(group)
    if state == "running":
        bridge.call_later(2000, lambda: _guarded(group, _poll, key))
        return bridge.last_message(s["paths"]["log"]) or "rendering passes..."
    if state not in (None, "running"):
        bridge.forget_prerender(key)
    if state == 0:
        group.getParam("source").setValue(bridge.SOURCES.index("prerendered"))
        activate(group)
        return "passes rendered: frames {}-{} ({})".format(s["first"], s["last"], s["prerendered"])
    if state is None:
        return None
    return "passes render failed (exit {}): {}".format(state, bridge.last_message(s["paths"]["log"]))


def refresh(group) -> str:
    state = bridge.prerender_state(_value(group, "workFolder", ""))
    if state is not None and state != "running":
        return _poll(group, _value(group, "workFolder", ""))
    return activate(group)


# ----------------------------------------------------------------------------------------------
# callbacks (exact Natron signatures). Script edits (userEdited False) and artist edits take the
# same path: a farm script or pipeline tool that sets a knob gets the same node as an artist.

_OWN_KNOBS = ("status",)


def on_param_changed(thisParam, thisNode, thisGroup, app, userEdited):
    name = thisParam.getScriptName()
    if name in _OWN_KNOBS or node_key(thisNode) in _BUSY:
        return
    if name == "renderPasses":
        _guarded(thisNode, render_passes)
    elif name == "refresh":
        _guarded(thisNode, refresh)
    else:
        _guarded(thisNode, activate)
    _guarded(thisNode, lambda g: watch_status(g))


def fill_from_input(group) -> str:
    """A new input: take the plate sequence and its frame range from an upstream Read (unless the
    plate file was set by hand or by a script), then activate."""
    read = _upstream_read(group)
    plate = read.getParam("filename").getValue() if read is not None else ""
    knob = group.getParam("plateFile")
    if plate and (not knob.getValue() or knob.getValue() == group_state(group).get("auto_plate")):
        knob.setValue(plate)
        group_state(group)["auto_plate"] = plate
        frames = bridge.frames_on_disk(plate)
        if frames:
            group.getParam("firstFrame").setValue(frames[0])
            group.getParam("lastFrame").setValue(frames[-1])
    return activate(group)


_STATE = {}


def group_state(group) -> dict:
    """Per-node memory of this session (what was filled in automatically)."""
    return _STATE.setdefault(node_key(group), {})


def on_input_changed(inputIndex, thisNode, thisGroup, app):
    _guarded(thisNode, fill_from_input)


def after_node_created(thisNode, app, userEdited):
    _guarded(thisNode, activate)
    _guarded(thisNode, lambda g: watch_status(g))
