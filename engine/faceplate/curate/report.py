"""The curation report: measure tables (CSV, JSON), contact sheets, the pose-coverage plot, a summary.

``REPORT_DIR/``::

    report.json         schema "faceplate.curation_report" v1: per-set summaries, rows, coverage, selection
    A_measures.csv      one row per face of A (and B_measures.csv with --against)
    contact_A.png       crops sorted by a measure, value under each (contact_A_2.png… past PAGE faces)
    coverage.png        yaw × pitch: B's faces per cell, A's poses, A's cells B lacks (red)
                        (with --against, report.json's "expressions": A's open mouths, smiles and
                        blinks B never shows, and the train option that synthesizes them)
    summary.md          the same facts in words

Every file is written atomically; the face sets are only read.
"""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from faceplate.curate import coverage as cov_mod
from faceplate.curate.measures import MEASURES, PREVIEW, SetMeasures
from faceplate.errors import FaceSetError, InputError, require
from faceplate.jsonio import dump_json
from faceplate.plates.atomic import atomic_path, check_writable_folder, write_text_atomic

SCHEMA = "faceplate.curation_report"
VERSION = 1
PAGE = 300
COLUMNS = 10
COLUMNS_CSV = ("id", "source", "frame", "face", "track", "kept", "sharpness", "dark_fraction", "clipped_fraction",
               "yaw", "pitch", "roll", "size_px", "crop_scale", "score", "presence", "jitter", "dup_cluster", "dup_count",
               "lum_median")


def parse_sort(sort: str) -> tuple[str, bool]:
    """``"sharpness"`` (ascending, worst first) or ``"-sharpness"`` (descending) -> (measure, descending)."""
    desc = sort.startswith("-")
    name = sort.lstrip("-")
    if name not in MEASURES:
        raise InputError(f"--sort: expected one of {', '.join(MEASURES)} (prefix '-' for descending), found {sort!r}")
    return name, desc


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS_CSV)
    for r in rows:
        w.writerow([_fmt(r.get(c)) for c in COLUMNS_CSV])
    write_text_atomic(path, buf.getvalue(), "measure table")


def _font(size: int):
    ImageFont = require("PIL.ImageFont", "train")  # Pillow comes with matplotlib

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


def contact_sheets(sm: SetMeasures, kept: set[str] | None, sort: str, out_dir: Path, label: str) -> list[Path]:
    """Crops sorted by ``sort`` with the value (and id) under each; faces a selection drops are dimmed, red."""
    require("PIL", "train")
    from PIL import Image, ImageDraw

    name, desc = parse_sort(sort)
    vals = sm.column(name)
    finite = np.where(np.isfinite(vals), vals, -np.inf if desc else np.inf)
    order = np.argsort(-finite if desc else finite, kind="stable")
    pages = [order[i: i + PAGE] for i in range(0, len(order), PAGE)] or [order]
    font, small = _font(13), _font(11)
    tile_w, tile_h, head = PREVIEW + 8, PREVIEW + 34, 30
    paths = []
    for p, idx in enumerate(pages):
        cols = max(1, min(COLUMNS, len(idx)))
        rows = max(1, math.ceil(len(idx) / cols))
        sheet = Image.new("RGB", (max(cols * tile_w, 520), head + rows * tile_h), (32, 32, 32))
        draw = ImageDraw.Draw(sheet)
        n_kept = "" if kept is None else f", selection keeps {sum(1 for r in sm.rows if r['id'] in kept)}"
        title = (f"{label}: {sm.faceset.root.name}  sorted by {name} ({'high' if desc else 'low'} first)  "
                 f"{len(sm.rows)} faces{n_kept}" + (f"  page {p + 1}/{len(pages)}" if len(pages) > 1 else ""))
        draw.text((6, 8), title, fill=(235, 235, 235), font=font)
        for k, i in enumerate(idx):
            x, y = (k % cols) * tile_w + 4, head + (k // cols) * tile_h
            pic = Image.fromarray(sm.previews[i])
            row = sm.rows[i]
            dropped = kept is not None and row["id"] not in kept
            if dropped:
                pic = Image.blend(pic, Image.new("RGB", pic.size, (0, 0, 0)), 0.55)
            sheet.paste(pic, (x, y))
            if dropped:
                draw.rectangle([x, y, x + PREVIEW - 1, y + PREVIEW - 1], outline=(220, 40, 40), width=3)
                draw.line([x, y, x + PREVIEW - 1, y + PREVIEW - 1], fill=(220, 40, 40), width=2)
            v = row[name]
            text = "n/a" if v is None else (f"{v:.3g}" if isinstance(v, float) else str(v))
            draw.text((x, y + PREVIEW + 2), f"{name[:10]} {text}", fill=(255, 210, 120), font=small)
            draw.text((x, y + PREVIEW + 17), row["id"][:16], fill=(200, 200, 200), font=small)
        path = out_dir / (f"contact_{label}.png" if p == 0 else f"contact_{label}_{p + 1}.png")
        with atomic_path(path, "contact sheet") as tmp:
            sheet.save(tmp, format="PNG")
        paths.append(path)
    return paths


def _identity_line(ident: dict[str, Any] | None) -> str:
    if not ident or not ident.get("available"):
        return f"- identities: not checked ({(ident or {}).get('reason', 'no descriptors')})"
    line = (f"- identities: {ident['clusters']} cluster(s) of sizes {ident['cluster_sizes']}; "
            f"{ident['outliers']} face(s) outside the main person")
    if ident["mixed"]:
        line += (" -- MIXED: this set holds more than one person (training would blend them); faces outside "
                 f"the main person: {', '.join(ident['outlier_ids'][:10])}")
    return line


def _summary_md(doc: dict[str, Any]) -> str:
    lines = ["# Face-set curation report", ""]
    for label, s in doc["sets"].items():
        lo, hi = s["linear_range"] or (float("nan"), float("nan"))
        lines += [
            f"## {label}: {s['faceset']}",
            f"- faces: {s['faces']}",
            f"- plate colour space: {', '.join(s['plate_colour_spaces'])} "
            f"({'display-referred' if s['plate_display_referred'] else 'scene-referred or mixed'})",
            f"- crop encoding: {s['crop_encoding']['primaries']} / {s['crop_encoding']['transfer']}, {s['resolution']} px",
            f"- linear values seen ({s['linear_space']}): {lo:.4g} .. {hi:.4g}; median face luminance {s['luminance_median']}",
            f"- near-duplicate clusters (distance <= {s['dedupe_threshold']}): {s['duplicate_clusters']} "
            f"holding {s['faces_in_duplicate_clusters']} faces",
            _identity_line(s.get("identity")),
            "",
        ]
    chk = doc.get("colour_check")
    if chk:
        lines += ["## Colour check", ("- A and B can be trained together (" + chk["message"] + ")") if chk["trainable_together"]
                  else f"- REFUSED by training: {chk['message']}", ""]
    cov = doc.get("coverage")
    if cov and cov.get("b_counts") is not None:
        lines += [f"## Pose coverage of A by B", f"- A faces in poses B lacks: {cov['a_faces_in_missing_cells']}"]
        for c in cov["missing"]:
            lines.append(f"  - yaw {c['yaw'][0]:+.0f}..{c['yaw'][1]:+.0f}, pitch {c['pitch'][0]:+.0f}..{c['pitch'][1]:+.0f}: "
                         f"{c['a_faces']} A face(s), e.g. {', '.join(c['a_ids'][:3])}")
        lines.append("")
    ex = doc.get("expressions")
    if ex:
        lines += ["## Expression coverage of A by B (distances ÷ eye distance)"]
        for name, m in ex["measures"].items():
            lines.append(f"- {name}: A {m['a'][0]:.3f}..{m['a'][2]:.3f} (median {m['a'][1]:.3f}), "
                         f"B {m['b'][0]:.3f}..{m['b'][2]:.3f} (median {m['b'][1]:.3f})")
        for miss in ex["missing"]:
            lines.append(f"- B never shows A's {miss['expression']}: {miss['a_faces']} of {miss['of']} A faces")
        if ex["suggest"]:
            lines.append(f"- suggestion: faceplate train ... {ex['suggest']} (synthesizes them from B's own faces)")
        lines.append("")
    sel = doc.get("selection")
    if sel:
        lines += ["## Selection", f"- file: {sel['file']}", f"- keeps {sel['kept']} of {sel['of']} faces",
                  f"- criteria: {sel['criteria']}", ""]
    lines += ["## Files"] + [f"- {f}" for f in doc["files"]]
    return "\n".join(lines) + "\n"


def write_report(a: SetMeasures, out_dir: Path | str, b: SetMeasures | None = None, sort: str = "sharpness",
                 kept: set[str] | None = None, selection: dict[str, Any] | None = None, cell: float = 10.0) -> dict[str, Any]:
    """Write every report file into ``out_dir``; returns the report.json document."""
    out_dir = Path(out_dir)
    parse_sort(sort)
    check_writable_folder(out_dir, "report folder")
    files: list[str] = []
    for row in a.rows:
        row["kept"] = None if kept is None else row["id"] in kept
    write_csv(out_dir / "A_measures.csv", a.rows)
    files.append("A_measures.csv")
    files += [p.name for p in contact_sheets(a, kept, sort, out_dir, "A")]
    b_yaw = b_pitch = None
    if b is not None:
        for row in b.rows:
            row["kept"] = None
        write_csv(out_dir / "B_measures.csv", b.rows)
        files.append("B_measures.csv")
        files += [p.name for p in contact_sheets(b, None, sort, out_dir, "B")]
        b_yaw, b_pitch = b.column("yaw"), b.column("pitch")
    a_yaw, a_pitch = a.column("yaw"), a.column("pitch")
    cov = cov_mod.coverage(a_yaw, a_pitch, b_yaw, b_pitch, cell=cell)
    a_ids = [r["id"] for r in a.rows]
    cov_mod.plot(cov, a_yaw, a_pitch, out_dir / "coverage.png", a.faceset.root.name,
                 None if b is None else b.faceset.root.name, b_yaw, b_pitch)
    files += ["coverage.png", "report.json", "summary.md"]
    colour = None
    expressions = None
    if b is not None:
        from faceplate.faces.faceset import check_same_colour

        expressions = _expressions(a, b)

        try:
            check_same_colour(a.faceset, b.faceset)
            colour = {"trainable_together": True, "message": "same crop encoding and geometry"}
        except FaceSetError as exc:
            colour = {"trainable_together": False, "message": str(exc)}
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "version": VERSION,
        "sort": sort,
        "measures": MEASURES,
        "sets": {"A": a.summary, **({"B": b.summary} if b is not None else {})},
        "faces": {"A": a.rows, **({"B": b.rows} if b is not None else {})},
        "coverage": cov.to_doc(a_ids),
        "colour_check": colour,
        "expressions": expressions,
        "selection": None,
        "files": files,
    }
    if kept is not None:
        doc["selection"] = {"file": (selection or {}).get("file", ""), "criteria": (selection or {}).get("criteria", {}),
                            "kept": sum(1 for r in a.rows if r["kept"]), "of": len(a.rows)}
    dump_json(out_dir / "report.json", _clean(doc))
    write_text_atomic(out_dir / "summary.md", _summary_md(doc), "report summary")
    return doc


def _expressions(a: SetMeasures, b: SetMeasures) -> dict[str, Any] | None:
    """Expression coverage of A by B from the faces' landmarks (None when a set has no usable ones)."""
    from faceplate.curate.expression import expression_coverage

    def points(sm: SetMeasures) -> list[np.ndarray]:
        out = []
        for rec in sm.faceset.faces:
            p = np.asarray(rec.landmarks, np.float64)
            if p.ndim == 2 and p.shape[0] == 468 and p.shape[1] >= 2 and np.isfinite(p[:, :2]).all():
                out.append(p)
        return out

    pa, pb = points(a), points(b)
    if not pa or not pb:
        return None
    try:
        return expression_coverage(pa, pb)
    except InputError:  # degenerate landmarks: no expression figures rather than no report
        return None


def _clean(v: Any) -> Any:
    """JSON-safe copy: NaN/inf become None, numpy scalars become Python numbers."""
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, (np.floating, float)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v
