"""Score rendered passes with :mod:`faceplate.quality.metrics`: the swap next to its baselines.

:func:`evaluate` takes the plate, the passes of every variant (the real swap's render and baseline
renders made through the same path, each a passes sequence with the comp layer), the shot's
alignments, the model and the two face sets, and returns one JSON-ready dict: a row per variant
(``swap``, ``do_nothing``, and whatever baselines were rendered) plus the plate's own figures.
"do nothing" is the plate itself: its comp is the plate and its model output its input.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Callable, Mapping, Sequence as Seq

import numpy as np

from faceplate.plates import Sequence, read_image
from faceplate.quality.metrics import ShotCase, Variant, faceset_faces, mean_descriptor, score


def selected_points(alignments: Path) -> dict[int, np.ndarray]:
    """frame -> 468×2 plate landmarks of the face extract selected (the one the render swaps)."""
    from faceplate.render.facesource import load_alignments

    out = {}
    for f, faces in load_alignments(alignments).items():
        chosen = [x for x in faces if getattr(x, "selected", True)]
        if chosen:
            out[int(f)] = np.asarray(chosen[0].points, np.float64)[:, :2]
    return out


def _reader(seq: Sequence, channels: tuple[str, ...] = ("R", "G", "B")) -> Callable[[int], np.ndarray]:
    @lru_cache(maxsize=2)
    def read(frame: int) -> np.ndarray:
        img = read_image(seq.path(frame), frame=frame)
        return np.ascontiguousarray(img.channels_array(list(channels)), np.float32)
    return read


def evaluate(plate: Sequence, passes: Mapping[str, Sequence], alignments: Path, model_path: Path,
             frames: Seq[int], space: str, config, faceset_a: Path | None = None, faceset_b: Path | None = None,
             truth: Sequence | None = None, runners: Mapping[str, Callable[[np.ndarray], np.ndarray]] | None = None,
             identity: bool = True) -> dict:
    """Every metric for every variant in ``passes`` (name -> passes sequence with a comp layer, must
    include ``"swap"``) plus ``do_nothing``, on ``frames``. ``runners``: name -> the variant's model
    output for crop codes (N×3×R×R -> N×3×R×R), for the follow figure; the swap's is the model's."""
    from faceplate.faces.faceset import FaceSet
    from faceplate.faces.landmarks import Landmarker
    from faceplate.render.model import load_model

    model = load_model(model_path, "cpu")
    points = selected_points(alignments)
    frames = [f for f in frames if f in points]
    mask_of = _reader(passes["swap"], ("mask.Y",))
    embedder = None
    emb_a = emb_b = None
    if identity:
        from faceplate.faces.identity import Embedder

        embedder = Embedder.load()
        if faceset_b is not None:
            emb_b = mean_descriptor(embedder, faceset_faces(FaceSet.load(faceset_b), config))
        if faceset_a is not None:
            emb_a = mean_descriptor(embedder, faceset_faces(FaceSet.load(faceset_a), config))
    case = ShotCase(frames=list(frames), plate=_reader(plate), points=points, matte=lambda f: mask_of(f)[..., 0],
                    space=space, config=config, truth=_reader(truth) if truth is not None else None,
                    embedding_a=emb_a, embedding_b=emb_b, manifest=model.manifest)
    runs = dict(runners or {})
    runs.setdefault("swap", lambda codes: model.run(codes)[0])
    runs.setdefault("do_nothing", lambda codes: codes)
    variants = [Variant("do_nothing", case.plate, runs["do_nothing"])]
    variants += [Variant(name, _reader(seq), runs.get(name)) for name, seq in passes.items()]
    rows = score(case, variants, Landmarker(), embedder)
    return {"frames": list(frames), "reference": "truth" if truth is not None else "plate",
            "identity_model": embedder.info()["model"] if embedder is not None else None, "variants": rows}


def format_table(result: dict) -> str:
    """The variants side by side, one metric per line (what bench/quality.py and the demo print)."""
    rows = {k: v for k, v in result["variants"].items() if not k.startswith("_")}
    names = list(rows)
    keys: list[tuple[str, Callable[[dict], float | None]]] = [
        ("identity cos -> B (higher)", lambda r: r.get("identity_cos_b")),
        ("identity cos -> A", lambda r: r.get("identity_cos_a")),
        ("identity margin B-A", lambda r: r.get("identity_margin_cos")),
        ("identity dist -> B (<0.6 same)", lambda r: r.get("identity_dist_b")),
        ("identity dist -> A", lambda r: r.get("identity_dist_a")),
        ("pose error yaw deg", lambda r: r["pose_error_deg"]["yaw"]),
        ("pose error pitch deg", lambda r: r["pose_error_deg"]["pitch"]),
        ("pose error roll deg", lambda r: r["pose_error_deg"]["roll"]),
        ("expression error", lambda r: r["expression_error"]),
        ("follow (1 = all)", lambda r: r.get("follow")),
        ("follow, motion-aware", lambda r: r.get("follow_motion")),
        ("follow ceiling (exact motion)", lambda r: r.get("follow_ceiling")),
        ("sharpness vs plate", lambda r: r["sharpness_ratio"]),
        ("flicker (code)", lambda r: r.get("flicker")),
    ]
    width = max(12, *(len(n) + 2 for n in names))
    lines = [f"{'metric':<32}" + "".join(f"{n:>{width}}" for n in names)]
    for label, get in keys:
        cells = []
        for n in names:
            v = get(rows[n])
            cells.append(f"{'-':>{width}}" if v is None or (isinstance(v, float) and np.isnan(v))
                         else f"{v:>{width}.4f}")
        lines.append(f"{label:<32}" + "".join(cells))
    ref = result["variants"].get("_reference", {})
    if "flicker" in ref:
        lines.append(f"{'(' + result['reference'] + ' flicker)':<32}{ref['flicker']:>{width}.4f}")
    return "\n".join(lines)


#: baseline name (faceplate.quality.baselines) -> its row in the report
BASELINE_ROWS = {"constant": "constant_mean_b", "nearest": "nearest_b", "truth": "truth_crop"}


def score_shot(plate: Sequence, passes: Sequence, alignments: Path, model_path: Path, frames: Seq[int], space: str,
               config, work: Path, faceset_a: Path | None = None, faceset_b: Path | None = None,
               truth: Sequence | None = None, baselines: Seq[str] = ("constant", "nearest"), settings=None,
               identity: bool = True, rendered: Mapping[str, Sequence] | None = None) -> dict:
    """Render each baseline's passes (through the real render path, with the model's matte) into
    ``work/<baseline>/`` where missing, then :func:`evaluate` the swap's ``passes`` next to them.

    ``settings``: the :class:`~faceplate.render.settings.RenderSettings` the swap was rendered with
    (default: the render's defaults with the comp layer), so baselines are cut and colour-matched alike.
    ``rendered``: baseline passes already rendered with those settings (report row name -> sequence)."""
    from faceplate.faces.faceset import FaceSet
    from faceplate.quality.baselines import face_contexts, make_baseline, render_baseline
    from faceplate.render.model import load_model
    from faceplate.render.settings import RenderSettings

    settings = settings or RenderSettings(comp=True, colour_space=space)
    model = load_model(model_path, "cpu")
    fs_b = FaceSet.load(faceset_b) if faceset_b is not None else None
    frames = list(frames)
    points = selected_points(alignments)
    runs: dict[str, Callable[[np.ndarray], np.ndarray]] = {}
    seqs: dict[str, Sequence] = {"swap": passes}
    for name in baselines:
        base = make_baseline(name, model=model, faceset_b=fs_b, truth=truth.pattern if truth else None,
                             config=config, space=space)
        row = BASELINE_ROWS.get(name, name)
        seq = (rendered or {}).get(row) or Sequence(str(Path(work) / row / "passes.####.exr"))
        todo = [f for f in frames if not seq.path(f).exists()]
        if todo:
            render_baseline(base, model, plate.pattern, alignments, todo, seq.pattern, settings, config)
        seqs[row] = seq
        scored = [f for f in frames if f in points]
        contexts = [c for f in scored for c in face_contexts(f, [points[f]], model.manifest)]
        runs[row] = (lambda b, ctx: (lambda codes: b.faces(ctx, codes)))(base, contexts)
    return evaluate(plate, seqs, alignments, model_path, frames, space, config, faceset_a=faceset_a,
                    faceset_b=faceset_b, truth=truth, runners=runs, identity=identity)


#: dlib distance by which the swap must sit nearer B than A to count as clearly B (a sixth of dlib's
#: same-person radius of 0.6: the spread of one person's descriptors over poses and lighting)
CLEAR_IDENTITY_MARGIN = 0.1


def verdicts(result: dict) -> list[str]:
    """One plain sentence per check the demo and the bench make of the swap (true statements only:
    each names the figures it compares)."""
    v = result["variants"]
    s = v.get("swap", {})
    out = []
    if "identity_dist_b" in s and "identity_dist_a" in s:
        margin = s["identity_dist_a"] - s["identity_dist_b"]
        nearer = ("clearly nearer B than A" if margin >= CLEAR_IDENTITY_MARGIN else
                  "nearer B than A, but not clearly" if margin > 0 else "NOT nearer B than A")
        out.append(f"identity: {nearer} (dlib distance to B "
                   f"{s['identity_dist_b']:.3f}, to A {s['identity_dist_a']:.3f}; cosine to B "
                   f"{s['identity_cos_b']:.3f}, to A {s['identity_cos_a']:.3f})")
    paste = v.get("nearest_b")
    if paste is not None:
        below = s["expression_error"] < paste["expression_error"]
        out.append(f"expression: error {s['expression_error']:.4f} {'below' if below else 'NOT below'} pasting "
                   f"B's nearest face ({paste['expression_error']:.4f})")
    if "follow" in s:
        line = (f"follow: the swap's changes regress on the {result['reference']}'s with slope "
                f"{s['follow']:.3f} (1 follows everything, 0 ignores the input)")
        if "follow_motion" in s:
            line += (f"; on the changes the {result['reference']} asks of the swap's own face (its level "
                     f"change and its motion in the crop) {s['follow_motion']:.3f}; a swap making exactly "
                     f"those would score {s['follow_ceiling']:.3f} on the first figure")
        out.append(line)
    return out
