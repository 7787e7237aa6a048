"""``faceplate faces report|select|merge``: curate face sets (measures, coverage, selections, merging)."""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

log = logging.getLogger("faceplate.faces")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("faces", help="curate face sets: report, select, merge",
                              description="Curate face sets: quality report, selections (never deletions), merging.")
    sub = p.add_subparsers(dest="faces_command", metavar="ACTION")
    sub.required = True

    r = sub.add_parser("report", help="measures table, contact sheet and pose coverage of a face set",
                       description="Score every face (sharpness, exposure, pose, size, confidence, jitter, "
                                   "near-duplicates) and write tables and pictures into REPORT_DIR.")
    r.add_argument("faceset", metavar="FACESET", help="face-set folder, or a selection JSON (marks what it keeps)")
    r.add_argument("--against", metavar="OTHER", help="the other identity's face set (or selection): pose coverage of A by it")
    r.add_argument("--selection", metavar="SELECTION.json", help="show what this selection of FACESET keeps")
    r.add_argument("--out", required=True, metavar="REPORT_DIR", help="folder for the report files")
    r.add_argument("--sort", default="sharpness", metavar="MEASURE",
                   help="contact-sheet order: a measure name, low first; '--sort=-NAME' for high first (default: sharpness)")
    r.add_argument("--cell", type=float, default=10.0, metavar="DEG", help="pose-coverage cell size in degrees (default: 10)")
    r.add_argument("--dedupe", type=float, default=None, metavar="DIST",
                   help="near-duplicate thumbnail distance in [0, 1] (default: 0.06)")
    r.set_defaults(func=run_report)

    s = sub.add_parser("select", help="write a selection JSON of the faces that pass thresholds",
                       description="Write SELECTION.json listing the faces that pass; 'faceplate train' accepts it "
                                   "in place of the face set. Nothing is deleted.")
    s.add_argument("faceset", metavar="FACESET", help="face-set folder")
    s.add_argument("--min-sharpness", type=float, help="drop faces less sharp than this (see the report's sharpness column)")
    s.add_argument("--max-yaw", type=float, metavar="DEG", help="drop faces turned further than this (|yaw|)")
    s.add_argument("--max-pitch", type=float, metavar="DEG", help="drop faces tilted further than this (|pitch|)")
    s.add_argument("--min-size", type=float, metavar="PX", help="drop faces smaller than this in plate pixels")
    s.add_argument("--dedupe", type=float, metavar="DIST",
                   help="keep only the sharpest of near-duplicates closer than this thumbnail distance (e.g. 0.06)")
    s.add_argument("--out", required=True, metavar="SELECTION.json", help="selection file to write")
    s.set_defaults(func=run_select)

    m = sub.add_parser("merge", help="build one face set from several (plates, shoots, stills)",
                       description="Copy the faces of several face sets into a new one, recording each face's source.")
    m.add_argument("sets", nargs="+", metavar="FACESET", help="face sets to merge (same crop encoding and geometry)")
    m.add_argument("--out", required=True, metavar="MERGED", help="new face-set folder")
    m.set_defaults(func=run_merge)


def _load_marked(path: str):
    """(full FaceSet, kept ids or None, selection info) for a folder or a selection JSON."""
    from faceplate.faces.faceset import FaceSet, load_for_training

    p = Path(path)
    if p.is_dir():
        return FaceSet.load(p), None, None
    sel = load_for_training(p)
    full = FaceSet.load(sel.root)
    return full, {f.id for f in sel.faces}, _selection_info(p)


def _selection_info(p: Path) -> dict:
    import json

    doc = json.loads(p.read_text(encoding="utf-8"))
    return {"file": str(p), "criteria": doc.get("criteria", {}).get("thresholds", doc.get("criteria", {}))}


def run_report(args: argparse.Namespace) -> int:
    from faceplate.curate.measures import DEFAULT_DEDUPE, measure_faceset
    from faceplate.curate.report import parse_sort, write_report
    from faceplate.errors import InputError
    from faceplate.faces.faceset import load_for_training

    parse_sort(args.sort)
    t0 = time.perf_counter()
    fs, kept, info = _load_marked(args.faceset)
    if args.selection:
        sel = load_for_training(args.selection)
        if sel.root.resolve() != fs.root.resolve():
            raise InputError(f"--selection {args.selection}: expected a selection of {fs.root}, found one of {sel.root}")
        kept, info = {f.id for f in sel.faces}, _selection_info(Path(args.selection))
    dedupe = DEFAULT_DEDUPE if args.dedupe is None else args.dedupe
    a = measure_faceset(fs, dedupe=dedupe, identity=True)
    b = measure_faceset(load_for_training(args.against), dedupe=dedupe, identity=True) if args.against else None
    doc = write_report(a, args.out, b, sort=args.sort, kept=kept, selection=info, cell=args.cell)
    for label, sm in (("A", a), ("B", b)):
        ident = sm.summary.get("identity") if sm is not None else None
        if ident and ident.get("mixed"):
            log.warning("face set %s (%s) holds more than one person: identity clusters of sizes %s; faces outside "
                        "the main person: %s (see identity_cluster in the report)", sm.faceset.root, label,
                        ident["cluster_sizes"], ", ".join(ident["outlier_ids"][:10]))
    ex = doc.get("expressions")
    if ex and ex["missing"]:
        log.warning("B (%s) never shows A's %s; the swap will keep B's expression there. Add '%s' to "
                    "'faceplate train' to synthesize them from B's faces", args.against,
                    ", ".join(f"{m['expression']} ({m['a_faces']} faces)" for m in ex["missing"]), ex["suggest"])
    missing = doc["coverage"]["a_faces_in_missing_cells"]
    log.info("report %s: %d face(s) of A%s%s in %.1fs", args.out, len(a.rows),
             f", {len(b.rows)} of B, {missing} A face(s) in poses B lacks" if b else "",
             f", selection keeps {doc['selection']['kept']}" if doc["selection"] else "", time.perf_counter() - t0)
    return 0


def run_select(args: argparse.Namespace) -> int:
    from faceplate.curate.measures import measure_faceset
    from faceplate.curate.select import Criteria, write_selection
    from faceplate.faces.faceset import FaceSet

    crit = Criteria(args.min_sharpness, args.max_yaw, args.max_pitch, args.min_size, args.dedupe).check()
    sm = measure_faceset(FaceSet.load(args.faceset))
    res = write_selection(args.out, sm, crit)
    log.info("selection %s keeps %d of %d face(s)", args.out, res["kept"], res["of"])
    return 0


def run_merge(args: argparse.Namespace) -> int:
    from faceplate.curate.merge import merge

    merged = merge(args.sets, args.out)
    log.info("merged %d set(s) into %s: %d face(s)", len(args.sets), merged.root, len(merged.faces))
    return 0

