# Faceplate headless comp for NatronRenderer:  Read(plate) -> FaceplateSwap (Output = comp) -> Write(32f)
#
#   FACEPLATE_PLATE=/shot/plate.####.exr FACEPLATE_MODEL=/shot/face.onnx FACEPLATE_FRAMES=1001-1100 \
#   FACEPLATE_OUT=/shot/comp/comp.####.exr [FACEPLATE_PASSES=/shot/passes/passes.####.exr] \
#   [FACEPLATE_ALIGNMENTS=/shot/alignments.json] [FACEPLATE_COLOUR_SPACE=scene_linear] \
#   timeout -k 60 7200 NatronRenderer -t install/farm/render_swap.py </dev/null
#
# With FACEPLATE_PASSES: the two-job setup (job 1, 'faceplate render ... --comp', wrote the passes;
# this job only reads them). Without: one job, the Write's beforeFrameRender renders each frame's passes
# through the engine service first. The exit code is 0 only when the Write's afterRender reported
# no abort and every frame's output was written by this run (NatronRenderer's own code is 0 even
# when a render failed). Needs plugin/ on NATRON_PLUGIN_PATH (install.sh or --print-studio-setup).
import os
import sys


def _plugin_dir():
    env = os.environ.get("FACEPLATE_PLUGIN")
    if env:
        return env
    try:
        return os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "plugin")
    except NameError:
        return ""


for _d in (_plugin_dir(), os.path.join(os.path.dirname(_plugin_dir()), "nodes")):
    if _d and _d not in sys.path:
        sys.path.append(_d)
# At the top level on purpose: Natron looks the Write's callbacks (faceplate_farm.after_render,
# faceplate_farm.before_frame_render) up in this script's namespace. Imported inside a function,
# afterRender never ran (exit 1 after a good render) and a beforeFrameRender render hung (verified).
import faceplate_farm  # noqa: E402


def main(app):
    env = os.environ
    need = [k for k in ("FACEPLATE_PLATE", "FACEPLATE_MODEL", "FACEPLATE_FRAMES", "FACEPLATE_OUT") if not env.get(k)]
    if need:
        print("faceplate farm: set " + ", ".join(need))
        return 2
    try:
        first, last = (int(x) for x in env["FACEPLATE_FRAMES"].split("-", 1)) if "-" in env["FACEPLATE_FRAMES"][1:] \
            else (int(env["FACEPLATE_FRAMES"]),) * 2
    except ValueError:
        print("faceplate farm: FACEPLATE_FRAMES: expected FIRST-LAST, found %r" % env["FACEPLATE_FRAMES"])
        return 2
    try:
        read, node, write = faceplate_farm.build(
            app, env["FACEPLATE_PLATE"], env["FACEPLATE_MODEL"], first, last, env["FACEPLATE_OUT"],
            passes=env.get("FACEPLATE_PASSES") or None, alignments=env.get("FACEPLATE_ALIGNMENTS", ""),
            colour_space=env.get("FACEPLATE_COLOUR_SPACE", "scene_linear"))
        app.render(write, first, last)
    except Exception as exc:  # noqa: BLE001 - report and fail the job
        print("faceplate farm: %s" % exc)
        return 1
    return faceplate_farm.exit_code()


_app = globals().get("app") or globals().get("app1")  # NatronRenderer defines the app
if _app is not None:
    sys.stdout.flush()
    sys.exit(main(_app))
