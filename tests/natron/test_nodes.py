"""Every node file loaded against the fake NatronEngine: plug-in ids, graphs, knobs, callbacks."""
from __future__ import annotations

import ast
import inspect
import json
import os
import re
import shlex
import sys

import pytest

from natron_env import host, NODES, PLUGIN, ROOT  # noqa: F401  (host: fixture)

import NatronEngine  # the fake (tests/natron/fake_natron)

SWAP_ID, MASK_ID = "io.faceplate.FaceplateSwap", "io.faceplate.FaceplateMask"
NODE_FILES = sorted(NODES.glob("*.py"))
NATRON_SIDE = NODE_FILES + sorted(PLUGIN.glob("*.py")) + sorted((ROOT / "install" / "farm").glob("*.py"))
OWN_MODULES = {"NatronEngine", "faceplate_bridge", "faceplate_node", "faceplate_farm", "faceplate_gui",
               "FaceplateSwapExt", "FaceplateMaskExt"}
GUI_ONLY = {"faceplate_gui.py", "initGui.py"}  # run only with Natron's GUI: may use NatronGui


def _imports(path):
    tree = ast.parse(path.read_text(), str(path), feature_version=(3, 9))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module.split(".")[0]


@pytest.mark.parametrize("path", NATRON_SIDE, ids=lambda p: p.name)
def test_natron_side_imports_only_stdlib_and_natron_engine(path):
    """Python 3.9 syntax, and only the standard library plus NatronEngine (never NatronGui)."""
    mods = set(_imports(path))
    if path.name not in GUI_ONLY:
        assert "NatronGui" not in mods
        assert not any(line.lstrip().startswith(("import NatronGui", "from NatronGui"))
                       for line in path.read_text().splitlines())
    allowed = OWN_MODULES | {"__future__", "__main__"} | ({"NatronGui"} if path.name in GUI_ONLY else set())
    foreign = {m for m in mods if m not in sys.stdlib_module_names and m not in allowed}
    assert foreign == set(), f"{path.name} imports {foreign}"


def test_plugin_ids_and_pyplug_functions(host):
    natron, app = host
    ids = natron.getPluginIDs()
    assert SWAP_ID in ids and MASK_ID in ids
    import FaceplateMask
    import FaceplateSwap

    for mod, pid, label in ((FaceplateSwap, SWAP_ID, "FaceplateSwap"), (FaceplateMask, MASK_ID, "FaceplateMask")):
        assert mod.getPluginID() == pid
        assert mod.getLabel() == label
        assert mod.getGrouping() == "Faceplate"
        assert isinstance(mod.getVersion(), int)
        assert len(mod.getPluginDescription()) > 40
        icon = NODES / mod.getIconPath()
        assert icon.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert inspect.getfullargspec(mod.createInstance).args == ["app", "group"]


def _graph(group):
    return {c.getScriptName(): (c.getPluginID(), {i: n.getScriptName() for i, n in c.inputs().items()})
            for c in group.getChildren()}


COMMON = {
    "Plate": ("fr.inria.built-in.Input", {}),
    "WritePlate": ("fr.inria.openfx.WriteOIIO", {0: "Plate"}),
    "RunScript": ("fr.inria.openfx.RunScript", {0: "Plate"}),
    "ReadLive": ("fr.inria.built-in.Read", {0: "RunScript"}),
    "ReadPrerendered": ("fr.inria.built-in.Read", {}),
    "SourceSwitch": ("net.sf.openfx.switchPlugin", {0: "ReadLive", 1: "ReadPrerendered"}),
    "MaskRGB": ("net.sf.openfx.ShufflePlugin", {0: "SourceSwitch"}),
    "MaskAlpha": ("net.sf.openfx.ShufflePlugin", {0: "MaskRGB", 1: "MaskRGB"}),
}


def test_swap_graph(host):
    natron, app = host
    group = app.createNode(SWAP_ID)
    assert group is not None and group.getPluginID() == SWAP_ID
    expected = dict(COMMON)
    expected.update({
        "ShuffleSwap": ("net.sf.openfx.ShufflePlugin", {0: "SourceSwitch"}),
        "OutputSwitch": ("net.sf.openfx.switchPlugin", {0: "ShuffleSwap", 1: "SourceSwitch", 2: "MaskAlpha"}),
        "Output": ("fr.inria.built-in.Output", {0: "OutputSwitch"}),
    })
    assert _graph(group) == expected
    g = group.getNode
    write = g("WritePlate")
    assert write.getParam("bitDepth").getOption(write.getParam("bitDepth").getValue()) == "32f"
    assert write.getParam("processAllPlanes").getValue() is False
    run = g("RunScript")
    assert run.getParam("paramCount").getValue() == 1
    assert run.getParam("type1").getValue() == 0
    for read in (g("ReadLive"), g("ReadPrerendered")):
        assert read.getParam("onMissingFrame").getOption(read.getParam("onMissingFrame").getValue()) == "error"
    for cb in ("onParamChanged", "onInputChanged", "afterNodeCreated"):
        assert group.getParam(cb).getValue() == "FaceplateSwap." + cb
    assert group.getParam("output").getOptions() == ["swap", "comp", "mask"]
    assert group.getParam("status").getIsEnabled() is False
    assert group.gui_refreshed >= 1


def test_mask_graph(host):
    natron, app = host
    group = app.createNode(MASK_ID)
    expected = dict(COMMON)
    expected["Output"] = ("fr.inria.built-in.Output", {0: "MaskAlpha"})
    assert _graph(group) == expected
    assert group.getParam("output") is None
    assert group.getParam("comp") is None
    for cb in ("onParamChanged", "onInputChanged", "afterNodeCreated"):
        assert group.getParam(cb).getValue() == "FaceplateMask." + cb


@pytest.mark.parametrize("pid", [SWAP_ID, MASK_ID])
def test_knobs_equal_engine_declarations(host, pid):
    """One knob per render parameter, same name, kind, default, range and choices as the CLI flag."""
    from faceplate.render.settings import RENDER_PARAMS

    natron, app = host
    group = app.createNode(pid)
    kinds = {"float": NatronEngine.DoubleParam, "int": NatronEngine.IntParam, "bool": NatronEngine.BooleanParam,
             "choice": NatronEngine.ChoiceParam, "string": NatronEngine.StringParam, "file": NatronEngine.FileParam}
    page = group.getParam("faceplate")
    on_page = [p.getScriptName() for p in page.children]
    for p in RENDER_PARAMS:
        knob = group.getParam(p.name)
        if pid == MASK_ID and p.name == "comp":
            assert knob is None
            continue
        assert type(knob) is kinds[p.kind], p.name
        assert knob.getLabel() == p.label
        assert p.flag in knob.getHelp()
        assert p.name in on_page
        if p.kind == "choice":
            assert knob.getOptions() == list(p.choices)
            assert knob.getOptions()[knob.getValue()] == p.default
        else:
            assert knob.getValue() == p.default
        if p.kind in ("float", "int"):
            assert (knob.minimum, knob.maximum) == (p.minimum, p.maximum)
    # the node's own knobs come after the generated ones, on the same page
    assert on_page[-4:] == ["workFolder", "renderPasses", "refresh", "status"]


def test_committed_params_json_is_up_to_date():
    from faceplate.render.settings import params_json

    assert json.loads((PLUGIN / "params.json").read_text()) == json.loads(params_json()), (
        "plugin/params.json is stale: run install/install.sh (or faceplate params --json > plugin/params.json)")


@pytest.mark.parametrize("module", ["FaceplateSwapExt", "FaceplateMaskExt"])
def test_ext_callback_signatures(module):
    mod = __import__(module)
    sig = NatronEngine.CALLBACK_SIGNATURES
    assert inspect.getfullargspec(mod.createInstanceExt).args == ["app", "group"]
    for name in ("onParamChanged", "onInputChanged", "afterNodeCreated"):
        assert inspect.getfullargspec(getattr(mod, name)).args == sig[name]


def tiny_plate(folder, frames, size=(16, 12)):
    """A real float EXR plate sequence (display window = data window = size)."""
    import numpy as np
    import OpenImageIO as oiio

    folder.mkdir(parents=True, exist_ok=True)
    for f in frames:
        px = np.full((size[1], size[0], 4), 0.1 * (f % 7), np.float32)
        buf = oiio.ImageBuf(oiio.ImageSpec(size[0], size[1], 4, oiio.FLOAT))
        buf.set_pixels(oiio.ROI(), px)
        assert buf.write(str(folder / ("plate.%04d.exr" % f)))
    return str(folder / "plate.####.exr")


def test_a_read_set_inside_create_instance_learns_nothing_and_nothing_touches_disk(host, tmp_path):
    natron, app = host
    group = app.createNode(SWAP_ID)
    assert group.getNode("ReadLive").layers is None
    group.getParam("model").setValue(str(tmp_path / "face.onnx"))  # a script edit, before any input
    assert not os.path.exists(tmp_path / "cache")  # nothing written until the node has a plate
    assert "connect a plate" in group.getParam("status").getValue()


def test_activation_sets_files_ranges_and_channels_after_the_group_exists(host, tmp_path):
    """Script edits (userEdited False) activate the node; the Reads learn the layers from tiny
    placeholders; the shot's range and the Shuffle channels are set after that."""
    import faceplate_bridge as bridge

    natron, app = host
    plate = tiny_plate(tmp_path / "shot", range(1001, 1006))
    model = tmp_path / "face.onnx"
    model.write_bytes(b"x")
    read = app.createReader(plate)
    group = app.createNode(SWAP_ID)
    group.getParam("model").setValue(str(model))  # script edit
    group.connectInput(0, read)
    work = group.getParam("workFolder").getValue()
    assert work.startswith(str(tmp_path / "cache"))
    assert group.getParam("plateFile").getValue() == plate
    assert (group.getParam("firstFrame").getValue(), group.getParam("lastFrame").getValue()) == (1001, 1005)
    live = group.getNode("ReadLive")
    passes = group.getNode("RunScript").getParam("filename1").getValue()
    assert re.fullmatch(re.escape(work) + r"/passes-[0-9a-f]{8}\.####\.exr", passes)
    assert live.getParam("filename").getValue() == passes
    assert set(live.layers) == {"mask", "swap"}
    for name in ("ReadLive", "ReadPrerendered"):  # the shot's range, set explicitly after the reload
        r = group.getNode(name)
        assert (r.getParam("firstFrame").getValue(), r.getParam("lastFrame").getValue()) == (1001, 1005)
    g = group.getNode
    assert [g("ShuffleSwap").getParam(k).getValue() for k in ("outputR", "outputG", "outputB", "outputA")] == \
        ["B.swap.R", "B.swap.G", "B.swap.B", "B.swap.A"]
    assert [g("MaskRGB").getParam(k).getValue() for k in ("outputR", "outputG", "outputB")] == ["B.mask.Y"] * 3
    assert g("MaskAlpha").getParam("outputA").getValue() == "A.uk.co.thefoundry.OfxImagePlaneColour.R"
    run = group.getNode("RunScript")
    assert run.inputs()[0] is group.getNode("Plate")  # the engine reads the plate sequence itself
    assert run.getParam("validate").getValue() is True
    assert run.getParam("filename1").getValue() == passes
    script = run.getParam("script").getValue()
    assert "--plate " + shlex.quote(plate) in script and "--model " + str(model) in script
    for flag in ("--timeout 300", "--colour-match reinhard", "--erode 2.0", "--feather 4.0", "--mask-floor 0.05",
                 "--smoothing 2.0", "--colour-space scene_linear"):
        assert flag in script, flag  # every knob at its declared default, never 0
    status = group.getParam("status").getValue()
    assert status and not status.startswith("error"), status
    # tiny placeholders after the shot: the plate's display window, a one-pixel data window, the
    # exact channels; never a shot frame (a real frame never replaces a file the Read has opened)
    assert bridge.frames_on_disk(passes) == [1006, 1007]
    for f in (1006, 1007):
        path = bridge.frame_path(passes, f)
        assert os.path.getsize(path) < 1024
        assert bridge.exr_windows(path) == ((0, 0, 0, 0), (0, 0, 15, 11))
        assert bridge.exr_channels(path) == sorted(bridge.PASS_CHANNELS)
    group.getParam("output").setValue(1)  # comp: placeholders gain the comp channels
    comp_passes = group.getNode("RunScript").getParam("filename1").getValue()
    assert comp_passes != passes  # other settings, other file names (ReadOIIO caches by name)
    assert bridge.frames_on_disk(passes) == []  # the earlier settings' passes are gone
    assert bridge.exr_channels(bridge.frame_path(comp_passes, 1006)) == sorted(bridge.PASS_CHANNELS + bridge.COMP_CHANNELS)


def test_shuffle_channels_set_before_the_reads_know_the_layers_are_dropped(host):
    """What broke the first nodes: the host drops a channel choice it cannot see yet."""
    natron, app = host
    group = app.createNode(SWAP_ID)
    shuffle = group.getNode("ShuffleSwap")
    shuffle.getParam("outputR").setValue("B.swap.R")
    assert shuffle.getParam("outputR").getValue() == "B.r"


def test_placeholders_are_readable_exrs_with_the_pass_layers(host, tmp_path):
    import OpenImageIO as oiio

    import faceplate_bridge as bridge

    path = str(tmp_path / "p.0001.exr")
    bridge.write_placeholder(path, bridge.PASS_CHANNELS + bridge.COMP_CHANNELS, (10, 20, 13, 22), (0, 0, 63, 47))
    inp = oiio.ImageInput.open(path)
    spec = inp.spec()
    assert sorted(spec.channelnames) == sorted(bridge.PASS_CHANNELS + bridge.COMP_CHANNELS)
    assert (spec.x, spec.y, spec.width, spec.height) == (10, 20, 4, 3)
    assert (spec.full_width, spec.full_height) == (64, 48)
    inp.close()
    from faceplate.plates import read_image

    img = read_image(path)  # the engine's reader takes it too
    assert img.pixels.shape == (3, 4, 9) and not img.pixels.any()
    assert img.data_window == (10, 20, 4, 3)
    assert bridge.exr_windows(path) == ((10, 20, 13, 22), (0, 0, 63, 47))


def test_output_and_source_knobs_drive_the_switches(host, tmp_path):
    natron, app = host
    group = app.createNode(SWAP_ID)
    group.connectInput(0, app.createReader(tiny_plate(tmp_path / "shot", (1, 2))))
    group.user_edit("output", 2)
    assert group.getNode("OutputSwitch").getParam("which").getValue() == 2
    group.getParam("source").setValue(1)  # a script edit does the same
    assert group.getNode("SourceSwitch").getParam("which").getValue() == 1
    group.user_edit("output", 1)  # comp forces the comp layer on in the engine's flags
    assert "--comp true" in group.getNode("RunScript").getParam("script").getValue()


def test_errors_become_status_never_exceptions(host, tmp_path):
    natron, app = host
    group = app.createNode(SWAP_ID)
    group.connectInput(0, app.createReader(tiny_plate(tmp_path / "shot", (1, 2))))
    assert "set 'Model'" in group.getParam("status").getValue()
    model = tmp_path / "face.onnx"
    model.write_bytes(b"x")
    group.getParam("model").setValue(str(model))
    group.getParam("erode").setValue(500.0)  # outside the declared range
    status = group.getParam("status").getValue()
    assert status.startswith("error:") and "'Erode' (--erode)" in status and "500" in status
    group.getParam("erode").setValue(2.0)
    group.getParam("timeout").setValue(0)
    assert "Timeout" in group.getParam("status").getValue()
    group.getParam("timeout").setValue(30)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    group.getParam("workFolder").setValue(str(blocker / "sub"))  # cannot create a folder inside a file
    assert group.getParam("status").getValue().startswith("error:")
    lonely = app.createNode(SWAP_ID)  # no input and no plate file
    lonely.user_edit("renderPasses")
    assert "Plate file" in lonely.getParam("status").getValue()


def test_engine_missing_shows_in_status(host, tmp_path, monkeypatch):
    import faceplate_bridge as bridge

    natron, app = host
    monkeypatch.setattr(bridge, "engine_python", lambda: None)
    group = app.createNode(MASK_ID)
    model = tmp_path / "face.onnx"
    model.write_bytes(b"x")
    group.getParam("model").setValue(str(model))
    group.connectInput(0, app.createReader(tiny_plate(tmp_path / "shot", (1, 2))))
    assert group.getParam("status").getValue().startswith("error: engine not found")


def test_input_from_a_read_fills_the_plate_file(host, tmp_path):
    natron, app = host
    for f in (7, 8, 9):
        (tmp_path / ("plate.%04d.exr" % f)).write_bytes(b"")
    read = app.createReader(str(tmp_path / "plate.####.exr"))
    group = app.createNode(SWAP_ID)
    group.connectInput(0, read)
    assert group.getParam("plateFile").getValue() == str(tmp_path / "plate.####.exr")
    assert (group.getParam("firstFrame").getValue(), group.getParam("lastFrame").getValue()) == (7, 9)


def test_init_restores_getargspec_and_never_raises(monkeypatch, tmp_path):
    import NatronEngine as ne

    monkeypatch.delattr(inspect, "getargspec", raising=False)
    natron = ne.PyCoreApplication()
    monkeypatch.setattr(ne, "natron", natron)
    source = (PLUGIN / "init.py").read_text()
    exec(compile(source, "init.py", "exec"), {"__name__": "init"})  # no __file__: found via sys.path
    assert inspect.getargspec is inspect.getfullargspec
    assert str(NODES) in sys.path and str(PLUGIN) in sys.path
    assert natron.getNatronPath() == natron.search_folders()  # appendToNatronPath only helps next start

    class Broken:
        def appendToNatronPath(self, path):
            raise RuntimeError("host refused")

    monkeypatch.setattr(ne, "natron", Broken())
    exec(compile(source, "init.py", "exec"), {"__name__": "init", "__file__": str(PLUGIN / "init.py")})


def test_gui_pyplug_would_be_skipped_by_the_renderer(host, tmp_path, monkeypatch):
    """The fake models the verified rule our node files are tested against."""
    import NatronEngine as ne

    natron, app = host
    (tmp_path / "GuiPlug.py").write_text("import NatronGui\ndef createInstance(app, group):\n    pass\n"
                                        "def getPluginID():\n    return 'x.GuiPlug'\n")
    monkeypatch.setenv("NATRON_PLUGIN_PATH", os.environ["NATRON_PLUGIN_PATH"] + ":" + str(tmp_path))
    natron = ne.PyCoreApplication().start()
    app = ne.App(natron)
    assert "x.GuiPlug" not in natron.getPluginIDs()
    assert app.createNode("x.GuiPlug") is None


def test_append_to_natron_path_counts_from_the_next_start_and_semicolons_do_not_split(host, tmp_path,
                                                                                      monkeypatch):
    import NatronEngine as ne

    natron, app = host
    extra = tmp_path / "plugs"
    extra.mkdir()
    (extra / "Later.py").write_text("def createInstance(app, group):\n    pass\n"
                                    "def getPluginID():\n    return 'x.Later'\n")
    natron.appendToNatronPath(str(extra))
    assert "x.Later" not in natron.getPluginIDs()  # this run: not scanned
    assert "x.Later" in ne.PyCoreApplication().start().getPluginIDs()  # the next start: scanned
    monkeypatch.setenv("NATRON_PLUGIN_PATH", "{};{}".format(PLUGIN, NODES))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "fresh-config"))
    assert SWAP_ID not in ne.PyCoreApplication().start().getPluginIDs()


def test_no_placeholders_in_a_shared_passes_folder(host, tmp_path):
    """Farm chunks share the passes folder: a node never writes placeholders outside its work folder."""
    import faceplate_bridge as bridge

    natron, app = host
    shared = tmp_path / "shared"
    shared.mkdir()
    bridge.write_placeholder(str(shared / "passes.1001.exr"))  # one frame, e.g. a one-frame chunk
    group = app.createNode(SWAP_ID)
    group.getParam("prerenderedPasses").setValue(str(shared / "passes.####.exr"))
    group.getParam("source").setValue(1)
    group.connectInput(0, app.createReader(tiny_plate(tmp_path / "shot", (1001, 1002))))
    assert sorted(os.listdir(shared)) == ["passes.1001.exr"]
    status = group.getParam("status").getValue()
    assert status.startswith("error:")
    model = tmp_path / "face.onnx"
    model.write_bytes(b"x")
    group.getParam("model").setValue(str(model))
    status = group.getParam("status").getValue()
    assert status.startswith("error:") and "needs two" in status and str(shared) in status


def test_patterns_with_printf_tokens(tmp_path):
    import faceplate_bridge as bridge

    for f in (9, 10, 11):
        (tmp_path / ("p.%04d.exr" % f)).write_bytes(b"")
    (tmp_path / "p.12.exr").write_bytes(b"")  # not padded like the others: still a frame
    assert bridge.hashes(str(tmp_path / "p.%04d.exr")) == str(tmp_path / "p.####.exr")
    assert bridge.frames_on_disk(str(tmp_path / "p.%04d.exr")) == [9, 10, 11, 12]
    assert bridge.frame_path(str(tmp_path / "p.####.exr"), 7) == str(tmp_path / "p.0007.exr")
    assert bridge.frame_path(str(tmp_path / "p.%04d.exr"), 7) == str(tmp_path / "p.0007.exr")


def test_engine_environment_drops_natron_python_and_keeps_ocio():
    import faceplate_bridge as bridge

    env = bridge.engine_env({"PYTHONPATH": "/natron/lib", "PYTHONHOME": "/natron", "PYTHONNOUSERSITE": "1",
                             "OCIO": "/show/config.ocio", "PATH": "/usr/bin"})
    assert env == {"OCIO": "/show/config.ocio", "PATH": "/usr/bin"}


def test_param_args_match_both_command_lines():
    """The batch CLI parses the 'cli' flags; the client's parser takes the 'client' ones."""
    import faceplate_bridge as bridge
    from faceplate.cli.main import build_parser
    from faceplate.client import parse_args
    from faceplate.render.settings import RENDER_PARAMS

    params = bridge.load_params()
    values = {p["name"]: p["default"] for p in params}
    values.update({"model": "/m.onnx", "comp": True, "erode": 3.5, "colour_match": "histogram"})
    cli = build_parser().parse_args(["render", "p.####.exr", "--out", "o.####.exr"] + bridge.param_args(params, values))
    client = parse_args(["render", "--plate", "p.####.exr", "--frame", "1", "--out", "o.####.exr"]
                        + bridge.param_args(params, values, "client"))
    for p in RENDER_PARAMS:
        if p.name == "model":
            assert cli.model == client["model"] == "/m.onnx"
            continue
        assert p.check(getattr(cli, p.name)) == values[p.name], p.name
        assert p.check(client["settings"][p.name]) == values[p.name], p.name


def test_status_follows_the_engine_log_in_the_gui(host, tmp_path, monkeypatch):
    import faceplate_bridge as bridge
    import faceplate_node

    natron, app = host
    timers = []
    monkeypatch.setattr(bridge, "call_later", lambda ms, fn: timers.append(fn) or True)
    group = app.createNode(SWAP_ID)
    group.user_edit("erode", 1.0)
    assert timers == []  # no GUI (NatronRenderer): nothing to watch
    natron.background = False
    monkeypatch.setattr(faceplate_node, "_WATCHED", set())
    group = app.createNode(SWAP_ID)
    group.user_edit("erode", 1.0)
    group.user_edit("feather", 2.0)
    assert len(timers) == 1  # one watcher per node
    log = os.path.join(group.getParam("workFolder").getValue(), "faceplate.log")
    os.makedirs(os.path.dirname(log), exist_ok=True)
    with open(log, "a") as f:
        f.write("2026-01-01T00:00:00Z faceplate client: error: frame 7: model x.onnx: file not found\n")
    timers.pop()()
    assert group.getParam("status").getValue().endswith("frame 7: model x.onnx: file not found")
    assert len(timers) == 1  # re-armed


def test_runscript_text_survives_awkward_paths(host, tmp_path, monkeypatch):
    """Spaces, quotes and $ in paths and values reach the launcher as single arguments."""
    import subprocess

    import faceplate_bridge as bridge

    natron, app = host
    launcher = tmp_path / "launcher"
    launcher.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n'
                        'printf "PYTHONPATH=%s\\n" "${PYTHONPATH-unset}"\n')
    launcher.chmod(0o755)
    monkeypatch.setattr(bridge, "LAUNCHER", str(launcher))
    group = app.createNode(SWAP_ID)
    work = tmp_path / "it's a $HOME work"
    group.getParam("workFolder").setValue(str(work))
    plate = tiny_plate(tmp_path / "a 'shot' $X", (41, 42))
    group.connectInput(0, app.createReader(plate))
    group.user_edit("face", "largest")
    group.user_edit("model", str(tmp_path / 'my "model".onnx'))
    run = group.getNode("RunScript")
    script = tmp_path / "runscript"
    script.write_text(run.getParam("script").getValue())
    script.chmod(0o700)
    out = run.getParam("filename1").getValue().replace("####", "0042")
    env = dict(os.environ, PYTHONPATH="/natron/lib")
    lines = subprocess.run([str(script), out], capture_output=True, text=True, env=env,
                           timeout=30).stdout.splitlines()
    assert lines[:7] == ["render", "--plate", plate, "--frame", "0042", "--out", run.getParam("filename1").getValue()]
    assert run.getParam("filename1").getValue().startswith(str(work / "passes-"))
    assert lines[lines.index("--model") + 1] == str(tmp_path / 'my "model".onnx')
    assert lines[lines.index("--log") + 1] == str(work / "faceplate.log")
    assert lines[lines.index("--face") + 1] == "largest"
    assert lines[-1] == "PYTHONPATH=unset"


def test_a_plate_that_is_not_on_disk_goes_through_the_inner_write_and_back(host, tmp_path):
    """Input not a sequence on disk: RunScript reads the inner 32f Write's frames; a Read of a
    sequence later: RunScript is reconnected to the plate (the host refuses to connect a connected input)."""
    natron, app = host
    other = app.createNode("net.sf.openfx.switchPlugin")  # any node without a file
    group = app.createNode(SWAP_ID)
    group.connectInput(0, other)
    run = group.getNode("RunScript")
    assert run.getInput(0).getScriptName() == "WritePlate"
    work = group.getParam("workFolder").getValue()
    assert group.getNode("WritePlate").getParam("filename").getValue() == os.path.join(work, "plate.####.exr")
    assert "--plate " + shlex.quote(os.path.join(work, "plate.####.exr")) in run.getParam("script").getValue()
    group.disconnectInput(0)
    group.connectInput(0, app.createReader(tiny_plate(tmp_path / "shot", (5, 6, 7))))
    assert run.getInput(0).getScriptName() == "Plate"
    assert "--plate " + shlex.quote(str(tmp_path / "shot" / "plate.####.exr")) in run.getParam("script").getValue()


def test_a_knob_set_by_a_script_after_connecting_reaches_the_engine(host, tmp_path):
    """Script edits arrive with userEdited = False: they must do what an artist's edit does."""
    natron, app = host
    group = app.createNode(SWAP_ID)
    group.connectInput(0, app.createReader(tiny_plate(tmp_path / "shot", (1, 2, 3))))
    model = tmp_path / "face.onnx"
    model.write_bytes(b"x")
    group.getParam("model").setValue(str(model))
    group.getParam("feather").setValue(7.5)
    group.getParam("colour_match").setValue(0)  # choice by index, as a script may set it
    script = group.getNode("RunScript").getParam("script").getValue()
    assert "--model " + str(model) in script and "--feather 7.5" in script and "--colour-match none" in script
    assert not group.getParam("status").getValue().startswith("error")
