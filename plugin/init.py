# Faceplate start-up script for Natron and NatronRenderer (runs at every start, also on the farm).
# Tiny on purpose and never lets an exception escape into Natron's start-up. It
#  1. restores inspect.getargspec when the embedded Python lacks it (3.11+): Natron checks every
#     callback's signature with it, and without it callbacks fail and a Write with a
#     beforeFrameRender callback hangs the render;
#  2. puts this folder and the nodes folder on sys.path (the PyPlugs import faceplate_node and the
#     bridge from there).
# It does NOT call natron.appendToNatronPath: a folder added that way is scanned only from the next
# start (verified), so the PyPlugs are found by a folder Natron scans at every start instead:
# ~/.Natron (install.sh writes two small PyPlug files there) or NATRON_PLUGIN_PATH (studio setup).
try:
    import inspect as _faceplate_inspect

    if not hasattr(_faceplate_inspect, "getargspec"):
        _faceplate_inspect.getargspec = _faceplate_inspect.getfullargspec
except Exception:  # noqa: BLE001
    pass


def _faceplate_register():
    import os
    import sys

    here = None
    try:
        here = os.path.dirname(os.path.abspath(__file__))
    except NameError:  # executed without a file name: find our folder on sys.path
        for entry in sys.path:
            if os.path.isfile(os.path.join(entry, "faceplate_bridge.py")):
                here = os.path.abspath(entry)
                break
    if here is None:
        raise RuntimeError("cannot find the Faceplate plug-in folder")
    nodes = os.path.join(os.path.dirname(here), "nodes")
    for folder in (here, nodes):
        if folder not in sys.path:
            sys.path.append(folder)


try:
    _faceplate_register()
except Exception as _faceplate_exc:  # noqa: BLE001
    try:
        import sys as _faceplate_sys

        _faceplate_sys.stderr.write("Faceplate: plug-in not registered: %s\n" % (_faceplate_exc,))
    except Exception:  # noqa: BLE001
        pass
