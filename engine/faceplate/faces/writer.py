"""Pass 2 of ``faceplate extract``: the chosen faces written as a face set.

Per face: one EXR holding the float crop in the crop encoding and the masks (face, eyes, mouth)
(:func:`faceplate.faces.faceset.write_face`), and a JPEG preview, each written atomically; a face's
crop, masks and files are made on a writer thread (:mod:`faceplate.faces.writequeue`) while the next
faces' records are made. Then ``faceset.json`` and the contact sheet. The crop's pixels outside the
image (a face cut by the frame edge) are not face: every mask is zero there (:func:`inside_mask`), so
the training loss, which weights pixels by the face mask, ignores them; the record keeps the fraction
outside (``outside``).
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from faceplate.faces.alignments import _r, face_id

def inside_mask(m: np.ndarray, size: int, data_window) -> np.ndarray:
    """size×size float32: 1 where the crop pixel's centre lies inside the image's data window
    (x, y, w, h in plate pixels), 0 outside, eroded by one crop pixel (resampling there mixes in
    replicated edge pixels)."""
    import cv2

    from faceplate.faces import align

    x0, y0, w, h = (float(v) for v in data_window)
    corners = align.transform_points(np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64),
                                     align.invert(m))
    if (corners[:, 0].min() >= x0 + 1 and corners[:, 1].min() >= y0 + 1 and corners[:, 0].max() <= x0 + w - 1
            and corners[:, 1].max() <= y0 + h - 1):
        return np.ones((size, size), np.float32)  # the whole crop lies inside the image
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    pts = align.transform_points(np.stack([xs.ravel(), ys.ravel()], 1), align.invert(m))
    ok = (pts[:, 0] >= x0) & (pts[:, 0] <= x0 + w) & (pts[:, 1] >= y0) & (pts[:, 1] <= y0 + h)
    inside = ok.reshape(size, size).astype(np.uint8)
    if inside.all():
        return inside.astype(np.float32)
    return cv2.erode(inside, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE).astype(np.float32)


def _inside_cache(m: np.ndarray, size: int, off, shape) -> bool:
    """Whether the crop's footprint lies inside the cached region (no border replication needed)."""
    from faceplate.faces import align

    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64)
    p = align.transform_points(corners, align.invert(m)) - np.asarray(off, np.float64)
    return bool(p[:, 0].min() >= 2 and p[:, 1].min() >= 2 and p[:, 0].max() <= shape[1] - 2 and p[:, 1].max() <= shape[0] - 2)


def write_faces(out: Path, source, space: str, enc, config, s, analysis, selected: dict, gaps: list, meta: dict,
                timer, progress: bool, jobs=()):
    """Write the selected faces; returns (written, skipped, FaceSet, contact sheet path or None).
    ``jobs``: other files, ``(fn, *args)``, written on the writer threads first (alignments.json).

    Each face's record is made here, frame by frame; its crop, masks and files are made on a few writer
    threads (:mod:`faceplate.faces.writequeue`; every file atomically, so the output is the same as in
    line). ``faceset.json`` is written once every face file is there."""
    from faceplate.faces import align, masks
    from faceplate.faces.faceset import FaceSet, MASK_CHANNELS, write_face
    from faceplate.faces.preview import face_preview, write_jpeg
    from faceplate.faces.writequeue import WriteQueue
    from faceplate.plates.image import exr_threads
    from faceplate.progress import bar as progress_bar

    def face_files(paths: dict, src_px: np.ndarray, off, m: np.ndarray, crop_pts: np.ndarray, inside: np.ndarray,
                   fmeta: dict) -> None:
        """One face (on a writer thread): the float crop and its code values in the crop encoding, the
        masks (zero where the crop is outside the image), the face EXR, then the JPEG preview (a
        thumbnail of the crop; not fsynced)."""
        crop = align.warp_to_crop(src_px, m, s.size, offset=off)
        code = np.asarray(enc.encode(crop, space, config), np.float32)
        ms = masks.landmark_masks(crop_pts, s.size, s.mask)
        mask_px = np.stack([ms[c] * inside for c in MASK_CHANNELS], -1).astype(np.float32)
        write_face(out / paths["image"], code, mask_px, fmeta)
        write_jpeg(out / paths["preview"], face_preview(crop, config, space))

    records: list = []
    pbar = progress_bar("extract: write  ", len(source.files), progress)
    by_frame: dict[int, list] = {}
    for (f, k), o in selected.items():
        by_frame.setdefault(f, []).append((k, o))
    with exr_threads(-1), WriteQueue() as queue:  # the writer threads compress their own files
        for fn, *args in jobs:
            queue.submit(fn, *args)
        written, skipped = _faces(out, source, s, analysis, by_frame, records, timer, pbar, queue.submit, face_files,
                                  enc)
        fs = FaceSet(root=out, resolution=s.size, coverage=float(s.coverage), centering=s.centering,
                     plate_colour_space=space, crop_encoding=enc, ocio_config=config.config, faces=records,
                     meta={"tool": "faceplate extract", "source": source.label,
                           "frames": [int(f) for f in source.files], "mask": s.mask, "face": s.face, "gaps": gaps,
                           "alignments": "alignments.json",
                           # the alignment template travels to the model's manifest (render checks it)
                           "template": np.round(np.asarray(align.TEMPLATE, np.float64), 6).tolist(), **meta})
        text = fs.to_json()  # while the writers finish; the file is written once every face is there
    timer.t["write"] += queue.waited  # waiting for the writers (blocked submits and the final drain)
    pbar.close()
    fs.save(text)
    sheet_path = None
    if s.preview:
        t = time.perf_counter()
        sheet_path = write_sheet(out, source, analysis.obs_by_frame, selected, analysis.tiles, analysis.cuts, config,
                                 space)
        timer.add("write", t)
    return written, skipped, fs, sheet_path


def _faces(out: Path, source, s, analysis, by_frame: dict, records: list, timer, pbar, submit, face_files,
           enc) -> tuple[int, int]:
    """Records (appended to ``records``) and file jobs (``submit(face_files, ...)``) of every face, in
    frame order; returns (written, skipped)."""
    from faceplate.faces import align
    from faceplate.faces.faceset import FaceRecord, is_face_file
    from faceplate.faces.source import read_frame

    obs_by_frame, infos, cache = analysis.obs_by_frame, analysis.infos, analysis.cache
    written = skipped = 0
    for frame in source.files:
        todo = sorted(by_frame.get(frame, []), key=lambda ko: ko[0])
        full = None
        for k, o in todo:
            fid = face_id(frame, k)
            paths = {"image": f"faces/{fid}.exr", "mask": f"faces/{fid}.exr", "preview": f"previews/{fid}.jpg"}
            t = time.perf_counter()
            m = align.crop_matrix(o.points, s.size, s.coverage, s.centering)
            crop_pts = align.transform_points(o.points[:, :2], m)
            inside = inside_mask(m, s.size, infos[frame].data_window)
            origin = source.origin(frame)
            extra = {"track": int(k), "shot": int(o.shot), "person": int(o.person), "preview": paths["preview"],
                     "file": infos[frame].path, "presence": round(float(o.presence), 6),
                     "outside": round(float(1.0 - inside.mean()), 6),
                     "identity": _r(o.embedding, 6) if o.embedding is not None else None}
            records.append(FaceRecord(
                id=fid, frame=int(frame), face=int(k), source=origin, image=paths["image"], mask=paths["mask"],
                landmarks=_r(crop_pts), transform=_r(m, 8), box=_r(o.box), score=round(float(o.score), 6),
                extra=extra))
            if (out / paths["preview"]).exists() and is_face_file(out / paths["image"]):
                skipped += 1  # written by an earlier run (files appear whole); a v1 crop is written again
                continue
            idx = next((i for i, x in enumerate(obs_by_frame[frame]) if x is o), None)
            hit = cache.get((frame, idx)) if idx is not None else None
            if hit is not None and not _inside_cache(m, s.size, hit[1], hit[0].shape[:2]):
                hit = None  # the smoothed crop left the cached region: read the frame again
            src_px, off = hit if hit is not None else (None, None)
            if hit is None:
                if full is None:
                    t = timer.add("align", t)
                    img, rgb = read_frame(source, frame)
                    full = (rgb, tuple(img.data_window[:2]))
                    t = timer.add("read", t)
                src_px, off = full
            fmeta = {"faceplate:frame": int(frame), "faceplate:source": origin,
                     "faceplate:transform": json.dumps(_r(m, 8)), "faceplate:crop_encoding": json.dumps(enc.to_dict())}
            timer.add("align", t)
            submit(face_files, paths, src_px, off, m, crop_pts, inside, fmeta)
            written += 1
        pbar.step()
    return written, skipped


def write_sheet(out: Path, source, obs_by_frame, selected, tiles, cuts, config, space) -> Path:
    """contact_sheet.png: sampled frames with landmarks; each tile labelled with its shot, and
    ``CUT`` on the first sampled frame after a hard cut."""
    from faceplate.faces.preview import SheetTile, contact_sheet, sample_frames, thumbnail, write_png
    from faceplate.faces.shots import shot_of
    from faceplate.faces.source import read_frame

    frames = list(source.files)
    wanted = sorted(sample_frames(frames) | {int(c) for c in cuts if c in source.files})
    shot = shot_of(frames, cuts)
    for f in wanted:
        if f not in tiles:  # resumed run, or a cut frame: make the thumbnail again
            img, rgb = read_frame(source, f)
            thumb, scale = thumbnail(config.to_proxy(rgb, space), img.data_window[:2])
            tiles[f] = SheetTile(f"{f}", thumb, scale, tuple(img.data_window[:2]))
    seen_shot: set[int] = set()
    for f in wanted:
        label = f"{f}  shot {shot[f]}"
        if cuts and shot[f] not in seen_shot and shot[f] > 0:
            label += "  CUT"
        seen_shot.add(shot[f])
        tiles[f].label = label
        tiles[f].faces = [{"points": o.points, "selected": (f, o.track) in selected, "track": o.track}
                          for o in obs_by_frame[f]]
    return write_png(out / "contact_sheet.png", contact_sheet([tiles[f] for f in wanted]))
