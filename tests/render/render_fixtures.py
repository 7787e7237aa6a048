"""Helpers for the render tests, all built in code (imported as ``render_fixtures``: a unique name, so a
whole-suite run cannot pick up another folder's ``conftest``).

* :func:`build_model` writes a real ONNX swap model with the onnx helper API: input ``face``,
  outputs ``swap`` (``1 - face``, ``face`` or a colour shift) and ``mask`` (a centred disc), and a
  valid Faceplate manifest in the metadata.
* :func:`build_shot` writes a small scene-linear ACEScg EXR sequence made from the astronaut photo
  (with HDR, negative and -0.0 pixels away from the face, a data window inside the display window)
  and an ``alignments.json`` whose landmarks are the alignment template posed on the face.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import faceplate  # noqa: F401

W, H = 256, 192
DATA = (8, 4, 240, 180)  # data window x, y, w, h inside the 256×192 display window
FIRST = 1001


def build_model(path: Path, kind: str = "invert", resolution: int = 64, manifest_overrides: dict | None = None,
                opset: int = 13, input_name: str = "face") -> Path:
    """A real ONNX swap model: ``kind`` = invert (1 - face), identity, shift (face * 0.9 + 0.05),
    conv (sigmoid of a 3×3 convolution)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from faceplate.colour.encoding import CropEncoding
    from faceplate.faces import align
    from faceplate.manifest import METADATA_KEY, Manifest

    r = resolution
    yy, xx = np.mgrid[0:r, 0:r].astype(np.float32) + 0.5
    disc = ((xx - r / 2) ** 2 + (yy - r / 2) ** 2 <= (0.42 * r) ** 2).astype(np.float32)[None, None]
    inits = [numpy_helper.from_array(disc, "disc"), numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
             numpy_helper.from_array(np.array(1.0, np.float32), "one"),
             numpy_helper.from_array(np.array(0.9, np.float32), "k"),
             numpy_helper.from_array(np.array(0.05, np.float32), "b")]
    nodes = [helper.make_node("ReduceMean", [input_name], ["m"], axes=[1], keepdims=1),
             helper.make_node("Mul", ["m", "zero"], ["m0"]),
             helper.make_node("Add", ["m0", "disc"], ["mask"])]
    if kind == "invert":
        nodes.append(helper.make_node("Sub", ["one", input_name], ["swap"]))
    elif kind == "identity":
        nodes.append(helper.make_node("Identity", [input_name], ["swap"]))
    elif kind == "conv":  # a real convolution, so batching concurrent frames is put to the test
        wconv = np.random.default_rng(0).normal(0, 0.3, (3, 3, 3, 3)).astype(np.float32)
        inits.append(numpy_helper.from_array(wconv, "wconv"))
        nodes += [helper.make_node("Conv", [input_name, "wconv"], ["c0"], pads=[1, 1, 1, 1]),
                  helper.make_node("Sigmoid", ["c0"], ["swap"])]
    elif kind == "shift":
        nodes += [helper.make_node("Mul", [input_name, "k"], ["s0"]), helper.make_node("Add", ["s0", "b"], ["swap"])]
    else:
        raise ValueError(kind)
    graph = helper.make_graph(
        nodes, "faceplate_test_swap",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", 3, r, r])],
        [helper.make_tensor_value_info("swap", TensorProto.FLOAT, ["N", 3, r, r]),
         helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["N", 1, r, r])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    man = Manifest(resolution=r, coverage=0.8, centering="face", crop_encoding=CropEncoding(),
                   template=np.asarray(align.TEMPLATE).tolist(), identities={"source": "A", "target": "B"},
                   direction="a2b", architecture=f"test-{kind}", training_steps=0, data_hashes={},
                   faceplate_version=faceplate.__version__)
    doc = json.loads(man.to_json())
    doc.update(manifest_overrides or {})
    helper.set_model_props(model, {METADATA_KEY: json.dumps(doc, sort_keys=True)})
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def face_points(frame_index: int = 0, jitter: float = 0.0, seed: int = 0) -> np.ndarray:
    """468×3 landmarks (plate pixels): the alignment template posed on the astronaut's face."""
    from faceplate.faces import align

    rng = np.random.default_rng(seed + frame_index)
    t = np.asarray(align.TEMPLATE, np.float64)
    c = t.mean(axis=0)
    pts = (t - c) * 70.0 + np.array([118.0 + frame_index * 1.5, 62.0])
    pts = pts + rng.normal(0.0, jitter, pts.shape) if jitter else pts
    return np.hstack([pts, np.zeros((468, 1))])


@dataclass
class Shot:
    plate: str  # pattern
    alignments: Path
    frames: list[int]
    no_face: list[int]
    folder: Path


def plate_pixels(astronaut_acescg: np.ndarray, frame_index: int) -> np.ndarray:
    """RGBA float32 over the data window: the astronaut (scaled) with HDR/negative/-0.0 corners."""
    import cv2

    img = cv2.resize(np.ascontiguousarray(astronaut_acescg), (W, W), interpolation=cv2.INTER_AREA)[:H]
    img = np.roll(img, frame_index, axis=1)  # a little motion
    x, y, w, h = DATA
    px = np.ascontiguousarray(img[y:y + h, x:x + w]).astype(np.float32)
    px[-12:, -12:] = px[-12:, -12:] * 40.0 + 25.0  # HDR highlight (bottom right, far from the face)
    px[-12:, :12] = -0.25  # negative values (bottom left)
    px[-1, 20:24] = -0.0
    a = np.ones(px.shape[:2] + (1,), np.float32)
    a[-6:, 100:110] = 0.5
    return np.concatenate([px, a], axis=2)


def write_plate(path: Path, px: np.ndarray, pixel_type: str = "float") -> None:
    from faceplate.plates.image import Image, write_image

    img = Image(pixels=px, channels=("R", "G", "B", "A"), data_window=DATA, display_window=(0, 0, W, H),
                metadata={"camera:name": "test-cam"})
    write_image(path, img, pixel_type=pixel_type, compression="zip")


def build_shot(folder: Path, astronaut_acescg: np.ndarray, n: int = 3, no_face: tuple[int, ...] = (),
               pixel_type: str = "float", jitter: float = 0.0) -> Shot:
    folder.mkdir(parents=True, exist_ok=True)
    frames = list(range(FIRST, FIRST + n))
    doc = {"schema": "faceplate.alignments", "version": 1, "frames": {}, "gaps": []}
    for i, f in enumerate(frames):
        write_plate(folder / f"plate.{f:04d}.exr", plate_pixels(astronaut_acescg, i), pixel_type)
        if f in no_face:
            doc["gaps"].append(f)
            doc["frames"][str(f)] = []
        else:
            doc["frames"][str(f)] = [{"landmarks": face_points(i, jitter).tolist(), "track": 0, "score": 0.99,
                                      "box": [0, 0, 1, 1]}]
    al = folder / "alignments.json"
    al.write_text(json.dumps(doc))
    return Shot(plate=str(folder / "plate.####.exr"), alignments=al, frames=frames, no_face=list(no_face),
                folder=folder)
