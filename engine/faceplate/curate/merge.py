"""Build one face set from several (several plates, shoots or stills of one identity).

The merged set copies each face's files (v2: one file holding crop and masks; v1: a crop file and a
mask file; the sources stay untouched) under a new id
``s<k>_<old id>`` and records where it came from in ``extra["merged_from"]`` (set folder, old id,
plate colour space). All sets must share the crop encoding and geometry
(:func:`faceplate.faces.faceset.check_same_colour`). The folder appears whole or not at all.
"""
from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import replace
from pathlib import Path

from faceplate.errors import FaceSetError, OutputError
from faceplate.faces.faceset import FaceSet, check_same_colour


def merge(sources: list[Path | str], out: Path | str) -> FaceSet:
    """Merge the face sets ``sources`` into a new set at ``out`` (which must not exist or be empty)."""
    if len(sources) < 1:
        raise FaceSetError("faces merge: expected at least one face set to merge, found none")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OutputError(f"merged face set {out}: expected a new or empty folder, found existing content")
    sets = [FaceSet.load(s) for s in sources]
    resolved = [s.root.resolve() for s in sets]
    if out.resolve() in resolved:
        raise OutputError(f"merged face set {out}: must differ from the sets being merged")
    for s in sets[1:]:
        check_same_colour(sets[0], s)
    spaces = sorted({s.plate_colour_space for s in sets})
    parent = out.parent if str(out.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    tmp = parent / f".{out.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    faces = []
    try:
        (tmp / "faces").mkdir(parents=True)
        for k, s in enumerate(sets):
            for rec in s.faces:
                new_id = f"s{k}_{rec.id}"
                img = f"faces/{new_id}{Path(rec.image).suffix}"
                shutil.copyfile(s.image_path(rec), tmp / img)
                if rec.mask == rec.image:  # v2: one file holds crop and masks
                    msk = img
                else:
                    msk = f"masks/{new_id}{Path(rec.mask).suffix}"
                    (tmp / "masks").mkdir(exist_ok=True)
                    shutil.copyfile(s.mask_path(rec), tmp / msk)
                extra = dict(rec.extra)
                prev = extra.get("preview")
                if isinstance(prev, str) and (s.root / prev).is_file():
                    (tmp / "previews").mkdir(exist_ok=True)
                    extra["preview"] = f"previews/{new_id}{Path(prev).suffix}"
                    shutil.copyfile(s.root / prev, tmp / extra["preview"])
                else:
                    extra.pop("preview", None)
                extra["merged_from"] = {"faceset": str(resolved[k]), "id": rec.id,
                                        "plate_colour_space": s.plate_colour_space}
                extra["plate_colour_space"] = s.plate_colour_space
                extra.setdefault("track", f"s{k}:{extra.get('track', rec.face)}")
                faces.append(replace(rec, id=new_id, image=img, mask=msk, extra=extra))
        first = sets[0]
        merged = FaceSet(
            root=tmp, resolution=first.resolution, coverage=first.coverage, centering=first.centering,
            plate_colour_space=spaces[0] if len(spaces) == 1 else "mixed: " + "; ".join(spaces),
            crop_encoding=first.crop_encoding, ocio_config=first.ocio_config, faces=faces,
            meta={"merged_from": [str(r) for r in resolved]},
        )
        merged.save()
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"merged face set {out}: cannot be written ({exc.strerror or exc})") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    merged.root = out
    return merged
