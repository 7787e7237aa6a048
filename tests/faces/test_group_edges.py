"""A group photo (one large face, several small ones) gives every face; a face cut by the frame edge
gives masks that are zero where the crop shows no image (no invented pixels counted as face)."""
from __future__ import annotations

import json

import cv2
import numpy as np

from faceplate.cli.main import main
from faceplate.plates import Image, write_image

SRGB = "sRGB Encoded Rec.709 (sRGB)"
#: (who, x, y, side, mirrored): the large astronaut and four small faces (the astronaut's face is
#: ~19% of its photo's side: 55-60 px here; Grace Hopper's ~40%: ~120 px)
GROUP = [("astronaut", 60, 40, 1000, False), ("astronaut", 1120, 40, 300, False), ("hopper", 1510, 40, 300, False),
         ("astronaut", 1120, 560, 300, True), ("hopper", 1510, 560, 300, True)]


def test_group_photo_one_large_and_several_small_faces(face_assets, astronaut, hopper, tmp_path):
    from faceplate.faces.preview import write_png

    px = np.full((1080, 1920, 3), 0.35, np.float32)
    photos = {"astronaut": astronaut.srgb, "hopper": hopper.srgb}
    for who, x, y, side, mirror in GROUP:
        img = cv2.resize(np.asarray(photos[who]), (side, side), interpolation=cv2.INTER_AREA)
        img = img[:, ::-1] if mirror else img
        h = min(side, 1080 - y)
        px[y:y + h, x:x + side] = img[:h]
    path = write_png(tmp_path / "group.png", np.round(px * 255).astype(np.uint8))
    out = tmp_path / "set"
    assert main(["extract", str(path), "--out", str(out), "--size", "64", "--face", "all", "--colour-space", SRGB,
                 "--quiet"]) == 0
    faces = json.loads((out / "alignments.json").read_text())["frames"]["0"]["faces"]
    where = []
    for f in faces:
        cx, cy = (f["box"][0] + f["box"][2]) / 2, (f["box"][1] + f["box"][3]) / 2
        where.append([i for i, (_, x, y, side, _) in enumerate(GROUP) if x <= cx < x + side and y <= cy < y + side])
    assert sorted(w[0] for w in where if len(w) == 1) == [0, 1, 2, 3, 4] and len(faces) == 5
    assert all(f["selected"] for f in faces)


def test_face_cut_by_the_frame_edge_has_no_mask_outside_the_image(face_assets, astronaut, tmp_path):
    from faceplate.faces import masks
    from faceplate.faces.faceset import FaceSet
    from faceplate.faces.writer import inside_mask

    px = np.full((512, 512, 3), 0.1, np.float32)
    px[:, :330] = np.asarray(astronaut.acescg)[:, 182:]  # the face's left third is outside the frame
    write_image(tmp_path / "edge.0001.exr", Image(px, ("R", "G", "B"), (0, 0, 512, 512), (0, 0, 512, 512)),
                pixel_type="float")
    out = tmp_path / "set"
    assert main(["extract", str(tmp_path / "edge.####.exr"), "--out", str(out), "--size", "128", "--quiet"]) == 0
    fs = FaceSet.load(out)
    rec = fs.faces[0]
    _, msk = fs.read_face(rec)
    inside = inside_mask(np.asarray(rec.transform), 128, (0, 0, 512, 512))
    hull = masks.face_hull(np.asarray(rec.landmarks), 128)
    assert hull[inside == 0].sum() > 100  # the landmarks' hull reaches past the frame edge ...
    assert msk[..., :][inside == 0].max() == 0.0  # ... but no mask counts those pixels as face
    assert msk[..., 0][inside == 1].sum() > 0.5 * hull[inside == 1].sum()
    assert 0.05 < rec.extra["outside"] < 0.6 and abs(rec.extra["outside"] - (1 - inside.mean())) < 1e-4
    # (the training loss weights pixels by the face mask: zero weight outside the image)
    assert inside_mask(np.asarray(rec.transform), 128, (-1000, -1000, 4096, 4096)).min() == 1.0  # a wider image
