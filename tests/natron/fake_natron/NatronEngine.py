"""A fake of the documented NatronEngine API that behaves like the real NatronRenderer 2.5.

Only calls named in shared natron-api.md (and, where that file names a family such as
``createDoubleParam``, ``setOptions`` or callbacks, the matching entries of Natron's own
PythonReference/NatronEngine/*.rst), with their exact signatures. Anything else raises
AttributeError, so a node that relies on an undocumented call fails here first.

It is deliberately as unkind as the real host (natron-api.md section 6, each verified there):

- ``Param.setDefaultValue(v)`` sets the default only: a knob made with ``create…Param`` starts at
  0 / '' / False / the first option.
- ``onParamChanged`` fires for script edits too, with ``userEdited = False``; only
  :meth:`Effect.user_edit` (a test helper standing for the artist) passes True.
- ``afterNodeCreated`` set on a group in ``createInstance`` does not fire for a scripted
  ``app.createNode``; connecting an input fires ``onInputChanged``.
- A Read learns its sequence (frame range, layers) only when its ``filename`` is set or reloaded,
  only when two or more files of the sequence exist then, and never inside ``createInstance``; it
  sets its own ``firstFrame``/``lastFrame`` to what it found, and keeps that range until the knobs
  are set again. Its colour plane is the file's first layer unless ``outputLayer`` names another.
- Shuffle channel choices such as ``"B.swap.R"`` exist only once an upstream Read knows a layer of
  that name; set earlier, the value is dropped silently.
- Callbacks (``"module.function"``) are looked up in the ``__main__`` namespace of the host
  (:attr:`App.main`): PyPlug modules are imported there, scripts run there; a callback that cannot
  be found there is reported ("Failed to get signature") and never runs; a ``beforeFrameRender``
  that cannot be found hangs the render in the real host (here: :class:`RenderHang`).
- Each callback gets new Python wrappers of its nodes (``id()`` is not a node's identity).
- ``connectInput`` on an input that is already connected returns False and changes nothing
  (Engine/NodeInputs.cpp, ``eCanConnectInput_inputAlreadyConnected``): disconnect first.
- RunScript runs its script for each frame after rendering its input, ignores its exit code and
  stderr (a failed run leaves the Read to find the file or not).
- ``NATRON_PLUGIN_PATH`` is split on ``:`` (Linux; ``;`` did not work); ``appendToNatronPath`` is
  saved in ``~/.config/INRIA/Natron.conf`` and scanned from the next start only; ``~/.Natron`` is
  scanned at every start; ``init.py`` of every search folder runs at start.
- PyPlugs with a line starting ``import NatronGui``/``from NatronGui`` are skipped silently in
  background mode; ``createNode`` of an unknown id returns None.

Pixels are real: :meth:`App.render` evaluates the graph frame by frame with OpenImageIO (Read files,
Shuffle channel choices, Switch, Merge over, RunScript scripts, Write 32f or half), so a test sees
exactly which plane a node's output carries.
"""
from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
import tempfile

CALLBACK_SIGNATURES = {
    "onParamChanged": ["thisParam", "thisNode", "thisGroup", "app", "userEdited"],
    "onInputChanged": ["inputIndex", "thisNode", "thisGroup", "app"],
    "afterNodeCreated": ["thisNode", "app", "userEdited"],
    "beforeRender": ["frame", "thisNode", "app"],
    "beforeFrameRender": ["frame", "thisNode", "app"],
    "afterFrameRender": ["frame", "thisNode", "app"],
    "afterRender": ["aborted", "thisNode", "app"],
}
NODE_CALLBACKS = ("onParamChanged", "onInputChanged", "afterNodeCreated")
WRITE_CALLBACKS = ("beforeRender", "beforeFrameRender", "afterFrameRender", "afterRender")
COLOUR_PLANE = "uk.co.thefoundry.OfxImagePlaneColour"

OCIO = {"ocioInputSpace": ("string", "scene_linear"), "ocioOutputSpace": ("string", "scene_linear")}
EXR_COMPRESSIONS = ("none", "rle", "zips", "zip", "piz", "pxr24", "b44", "b44a", "dwaa", "dwab")
RUNSCRIPT_KNOBS = {"paramCount": ("int", 0), "script": ("string", ""), "validate": ("bool", False)}
for _i in range(1, 11):
    RUNSCRIPT_KNOBS.update({
        "type%d" % _i: ("choice", ("filename", "string", "double", "integer")),
        "filename%d" % _i: ("string", ""), "string%d" % _i: ("string", ""),
        "double%d" % _i: ("float", 0.0), "integer%d" % _i: ("int", 0)})
SHUFFLE_OUT = ("outputR", "outputG", "outputB", "outputA")
EDGE = ("hold", "loop", "bounce", "black", "error")

#: plug-in id -> (max inputs, {knob: (kind, default or choices)})
PLUGINS = {
    "fr.inria.built-in.Input": (0, {}),
    "fr.inria.built-in.Output": (1, {}),
    "fr.inria.openfx.ReadOIIO": (1, dict({
        "filename": ("file", ""), "firstFrame": ("int", 0), "lastFrame": ("int", 0),
        "before": ("choice", EDGE), "after": ("choice", EDGE),
        "onMissingFrame": ("choice", ("previous", "next", "nearest", "error", "black")),
        "outputLayer": ("string", ""), "outputPremult": ("choice", ("opaque", "premult", "unpremult"))}, **OCIO)),
    "fr.inria.openfx.WriteOIIO": (1, dict({
        "filename": ("file", ""), "frameRange": ("choice", ("union", "project", "manual")),
        "firstFrame": ("int", 1), "lastFrame": ("int", 1),
        "bitDepth": ("choice", ("auto", "8u", "16u", "16f", "32f")),
        "compression": ("choice", EXR_COMPRESSIONS), "outputChannels": ("string", "RGBA"),
        "processAllPlanes": ("bool", False), "partSplitting": ("choice", ("single", "parts", "views", "views_layers")),
        **{cb: ("string", "") for cb in WRITE_CALLBACKS}}, **OCIO)),
    "fr.inria.openfx.RunScript": (10, RUNSCRIPT_KNOBS),
    "net.sf.openfx.ShufflePlugin": (2, dict({k: ("shuffle", "B." + k[-1].lower()) for k in SHUFFLE_OUT},
                                            outputPremult=("choice", ("Opaque", "Premultiplied", "UnPremultiplied")))),
    "net.sf.openfx.switchPlugin": (16, {"which": ("int", 0)}),
    "net.sf.openfx.MergePlugin": (3, {}),
}
READ_META_ID = "fr.inria.built-in.Read"


class RenderError(RuntimeError):
    """A frame Natron could not render (it logs "Cannot load frame" and fails that frame)."""


class RenderHang(RuntimeError):
    """What the real host does instead of raising: the render never returns."""


# ----------------------------------------------------------------------------------------------
# parameters


class Param(object):
    def __init__(self, holder, name, label=""):
        self._holder, self._name, self._label = holder, name, label
        self.help, self.enabled = "", True

    def getScriptName(self):
        return self._name

    def getLabel(self):
        return self._label

    def setHelp(self, help):  # noqa: A002 - documented name
        self.help = help

    def getHelp(self):
        return self.help

    def setEnabled(self, enabled, dimension=0):
        self.enabled = bool(enabled)

    def getIsEnabled(self, dimension=0):
        return self.enabled


class _ValueParam(Param):
    _zero = None

    def __init__(self, holder, name, label="", initial=None):
        Param.__init__(self, holder, name, label)
        value = self._zero if initial is None else initial
        self._value = self._default = self._coerce(value)

    def _coerce(self, value):
        return value

    def getValue(self):
        return self._value

    def get(self):
        return self._value

    def setValue(self, value):
        self._value = self._coerce(value)
        self._holder._param_changed(self)

    def set(self, value):
        self.setValue(value)

    def setDefaultValue(self, value):
        """Verified: sets the default (for reset and saving) and NOT the current value."""
        self._default = self._coerce(value)

    def getDefaultValue(self):
        return self._default

    def restoreDefaultValue(self):
        self.setValue(self._default)


class IntParam(_ValueParam):
    _zero = 0

    def __init__(self, holder, name, label="", initial=None):
        _ValueParam.__init__(self, holder, name, label, initial)
        self.minimum = self.maximum = None

    def _coerce(self, value):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("{}: IntParam.setValue takes an int, not {!r}".format(self._name, value))
        return value

    def setDefaultValue(self, value, dimension=0):
        _ValueParam.setDefaultValue(self, value)

    def setMinimum(self, minimum, dimension=0):
        self.minimum = minimum

    def setMaximum(self, maximum, dimension=0):
        self.maximum = maximum


class DoubleParam(IntParam):
    _zero = 0.0

    def _coerce(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError("{}: DoubleParam.setValue takes a float, not {!r}".format(self._name, value))
        return float(value)


class BooleanParam(_ValueParam):
    _zero = False

    def _coerce(self, value):
        if not isinstance(value, bool):
            raise TypeError("{}: BooleanParam.setValue takes a bool, not {!r}".format(self._name, value))
        return value


class StringParam(_ValueParam):
    _zero = ""

    def _coerce(self, value):
        if not isinstance(value, str):
            raise TypeError("{}: StringParam.setValue takes a str, not {!r}".format(self._name, value))
        return value


class FileParam(StringParam):
    def reloadFile(self):
        self._holder._file_reloaded(self)

    def openFile(self):
        pass


class OutputFileParam(FileParam):
    pass


class PathParam(StringParam):
    pass


class ChoiceParam(_ValueParam):
    _zero = 0

    def __init__(self, holder, name, label="", options=()):
        self._options = [(o, "") for o in options]
        _ValueParam.__init__(self, holder, name, label, 0)

    def setOptions(self, options):
        if not all(isinstance(o, tuple) and len(o) == 2 for o in options):
            raise TypeError("{}: setOptions takes a list of (option, help) tuples".format(self._name))
        self._options = list(options)

    def getNumOptions(self):
        return len(self._options)

    def getOption(self, index):
        return self._options[index][0]

    def getOptions(self):
        return [o for o, _ in self._options]

    def _coerce(self, value):
        names = [o for o, _ in self._options]
        if isinstance(value, str):
            if value not in names:
                raise ValueError("{}: no option {!r} (options: {})".format(self._name, value, names))
            return names.index(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < max(1, len(names)):
            raise ValueError("{}: bad option index {!r}".format(self._name, value))
        return value

    def setDefaultValue(self, value):
        _ValueParam.setDefaultValue(self, value)


class ShuffleChoiceParam(StringParam):
    """A Shuffle output choice: ``"B.<plane>.<channel>"``; the options are the planes the inputs have
    *now*. Verified: a value naming a plane no upstream Read has learned is dropped silently."""

    def setValue(self, value):
        if not isinstance(value, str):
            raise TypeError("{}: takes an option id string".format(self._name))
        if self._holder._shuffle_option_exists(value):
            self._value = value
        self._holder._param_changed(self)


class ButtonParam(Param):
    def trigger(self):
        self._holder._param_changed(self)


class PageParam(Param):
    def __init__(self, holder, name, label=""):
        Param.__init__(self, holder, name, label)
        self.children = []

    def addParam(self, param):
        if param in self.children:
            raise ValueError("{} already on page {}".format(param.getScriptName(), self._name))
        self.children.append(param)


_KIND_CLASSES = {"int": IntParam, "float": DoubleParam, "bool": BooleanParam, "string": StringParam,
                 "file": FileParam, "shuffle": ShuffleChoiceParam}


# ----------------------------------------------------------------------------------------------
# sequences and EXR files (what ReadOIIO sees)


def sequence_files(pattern):
    """{frame: path} of the files on disk for a ``####`` / ``%04d`` pattern."""
    folder, name = os.path.split(pattern)
    m = re.search(r"#+|%0?\d*d", name)
    if not m or not os.path.isdir(folder or "."):
        return {}
    rx = re.compile(re.escape(name[:m.start()]) + r"(-?\d+)" + re.escape(name[m.end():]) + "$")
    out = {}
    for n in os.listdir(folder or "."):
        mm = rx.match(n)
        if mm:
            out[int(mm.group(1))] = os.path.join(folder, n)
    return out


def file_channels(path):
    """Channel names of every part of an EXR, in file order, or None when unreadable."""
    try:
        import OpenImageIO as oiio
    except ImportError:  # pragma: no cover
        return None
    inp = oiio.ImageInput.open(path)
    if inp is None:
        oiio.geterror()
        return None
    names = []
    try:
        sub = 0
        while inp.seek_subimage(sub, 0):
            names += [c for c in inp.spec().channelnames if c not in names]
            sub += 1
    finally:
        inp.close()
    return names


def layers_of(channels):
    """Ordered layers ``{layer: [channel names]}``; ``""`` = the colour plane (R, G, B, A)."""
    out = {}
    for c in channels:
        layer = c.rsplit(".", 1)[0] if "." in c else ""
        out.setdefault(layer, []).append(c)
    return out


# ----------------------------------------------------------------------------------------------
# nodes


class Group(object):
    def __init__(self, app):
        self._app = app
        self._children = []

    def getNode(self, fullySpecifiedName):
        head, _, rest = fullySpecifiedName.partition(".")
        for child in self._children:
            if child.getScriptName() == head:
                return child.getNode(rest) if rest else child
        return None

    def getChildren(self):
        return list(self._children)


class Effect(Group):
    def __init__(self, app, plugin_id, parent):
        Group.__init__(self, app)
        self._plugin_id, self._parent = plugin_id, parent
        self._script_name = plugin_id.rsplit(".", 1)[-1]
        self._inputs = {}
        self._params = {}
        self._pages = []
        self._user_params = []
        self.layers = None  # Read: {layer: channels} once the sequence was learned
        self.gui_refreshed = 0
        max_inputs, knobs = PLUGINS.get(plugin_id, (1, {}))
        self._max_inputs = max_inputs
        for cb in NODE_CALLBACKS:
            self._params[cb] = StringParam(self, cb)
        for name, (kind, spec) in knobs.items():
            if kind == "choice":
                self._params[name] = ChoiceParam(self, name, name, spec)
            else:
                self._params[name] = _KIND_CLASSES[kind](self, name, name, spec)

    # identity
    def getPluginID(self):
        return READ_META_ID if self._plugin_id == "fr.inria.openfx.ReadOIIO" else self._plugin_id

    def getScriptName(self):
        return self._script_name

    def setScriptName(self, scriptName):
        siblings = self._parent._children if self._parent is not None else []
        if any(s is not self and s.getScriptName() == scriptName for s in siblings):
            return False
        self._script_name = scriptName
        return True

    def getLabel(self):
        return self._script_name

    def _is_group(self):
        return self._plugin_id not in PLUGINS

    # graph
    def getMaxInputCount(self):
        return self._max_inputs

    def connectInput(self, inputNumber, input):  # noqa: A002 - documented name
        """Natron (Node::canConnectInput): False for a bad index and for an input already connected
        (disconnect it first)."""
        if not 0 <= inputNumber < self._max_inputs or input is None or inputNumber in self._inputs:
            return False
        self._inputs[inputNumber] = _unwrap(input)
        if self._is_group():  # a PyPlug group: its onInputChanged fires
            self._fire("onInputChanged", inputNumber, self, self._parent, self._app)
        return True

    def disconnectInput(self, inputNumber):
        self._inputs.pop(inputNumber, None)
        if self._is_group():
            self._fire("onInputChanged", inputNumber, self, self._parent, self._app)

    def getInput(self, inputNumber):
        return self._inputs.get(inputNumber)

    def inputs(self):
        """Test helper (not Natron API): {index: node}."""
        return dict(self._inputs)

    # parameters
    def getParam(self, name):
        return self._params.get(name)

    def getParams(self):
        return list(self._params.values())

    def _new_param(self, cls, name, label, *extra):
        if name in self._params:
            raise ValueError("{}: a parameter named {} exists".format(self._script_name, name))
        param = cls(self, name, label, *extra)
        self._params[name] = param
        self._user_params.append(param)
        return param

    def createPageParam(self, name, label):
        page = self._new_param(PageParam, name, label)
        self._pages.append(page)
        return page

    def createIntParam(self, name, label):
        return self._new_param(IntParam, name, label)

    def createDoubleParam(self, name, label):
        return self._new_param(DoubleParam, name, label)

    def createBooleanParam(self, name, label):
        return self._new_param(BooleanParam, name, label)

    def createChoiceParam(self, name, label):
        return self._new_param(ChoiceParam, name, label)

    def createStringParam(self, name, label):
        return self._new_param(StringParam, name, label)

    def createFileParam(self, name, label):
        return self._new_param(FileParam, name, label)

    def createOutputFileParam(self, name, label):
        return self._new_param(OutputFileParam, name, label)

    def createPathParam(self, name, label):
        return self._new_param(PathParam, name, label)

    def createButtonParam(self, name, label):
        return self._new_param(ButtonParam, name, label)

    def refreshUserParamsGUI(self):
        self.gui_refreshed += 1

    def user_params(self):
        """Test helper: user parameters in creation order."""
        return list(self._user_params)

    # host behaviour
    def _fire(self, kind, *args):
        text = self._params[kind].getValue() if kind in self._params else ""
        if not text:
            return None
        fn = self._app.lookup_callback(text, kind)
        if fn is None:
            return None
        # the host hands each callback new Python wrappers of its nodes (PyNode.cpp: new Effect(node))
        return fn(*[_Handle(a) if isinstance(a, Effect) else a for a in args])

    def _param_changed(self, param, userEdited=False):
        if param.getScriptName() == "filename" and self._plugin_id == "fr.inria.openfx.ReadOIIO":
            self._learn_sequence()
        if self._is_group() and param in self._user_params:
            self._fire("onParamChanged", param, self, self._parent, self._app, userEdited)

    def _file_reloaded(self, param):
        if self._plugin_id == "fr.inria.openfx.ReadOIIO":
            self._learn_sequence()

    def _learn_sequence(self):
        """Verified: only now (filename set or reloaded) does a Read learn range and layers."""
        files = sequence_files(self._params["filename"].getValue())
        if len(files) < 2 or self._app._creating:
            self.layers = None
            self._params["firstFrame"]._value = self._params["lastFrame"]._value = 1 if files else 0
            return
        frames = sorted(files)
        self._params["firstFrame"]._value, self._params["lastFrame"]._value = frames[0], frames[-1]
        channels = file_channels(files[frames[0]])
        self.layers = layers_of(channels) if channels else None

    def _upstream_layers(self, seen=None):
        """Layer names the nodes above this one have learned (what a Shuffle can offer)."""
        seen = seen if seen is not None else set()
        if id(self) in seen:
            return set()
        seen.add(id(self))
        out = set(self.layers or ()) if self._plugin_id == "fr.inria.openfx.ReadOIIO" else set()
        for node in self._inputs.values():
            out |= node._upstream_layers(seen)
        return out

    def _shuffle_option_exists(self, value):
        side, _, rest = value.partition(".")
        if side not in ("A", "B") or not rest:
            return False
        layer, _, channel = rest.rpartition(".")
        if layer in ("", COLOUR_PLANE) or channel in ("r", "g", "b", "a", "0", "1"):
            return True  # the colour plane and constants always exist
        return layer in self._upstream_layers()

    def user_edit(self, name, value=None):
        """Test helper: what an artist's edit does (set the knob, then onParamChanged(userEdited=True))."""
        param = self._params[name]
        if isinstance(param, ButtonParam):
            self._fire("onParamChanged", param, self, self._parent, self._app, True)
            return
        param._value = param._coerce(value)
        self._fire("onParamChanged", param, self, self._parent, self._app, True)

    # pixels ---------------------------------------------------------------------------------
    def planes(self, frame):
        """{channel: H×W float32} of this node's output at ``frame`` (colour plane as R, G, B, A)."""
        return _EVAL[self._plugin_id if self._plugin_id in _EVAL else "group"](self, frame)


class _Handle(object):
    """Another Python wrapper of the same node, as each host callback gets (``id()`` differs)."""

    def __init__(self, node):
        object.__setattr__(self, "_node", node)

    def __getattr__(self, name):
        return getattr(object.__getattribute__(self, "_node"), name)

    def __eq__(self, other):
        return isinstance(other, (_Handle, Effect)) and _unwrap(other) is object.__getattribute__(self, "_node")

    __hash__ = None


def _unwrap(node):
    return object.__getattribute__(node, "_node") if isinstance(node, _Handle) else node


def _choice(node, name):
    p = node.getParam(name)
    return p.getOption(p.getValue())


def _eval_group(node, frame):
    out = [c for c in node._children if c._plugin_id == "fr.inria.built-in.Output"]
    if not out or 0 not in out[0]._inputs:
        raise RenderError("{}: no Output".format(node.getScriptName()))
    return out[0]._inputs[0].planes(frame)


def _eval_input(node, frame):
    group = node._parent
    index = [c for c in group._children if c._plugin_id == "fr.inria.built-in.Input"].index(node)
    src = group._inputs.get(index)
    if src is None:
        raise RenderError("{}: input {} not connected".format(group.getScriptName(), index))
    return src.planes(frame)


def _eval_read(node, frame):
    import numpy as np
    import OpenImageIO as oiio

    if 0 in node._inputs:  # Sync: render the input first (RunScript, a Write)
        node._inputs[0].planes(frame)
    if node.layers is None:
        raise RenderError("{}: Failure to find requested layer in file".format(node.getScriptName()))
    first, last = node.getParam("firstFrame").getValue(), node.getParam("lastFrame").getValue()
    f = frame
    for edge, outside, bound in (("before", frame < first, first), ("after", frame > last, last)):
        if outside:
            mode = _choice(node, edge)
            if mode == "hold":
                f = bound
            elif mode == "black":
                return None
            else:
                raise RenderError("{}: frame {} outside {}-{}".format(node.getScriptName(), frame, first, last))
    pattern = node.getParam("filename").getValue()
    path = sequence_files(pattern).get(f)
    if path is None:
        if _choice(node, "onMissingFrame") == "black":
            return None
        raise RenderError("{}: Cannot load frame".format(pattern.replace("####", "%04d" % f)))
    inp_layers = {}
    disp = None
    probe = oiio.ImageBuf(path)
    nsub = max(1, probe.nsubimages)
    del probe
    for sub in range(nsub):
        b = oiio.ImageBuf(path, sub, 0)
        spec = b.spec()
        disp = disp or (spec.full_x, spec.full_y, spec.full_width, spec.full_height)
        full = np.zeros((spec.full_height, spec.full_width, spec.nchannels), np.float32)
        px = b.get_pixels(oiio.FLOAT).reshape(spec.height, spec.width, spec.nchannels)
        full[spec.y - spec.full_y:spec.y - spec.full_y + spec.height,
             spec.x - spec.full_x:spec.x - spec.full_x + spec.width] = px
        for i, c in enumerate(spec.channelnames):
            inp_layers.setdefault(c, full[..., i])
    channels = list(inp_layers)
    layers = layers_of(channels)
    out = {}
    wanted = node.getParam("outputLayer").getValue()
    colour_layer = wanted if wanted in layers else next(iter(layers))
    chans = layers[colour_layer]
    names = [c.rsplit(".", 1)[-1] for c in chans]
    if set(names) >= {"R", "G", "B"}:
        for c in "RGBA":
            if c in names:
                out[c] = inp_layers[chans[names.index(c)]]
    else:  # a one-channel layer as the colour plane: R = A = that channel, G = B = 0 (seen)
        zero = np.zeros_like(inp_layers[chans[0]])
        out.update(R=inp_layers[chans[0]], G=zero, B=zero, A=inp_layers[chans[0]])
    for c in channels:
        if "." in c:
            out[c] = inp_layers[c]
    return _convert(out, node.getParam("ocioInputSpace").getValue(), "scene_linear")


def _convert(planes, src, dst):
    """The colour plane from ``src`` to ``dst`` through the config in $OCIO; an empty space name is
    what the host took as ACES2065-1 (seen)."""
    import numpy as np

    from faceplate.colour import ColourConfig

    config = ColourConfig.from_env()
    src, dst = config.resolve(src or "ACES2065-1"), config.resolve(dst or "ACES2065-1")
    if src == dst or not all(c in planes for c in "RGB"):
        return planes
    rgb = np.stack([planes[c] for c in "RGB"], axis=-1)
    conv = config.convert(rgb, src, dst)
    out = dict(planes)
    for i, c in enumerate("RGB"):
        out[c] = conv[..., i]
    return out


def _eval_shuffle(node, frame):
    import numpy as np

    b = node._inputs[0].planes(frame) if 0 in node._inputs else {}
    a = node._inputs[1].planes(frame) if 1 in node._inputs else {}
    b = b or {}
    a = a or {}
    out = {k: v for k, v in b.items() if "." in k}  # other planes ride along
    for knob in SHUFFLE_OUT:
        side, _, rest = node.getParam(knob).getValue().partition(".")
        src = a if side == "A" else b
        layer, _, channel = rest.rpartition(".")
        key = channel.upper() if layer in ("", COLOUR_PLANE) else rest
        if key in src:
            out[knob[-1]] = src[key]
        elif channel == "1":
            out[knob[-1]] = None
        else:
            out[knob[-1]] = None
    shape = next((v.shape for v in out.values() if v is not None), None)
    for c in "RGBA":
        if out.get(c) is None and shape is not None:
            out[c] = np.zeros(shape, np.float32)
    return out


def _eval_switch(node, frame):
    src = node._inputs.get(node.getParam("which").getValue())
    return src.planes(frame) if src is not None else None


def _eval_output(node, frame):
    return node._inputs[0].planes(frame)


def _eval_merge(node, frame):
    b = node._inputs[0].planes(frame)
    a = node._inputs[1].planes(frame) if 1 in node._inputs else None
    if not a:
        return b
    out = dict(b)
    alpha = a["A"]
    for c in "RGBA":
        out[c] = a[c] + b[c] * (1.0 - alpha)
    return out


def _eval_runscript(node, frame):
    upstream = node._inputs[0].planes(frame) if 0 in node._inputs else None
    if node.getParam("validate").getValue() is not True:
        return upstream
    args = []
    for i in range(1, node.getParam("paramCount").getValue() + 1):
        kind = node.getParam("type%d" % i).getValue()
        if kind == 0:
            args.append(node.getParam("filename%d" % i).getValue().replace("####", "%04d" % frame))
        elif kind == 1:
            args.append(node.getParam("string%d" % i).getValue())
        elif kind == 2:
            args.append(repr(node.getParam("double%d" % i).getValue()))
        else:
            args.append(str(node.getParam("integer%d" % i).getValue()))
    fd, path = tempfile.mkstemp(prefix="runscript")
    try:
        os.write(fd, node.getParam("script").getValue().encode())
        os.close(fd)
        os.chmod(path, 0o700)
        env = dict(os.environ)
        env.update(node._app.child_env)
        proc = subprocess.run([path] + args, env=env, stdin=subprocess.DEVNULL, capture_output=True)
        node._app.runscript_log.append((frame, proc.returncode, proc.stderr.decode("utf-8", "replace")))
    finally:
        os.unlink(path)
    return upstream  # exit code and stderr are ignored (verified)


def _eval_write_node(node, frame):
    return node._inputs[0].planes(frame)


_EVAL = {
    "group": _eval_group, "fr.inria.built-in.Input": _eval_input, "fr.inria.openfx.ReadOIIO": _eval_read,
    "net.sf.openfx.ShufflePlugin": _eval_shuffle, "net.sf.openfx.switchPlugin": _eval_switch,
    "fr.inria.built-in.Output": _eval_output, "net.sf.openfx.MergePlugin": _eval_merge,
    "fr.inria.openfx.RunScript": _eval_runscript, "fr.inria.openfx.WriteOIIO": _eval_write_node,
}


def write_frame(write, frame, planes):
    """What WriteOIIO writes: the colour plane (R, G, B, A), and every plane with processAllPlanes."""
    import numpy as np
    import OpenImageIO as oiio

    planes = _convert(planes, "scene_linear", write.getParam("ocioOutputSpace").getValue())
    names = [c for c in "RGBA" if c in planes]
    if write.getParam("processAllPlanes").getValue():
        names += sorted(c for c in planes if "." in c)
    arr = np.stack([planes[c] for c in names], axis=-1).astype(np.float32)
    depth = _choice(write, "bitDepth")
    fmt = oiio.FLOAT if depth == "32f" else oiio.HALF
    spec = oiio.ImageSpec(arr.shape[1], arr.shape[0], len(names), fmt)
    spec.channelnames = tuple(names)
    spec.attribute("compression", _choice(write, "compression"))
    path = write.getParam("filename").getValue().replace("####", "%04d" % frame)
    out = oiio.ImageOutput.create(path)
    if out is None or not out.open(path, spec):
        raise RenderError("{}: cannot write ({})".format(path, oiio.geterror()))
    out.write_image(arr)
    out.close()


class App(Group):
    def __init__(self, natron_app):
        Group.__init__(self, self)
        self._natron = natron_app
        self.renders = []
        self.errors = []
        self.runscript_log = []
        self._creating = 0
        #: the host's ``__main__`` namespace: PyPlug modules are imported here, scripts run here
        self.main = {"__name__": "__main__", "app": self, "app1": self}
        #: what Natron exports into every child process (verified)
        self.child_env = {"PYTHONNOUSERSITE": "1", "QT_API": "pyside2"}
        for name, module in natron_app._pyplugs().items():
            self.main[module.__name__] = module

    def lookup_callback(self, text, kind):
        """``module.function`` evaluated in the host's ``__main__`` namespace, signature checked."""
        head, _, rest = text.partition(".")
        obj = self.main.get(head)
        try:
            for part in rest.split(".") if rest else []:
                obj = getattr(obj, part)
            if obj is None:
                raise NameError(head)
            names = inspect.getfullargspec(obj).args
        except Exception as exc:  # noqa: BLE001 - the host prints and goes on
            msg = "Failed to get signature of {} callback ({}): inspect.getargspec({}) failed: {}".format(
                kind, text, text, exc)
            self.errors.append(msg)
            if kind == "beforeFrameRender":
                raise RenderHang(msg + " (the real host hangs here)")
            return None
        if names != CALLBACK_SIGNATURES[kind]:
            raise TypeError("callback {} for {} has arguments {}, expected {}".format(text, kind, names,
                                                                                   CALLBACK_SIGNATURES[kind]))
        return obj

    def run_script(self, path):
        """``NatronRenderer -t script.py``: the script runs in the host's ``__main__``."""
        ns = self.main
        ns["__file__"] = path
        with open(path, encoding="utf-8") as f:
            code = compile(f.read(), path, "exec")
        exec(code, ns)

    def createNode(self, pluginID, majorVersion=-1, group=None):
        parent = group if group is not None else self
        if pluginID in PLUGINS:
            node = Effect(self, pluginID, parent)
            parent._children.append(node)
            return node
        module = self._natron._pyplugs().get(pluginID)
        if module is None:
            return None
        self.main.setdefault(module.__name__, module)
        node = Effect(self, pluginID, parent)
        parent._children.append(node)
        node.setScriptName(module.getLabel())
        self._creating += 1
        try:
            module.createInstance(self, node)
        finally:
            self._creating -= 1
        # verified: an afterNodeCreated set in createInstance does not fire for a scripted createNode
        return node

    def createReader(self, filename, group=None):
        node = self.createNode("fr.inria.openfx.ReadOIIO", -1, group)
        node.getParam("filename").setValue(filename)
        return node

    def createWriter(self, filename, group=None):
        node = self.createNode("fr.inria.openfx.WriteOIIO", -1, group)
        node.getParam("filename").setValue(filename)
        return node

    def render(self, effect, firstFrame, lastFrame, frameStep=1):
        """The Write's callbacks in the documented order, its frames evaluated and written for real.
        An exception in ``beforeFrameRender`` or a frame that cannot be rendered aborts the render."""
        self.renders.append((effect.getScriptName(), firstFrame, lastFrame))
        effect._fire("beforeRender", firstFrame, effect, self)
        aborted = False
        for frame in range(firstFrame, lastFrame + 1, frameStep):
            try:
                effect._fire("beforeFrameRender", frame, effect, self)
                planes = effect.planes(frame)
                if effect._plugin_id == "fr.inria.openfx.WriteOIIO":
                    write_frame(effect, frame, planes)
            except RenderHang:
                raise
            except Exception as exc:  # noqa: BLE001 - Natron logs it and aborts the render
                self.errors.append("frame {}: {}".format(frame, exc))
                sys.stderr.write("render aborted at frame {}: {}\n".format(frame, exc))
                aborted = True
                break
            effect._fire("afterFrameRender", frame, effect, self)
        effect._fire("afterRender", aborted, effect, self)


class PyCoreApplication(object):
    """The host at start-up: search folders, saved settings, ``init.py`` scripts, PyPlugs."""

    def __init__(self):
        self.background = True
        self._saved = self._read_conf()  # appendToNatronPath of earlier runs: scanned now
        self._paths = []  # appended in this run: saved, scanned from the next start

    @staticmethod
    def conf_path():
        base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
        return os.path.join(base, "INRIA", "Natron.conf")

    def _read_conf(self):
        try:
            with open(self.conf_path(), encoding="utf-8") as f:
                return [ln.strip()[len("pluginPath="):] for ln in f if ln.startswith("pluginPath=")]
        except OSError:
            return []

    def appendToNatronPath(self, path):
        if path in self._paths or path in self._saved:
            return
        self._paths.append(path)
        conf = self.conf_path()
        os.makedirs(os.path.dirname(conf), exist_ok=True)
        with open(conf, "a", encoding="utf-8") as f:
            f.write("pluginPath={}\n".format(path))

    def getNatronPath(self):
        return self.search_folders() + [p for p in self._paths if p not in self.search_folders()]

    def search_folders(self):
        """What this run scans: ~/.Natron, NATRON_PLUGIN_PATH split on ':' (verified on Linux), saved paths."""
        env = [p for p in os.environ.get("NATRON_PLUGIN_PATH", "").split(":") if p]
        out = []
        for p in [os.path.join(os.path.expanduser("~"), ".Natron")] + env + self._saved:
            if p not in out:
                out.append(p)
        return out

    def start(self):
        """Start-up: every search folder on sys.path, then each one's ``init.py`` (never fatal)."""
        for folder in self.search_folders():
            if os.path.isdir(folder) and folder not in sys.path:
                sys.path.append(folder)
        for folder in self.search_folders():
            init = os.path.join(folder, "init.py")
            if os.path.isfile(init):
                try:
                    with open(init, encoding="utf-8") as f:
                        exec(compile(f.read(), init, "exec"), {"__name__": "__main__", "__file__": init})
                except Exception as exc:  # noqa: BLE001 - Natron prints and starts anyway
                    sys.stderr.write("init.py {}: {}\n".format(init, exc))
        return self

    def isBackground(self):
        return self.background

    def _pyplugs(self):
        import importlib

        found = {}
        for folder in self.search_folders():
            if not os.path.isdir(folder):
                continue
            if folder not in sys.path:
                sys.path.append(folder)
            for name in sorted(os.listdir(folder)):
                if not name.endswith(".py") or name in ("init.py", "initGui.py"):
                    continue
                with open(os.path.join(folder, name), encoding="utf-8") as f:
                    lines = f.read().splitlines()
                if not any(ln.startswith("# Natron PyPlug") or ln.startswith("def createInstance(") for ln in lines):
                    continue
                if self.background and any(ln.startswith("import NatronGui") or ln.startswith("from NatronGui")
                                           for ln in lines):
                    continue  # skipped silently in background mode
                module = importlib.import_module(name[:-3])
                pid = module.getPluginID() if hasattr(module, "getPluginID") else module.getLabel()
                found.setdefault(pid, module)
        return found

    def getPluginIDs(self):
        return sorted(set(PLUGINS) | set(self._pyplugs()))


natron = PyCoreApplication()
