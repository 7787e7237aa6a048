"""A fake of the documented NatronEngine API, for testing Faceplate's nodes without Natron.

Only calls named in docs/shared natron-api.md (and, where that file names a family such as
``createDoubleParam``, ``setOptions`` or callbacks, the matching entries of Natron's own
PythonReference/NatronEngine/*.rst), with their exact signatures. Anything else raises
AttributeError, so a node that relies on an undocumented call fails here first.

Host behaviour that matters to Faceplate is modelled, not pixels:
- PyPlugs are found on ``NATRON_PLUGIN_PATH`` and ``natron.appendToNatronPath`` folders: a ``.py``
  with a line starting ``# Natron PyPlug`` or ``def createInstance(``; one with a line starting
  ``import NatronGui``/``from NatronGui`` is skipped silently (NatronRenderer); ``createNode``
  of an unknown id returns None.
- Each built-in plug-in has the knobs natron-api.md lists for it; ``getParam`` of another name
  returns None. Choice knobs take option ids as strings or indexes; ``getValue`` gives the index.
- Callbacks are strings ``"module.function"`` resolved like Natron does, and their argument
  names are checked against the documented signatures when called.
- A Read whose ``filename`` is set learns its layers only if two or more files of the sequence
  exist at that moment (``reloadFile`` re-checks), as verified on NatronRenderer 2.5.
"""
from __future__ import annotations

import importlib
import inspect
import os
import re
import sys

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

OCIO = {"ocioInputSpace": ("string", "scene_linear"), "ocioOutputSpace": ("string", "scene_linear")}
EXR_COMPRESSIONS = ("none", "rle", "zips", "zip", "piz", "pxr24", "b44", "b44a", "dwaa", "dwab")
RUNSCRIPT_KNOBS = {"paramCount": ("int", 0), "script": ("string", ""), "validate": ("bool", False)}
for _i in range(1, 11):
    RUNSCRIPT_KNOBS.update({
        "type%d" % _i: ("choice", ("filename", "string", "double", "integer")),
        "filename%d" % _i: ("string", ""), "string%d" % _i: ("string", ""),
        "double%d" % _i: ("float", 0.0), "integer%d" % _i: ("int", 0)})
SHUFFLE_OPTIONS = None  # any "A.<plane>.<channel>" / "B.<plane>.<channel>" string (planes depend on inputs)

#: plug-in id -> (max inputs, {knob: (kind, default or choices)})
PLUGINS = {
    "fr.inria.built-in.Input": (0, {}),
    "fr.inria.built-in.Output": (1, {}),
    "fr.inria.openfx.ReadOIIO": (1, dict({
        "filename": ("file", ""), "firstFrame": ("int", 1), "lastFrame": ("int", 1),
        "before": ("choice", ("hold", "loop", "bounce", "black", "error")),
        "after": ("choice", ("hold", "loop", "bounce", "black", "error")),
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
    "net.sf.openfx.ShufflePlugin": (2, {"outputR": ("string", "B.r"), "outputG": ("string", "B.g"),
                                        "outputB": ("string", "B.b"), "outputA": ("string", "B.a"),
                                        "outputPremult": ("choice", ("opaque", "premult", "unpremult"))}),
    "net.sf.openfx.switchPlugin": (16, {"which": ("int", 0)}),
    "net.sf.openfx.MergePlugin": (3, {}),
}
READ_META_ID = "fr.inria.built-in.Read"


def _check_signature(fn, kind):
    names = inspect.getfullargspec(fn).args
    if names != CALLBACK_SIGNATURES[kind]:
        raise TypeError("callback {} for {} has arguments {}, expected {}".format(
            fn.__name__, kind, names, CALLBACK_SIGNATURES[kind]))


def resolve_callback(text):
    """``"module.function"`` -> the function (Natron evaluates it where the PyPlug module is imported)."""
    module, _, name = text.rpartition(".")
    return getattr(importlib.import_module(module), name)


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
    _type = object

    def __init__(self, holder, name, label="", default=None):
        Param.__init__(self, holder, name, label)
        self._value = self._default = self._coerce(default)

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
        self._default = self._value = self._coerce(value)

    def getDefaultValue(self):
        return self._default


class IntParam(_ValueParam):
    def __init__(self, holder, name, label="", default=0):
        _ValueParam.__init__(self, holder, name, label, default)
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
    def _coerce(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError("{}: DoubleParam.setValue takes a float, not {!r}".format(self._name, value))
        return float(value)


class BooleanParam(_ValueParam):
    def __init__(self, holder, name, label="", default=False):
        _ValueParam.__init__(self, holder, name, label, default)

    def _coerce(self, value):
        if not isinstance(value, bool):
            raise TypeError("{}: BooleanParam.setValue takes a bool, not {!r}".format(self._name, value))
        return value


class StringParam(_ValueParam):
    def __init__(self, holder, name, label="", default=""):
        _ValueParam.__init__(self, holder, name, label, default)

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
                 "file": FileParam}


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
        self.layers = None  # Read: the sequence's layers once detected
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

    # graph
    def getMaxInputCount(self):
        return self._max_inputs

    def connectInput(self, inputNumber, input):  # noqa: A002 - documented name
        if not 0 <= inputNumber < self._max_inputs or input is None:
            return False
        self._inputs[inputNumber] = input
        if self._plugin_id not in PLUGINS:  # a PyPlug group: its onInputChanged fires
            self._fire("onInputChanged", inputNumber, self, self._parent, self._app)
        return True

    def getInput(self, inputNumber):
        if self._plugin_id not in PLUGINS:  # a group: input N is its N-th Input node's source
            return self._inputs.get(inputNumber)
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
        fn = resolve_callback(text)
        _check_signature(fn, kind)
        return fn(*args)

    def _param_changed(self, param, userEdited=False):
        if param.getScriptName() == "filename" and self._plugin_id == "fr.inria.openfx.ReadOIIO":
            self._detect_sequence()
        if self._plugin_id not in PLUGINS and param in self._user_params:
            self._fire("onParamChanged", param, self, self._parent, self._app, userEdited)

    def _file_reloaded(self, param):
        if self._plugin_id == "fr.inria.openfx.ReadOIIO":
            self._detect_sequence()

    def _detect_sequence(self):
        pattern = self._params["filename"].getValue()
        m = re.search(r"#+", pattern)
        folder = os.path.dirname(pattern) or "."
        if not m or not os.path.isdir(folder):
            self.layers = None
            return
        head, tail = os.path.basename(pattern[:m.start()]), pattern[m.end():]
        rx = re.compile(re.escape(head) + r"\d+" + re.escape(tail) + "$")
        found = [n for n in os.listdir(folder) if rx.match(n)]
        # verified: a Read created inside createInstance never detects its sequence
        self.layers = "detected" if len(found) >= 2 and not self._app._creating else None

    def user_edit(self, name, value=None):
        """Test helper: what an artist's edit does (set the knob, then onParamChanged(userEdited=True))."""
        param = self._params[name]
        if isinstance(param, ButtonParam):
            self._fire("onParamChanged", param, self, self._parent, self._app, True)
            return
        param._value = param._coerce(value)
        self._fire("onParamChanged", param, self, self._parent, self._app, True)


class App(Group):
    def __init__(self, natron_app):
        Group.__init__(self, self)
        self._natron = natron_app
        self.renders = []
        self._creating = 0

    def createNode(self, pluginID, majorVersion=-1, group=None):
        parent = group if group is not None else self
        if pluginID in PLUGINS:
            node = Effect(self, pluginID, parent)
            parent._children.append(node)
            return node
        module = self._natron._pyplugs().get(pluginID)
        if module is None:
            return None
        node = Effect(self, pluginID, parent)
        parent._children.append(node)
        node.setScriptName(module.getLabel())
        self._creating += 1
        try:
            module.createInstance(self, node)
        finally:
            self._creating -= 1
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
        """Runs the Write's callbacks in the documented order; an exception in beforeFrameRender aborts."""
        self.renders.append((effect.getScriptName(), firstFrame, lastFrame))
        effect._fire("beforeRender", firstFrame, effect, self)
        aborted = False
        for frame in range(firstFrame, lastFrame + 1, frameStep):
            try:
                effect._fire("beforeFrameRender", frame, effect, self)
            except Exception as exc:  # noqa: BLE001 - Natron aborts the render and logs it
                sys.stderr.write("render aborted at frame {}: {}\n".format(frame, exc))
                aborted = True
                break
            if effect._plugin_id == "fr.inria.openfx.WriteOIIO":  # the Write writes its frame
                m = re.search(r"#+", effect.getParam("filename").getValue())
                pattern = effect.getParam("filename").getValue()
                path = pattern[:m.start()] + "%0*d" % (len(m.group(0)), frame) + pattern[m.end():] if m else pattern
                with open(path, "wb") as f:
                    f.write(b"fake frame")
            effect._fire("afterFrameRender", frame, effect, self)
        effect._fire("afterRender", aborted, effect, self)


class PyCoreApplication(object):
    def __init__(self):
        self._paths = []
        self.background = True

    def appendToNatronPath(self, path):
        if path not in self._paths:
            self._paths.append(path)

    def getNatronPath(self):
        env = [p for p in os.environ.get("NATRON_PLUGIN_PATH", "").split(";") if p]
        return env + self._paths

    def isBackground(self):
        return self.background

    def _pyplugs(self):
        found = {}
        for folder in self.getNatronPath():
            if not os.path.isdir(folder):
                continue
            if folder not in sys.path:
                sys.path.append(folder)
            for name in sorted(os.listdir(folder)):
                if not name.endswith(".py"):
                    continue
                with open(os.path.join(folder, name), encoding="utf-8") as f:
                    lines = f.read().splitlines()
                if not any(ln.startswith("# Natron PyPlug") or ln.startswith("def createInstance(") for ln in lines):
                    continue
                if any(ln.startswith("import NatronGui") or ln.startswith("from NatronGui") for ln in lines):
                    continue  # skipped silently in background mode
                module = importlib.import_module(name[:-3])
                pid = module.getPluginID() if hasattr(module, "getPluginID") else module.getLabel()
                found[pid] = module
        return found

    def getPluginIDs(self):
        return sorted(set(PLUGINS) | set(self._pyplugs()))


natron = PyCoreApplication()
