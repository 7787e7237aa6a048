"""Face sets made in code: real EXR crops (code values in the crop encoding), masks, and landmarks
projected from a 3D head turned by known yaw/pitch/roll (ground truth for pose)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from faceplate.colour.encoding import CropEncoding
from faceplate.colour.ocio import ColourConfig
from faceplate.curate import pose
from faceplate.faces.faceset import FaceRecord, FaceSet, write_face
from faceplate.plates.image import Image, write_image

RES = 64
SRGB = "sRGB Encoded Rec.709 (sRGB)"


def _head() -> np.ndarray:
    """468×3 test head (mm): pose's reference points with other proportions plus noise, rest on a shell."""
    rng = np.random.default_rng(7)
    pts = np.zeros((468, 3))
    x = rng.uniform(-65, 65, 468)
    y = rng.uniform(-110, 60, 468)
    pts[:] = np.column_stack([x, y, 20 - 60 * (x / 70) ** 2 - 15 * ((y + 25) / 85) ** 2])
    pts[pose.INDICES] = pose.POINTS3D * np.array([1.04, 0.97, 1.05]) + rng.normal(0, 1.0, (len(pose.INDICES), 3))
    return pts


HEAD = _head()


def project(yaw: float, pitch: float, roll: float, scale: float = 2.0, centre=(900.0, 500.0), distance: float = 1500.0) -> np.ndarray:
    """Plate pixels (468×2, y down) of the test head turned by (yaw, pitch, roll), perspective camera."""
    cam = HEAD @ pose.rotation(yaw, pitch, roll).T
    f = scale * distance
    u = centre[0] + f * cam[:, 0] / (distance - cam[:, 2])
    v = centre[1] - f * cam[:, 1] / (distance - cam[:, 2])
    return np.column_stack([u, v])


def crop_transform(plate_pts: np.ndarray, angle_deg: float = 0.0, res: int = RES) -> np.ndarray:
    """2×3 plate->crop similarity putting the face in the crop, rotated by ``angle_deg``."""
    c = plate_pts.mean(axis=0)
    s = 0.75 * res / (plate_pts.max(axis=0) - plate_pts.min(axis=0)).max()
    a = np.radians(angle_deg)
    rot = s * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return np.column_stack([rot, np.array([res / 2, res / 2]) - rot @ c])


def texture(k: int, res: int = RES) -> np.ndarray:
    """Distinct display-referred sRGB pictures in [0, 1] (faces and objects from skimage/matplotlib)."""
    from skimage import data

    if k == 0:
        img = data.astronaut()[40:220, 140:320]
    elif k == 1:
        import matplotlib.cbook

        with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as fh:
            from PIL import Image as PILImage

            img = np.asarray(PILImage.open(fh).convert("RGB"))[60:360, 100:400]
    elif k == 2:
        img = data.coffee()[50:350, 150:450]
    elif k == 3:
        img = data.chelsea()[0:300, 100:400]
    elif k == 4:
        img = data.rocket()[100:400, 200:500]
    else:
        img = np.repeat(data.camera()[50 * k % 300: 50 * k % 300 + 200, 100:300, None], 3, axis=2)
    return cv2.resize(img.astype(np.float32) / 255.0, (res, res), interpolation=cv2.INTER_AREA)


def masks(res: int = RES) -> np.ndarray:
    """Face, eyes and mouth ellipses (float32 res×res×3)."""
    c = res // 2
    face = np.zeros((res, res), np.float32)
    eyes = np.zeros((res, res), np.float32)
    mouth = np.zeros((res, res), np.float32)
    cv2.ellipse(face, (c, c), (int(res * 0.36), int(res * 0.45)), 0, 0, 360, 1.0, -1)
    for ex in (c - res // 6, c + res // 6):
        cv2.ellipse(eyes, (ex, int(res * 0.42)), (res // 12, res // 24), 0, 0, 360, 1.0, -1)
    cv2.ellipse(mouth, (c, int(res * 0.72)), (res // 7, res // 16), 0, 0, 360, 1.0, -1)
    return np.stack([face, eyes, mouth], axis=-1)


def make_set(root: Path, faces: list[dict], space: str = SRGB, encoding: CropEncoding = CropEncoding(),
             res: int = RES, layout: str = "v2") -> FaceSet:
    """Write a face set. Each face: texture (int or sRGB array), yaw, pitch, roll, frame, source, blur,
    gain (linear multiplier), angle (crop rotation), scale (plate px per mm), jitter_px, score, track.
    ``layout``: "v2" (one file per face, as extract writes) or "v1" (a crop file and a mask file)."""
    root = Path(root)
    (root / "faces").mkdir(parents=True, exist_ok=True)
    if layout == "v1":
        (root / "masks").mkdir(exist_ok=True)
    config = ColourConfig.from_env()
    records = []
    for i, f in enumerate(faces):
        tex = f.get("texture", 0)
        disp = texture(tex, res) if isinstance(tex, int) else np.asarray(tex, np.float32)
        if f.get("blur"):
            disp = cv2.GaussianBlur(disp, (0, 0), f["blur"])
        lin = config.convert(disp, SRGB, "ACEScg") * f.get("gain", 1.0)
        plate = config.convert(lin, "ACEScg", space)
        code = encoding.encode(plate, space, config)
        frame = int(f.get("frame", i))
        fid = f"f{frame:06d}_{f.get('face', 0)}"
        if layout == "v1":
            win = (0, 0, res, res)
            write_image(root / f"faces/{fid}.exr", Image(code.astype(np.float32), ("R", "G", "B"), win, win))
            write_image(root / f"masks/{fid}.exr", Image(masks(res), ("face", "eyes", "mouth"), win, win))
            mask_file = f"masks/{fid}.exr"
        else:
            write_face(root / f"faces/{fid}.exr", code, masks(res))
            mask_file = f"faces/{fid}.exr"
        plate_pts = project(f.get("yaw", 0.0), f.get("pitch", 0.0), f.get("roll", 0.0), f.get("scale", 2.0))
        if f.get("jitter_px"):
            plate_pts = plate_pts + np.random.default_rng(frame).normal(0, f["jitter_px"], plate_pts.shape)
        m = crop_transform(plate_pts, f.get("angle", 0.0), res)
        crop_pts = plate_pts @ m[:, :2].T + m[:, 2]
        x0, y0 = plate_pts.min(axis=0)
        x1, y1 = plate_pts.max(axis=0)
        records.append(FaceRecord(
            id=fid, frame=frame, face=int(f.get("face", 0)), source=f.get("source", "shot.####.exr"),
            image=f"faces/{fid}.exr", mask=mask_file, landmarks=crop_pts.tolist(), transform=m.tolist(),
            box=[float(x0), float(y0), float(x1), float(y1)], score=float(f.get("score", 0.95)),
            extra={"track": f.get("track", 0), **({"file": f["file"]} if "file" in f else {})},
        ))
    fs = FaceSet(root=root, resolution=res, coverage=1.6, centering="face", plate_colour_space=space,
                 crop_encoding=encoding, ocio_config=config.config, faces=records)
    fs.save()
    return fs


