"""Farm-side helpers for NatronRenderer scripts (standard library only; used by install/farm/).

:func:`build` makes ``Read(plate) -> FaceplateSwap (Output = comp) -> Write(32f)``: the engine's comp
layer, which is the plate bit for bit outside the face (a Merge over in Natron would turn -0.0 into
0.0 there); the Write's
callbacks live here. Natron resolves them by name in its ``__main__`` namespace (verified), so a
farm script must ``import faceplate_farm`` at its top level, never inside a function.
``after_render(aborted, thisNode, app)`` records the outcome, and :func:`exit_code` turns it and
the output files into the script's exit code (NatronRenderer's own exit code is 0 even when a
render failed). In one-job mode the Write's ``beforeFrameRender`` renders that frame's passes
through the engine service first (parallel-safe: one client per frame).
"""
from __future__ import annotations

import os
import time

import faceplate_bridge as bridge

#: The running job (one per NatronRenderer process): set by :func:`build`, read by the callbacks.
JOB = {}


def build(app, plate: str, model: str, first: int, last: int, out: str, passes: str | None = None,
          alignments: str = "", colour_space: str = "scene_linear", extra: dict | None = None):
    """The comp graph; ``passes`` given = two-job mode (read them), else one-job (render per frame)."""
    if passes is not None:  # two-job mode: job 1 must have written every frame of this chunk
        on_disk = set(bridge.frames_on_disk(passes))
        missing = [f for f in range(first, last + 1) if f not in on_disk
                   or bridge.is_placeholder(bridge.frame_path(passes, f))]
        if missing:
            raise RuntimeError("passes {}: {} frame(s) of {}-{} missing (first: {}); run the engine job "
                               "('faceplate render') for this chunk first".format(passes, len(missing), first, last,
                                                                                 missing[0]))
        first_file = bridge.frame_path(passes, first)
        have = bridge.exr_channels(first_file)
        if have and not set(bridge.COMP_CHANNELS) <= set(have):
            raise RuntimeError("passes {}: no comp layer (R, G, B, A; found {}); render job 1 with "
                               "'faceplate render ... --comp'".format(first_file, ", ".join(have)))
    read = app.createReader(plate)
    read.getParam("ocioInputSpace").setValue(colour_space)
    node = app.createNode("io.faceplate.FaceplateSwap")
    if node is None:
        raise RuntimeError("FaceplateSwap is not loaded: run install/install.sh, or put {} and {} on "
                           "NATRON_PLUGIN_PATH".format(bridge.PLUGIN_DIR, bridge.NODES_DIR))
    import faceplate_node

    # one work folder per chunk: parallel chunks never touch each other's passes or placeholders
    work = os.path.join(os.path.dirname(os.path.abspath(out)), ".faceplate", "{}-{}".format(first, last))
    one_job = passes is None
    passes = passes or os.path.join(work, "passes.####.exr")
    if one_job:  # the passes of a frame are rendered by the Write's beforeFrameRender
        for f in bridge.frames_on_disk(passes):
            if not bridge.is_placeholder(bridge.frame_path(passes, f)) and first <= f <= last:
                os.unlink(bridge.frame_path(passes, f))
    # every knob before the input: connecting activates the node, in this chunk's work folder
    knobs = {"model": model, "alignments": alignments, "plateFile": plate, "workFolder": work,
             "prerenderedPasses": passes, "firstFrame": first, "lastFrame": last, "colour_space": colour_space,
             "source": bridge.SOURCES.index("prerendered"), "output": bridge.OUTPUTS.index("comp")}
    knobs.update(extra or {})
    for name, value in knobs.items():
        node.getParam(name).setValue(value)
    node.connectInput(0, read)
    status = node.getParam("status").getValue()
    if status.startswith("error"):
        raise RuntimeError("FaceplateSwap: " + status)
    write = app.createWriter(out)
    write.connectInput(0, node)
    for name, value in (("bitDepth", "32f"), ("frameRange", "manual"), ("ocioOutputSpace", colour_space)):
        write.getParam(name).setValue(value)
    write.getParam("firstFrame").setValue(first)
    write.getParam("lastFrame").setValue(last)
    write.getParam("afterRender").setValue("faceplate_farm.after_render")
    s = faceplate_node.settings(node)
    JOB.clear()
    JOB.update({"aborted": None, "out": out, "first": first, "last": last, "started": time.time(),
                "one_job": one_job, "plate": s["plate"] or plate, "passes": passes, "log": s["paths"]["log"],
                "client_args": s["client_args"], "timeout": s["timeout"]})
    if one_job:
        write.getParam("beforeFrameRender").setValue("faceplate_farm.before_frame_render")
    return read, node, write


def before_frame_render(frame, thisNode, app):
    """One-job mode: this frame's passes through the engine (an exception aborts the render)."""
    bridge.render_frame(JOB["plate"], frame, JOB["passes"], JOB["log"], JOB["client_args"], JOB["timeout"])


def after_render(aborted, thisNode, app):
    JOB["aborted"] = bool(aborted)


def exit_code() -> int:
    """0 when the render finished and every frame's output file was written during it, else 1."""
    if JOB.get("aborted") is None:
        print("faceplate farm: the render did not finish (afterRender never ran)")
        return 1
    if JOB["aborted"]:
        print("faceplate farm: the render was aborted; " + (bridge.last_message(JOB["log"]) or "see the log above"))
        return 1
    missing = []
    for f in range(JOB["first"], JOB["last"] + 1):
        path = bridge.frame_path(JOB["out"], f)
        if not os.path.exists(path) or os.path.getmtime(path) < JOB["started"] - 1:
            missing.append(f)
    if missing:
        print("faceplate farm: {} frame(s) not written: {}".format(len(missing), missing[:20]))
        return 1
    return 0
