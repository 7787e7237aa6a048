"""Training data: two face sets, paired samples, a step-indexed sampler, data hashes.

Sample ``k`` (a global index: step × world × batch + rank × batch + j) is a pure function of
``(seed, k)``: which face of A and of B, and every augmentation draw. So a run is the same with
any number of workers, and ``--resume`` at step ``s`` simply continues at index ``s × world × batch``.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from faceplate.errors import FaceSetError
from faceplate.faces.faceset import FaceSet, check_same_colour, load_for_training
from faceplate.train.augment import AugmentSettings, augment


def load_pair(a: str | Path, b: str | Path) -> tuple[FaceSet, FaceSet]:
    """Both face sets (folders or selection JSONs), checked non-empty and colour-compatible."""
    sets = []
    for name, path in (("A", a), ("B", b)):
        flag = f"--{name.lower()}"
        if not Path(path).exists():
            raise FaceSetError(f"{flag} {path}: not found; expected a face-set folder made by 'faceplate extract' "
                               f"or a selection JSON")
        try:
            fs = load_for_training(path)
        except FaceSetError as exc:
            raise FaceSetError(f"{flag} (face set {name}): {exc}") from None
        if not fs.faces:
            raise FaceSetError(f"{flag} (face set {name}) {path}: expected at least one face, found none")
        sets.append(fs)
    fa, fb = sets
    check_same_colour(fa, fb)
    return fa, fb


def data_hash(fs: FaceSet) -> str:
    """sha256 over the face ids and the bytes of every crop and mask file used for training (a v2 face
    file, which holds both, once)."""
    h = hashlib.sha256()
    for rec in fs.faces:
        h.update(rec.id.encode("utf-8") + b"\0")
        for p in dict.fromkeys((fs.image_path(rec), fs.mask_path(rec))):
            with open(p, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()


class FaceSource:
    """Faces of one set at the training resolution (float16 precision), from memory or from disk."""

    def __init__(self, fs: FaceSet, resolution: int, cache_mb: int) -> None:
        self.fs, self.resolution = fs, resolution
        need = len(fs.faces) * resolution * resolution * 6 * 2 / 2 ** 20
        self.cache: list[tuple[np.ndarray, np.ndarray]] | None = None
        if need <= cache_mb:
            self.cache = []
            for i in range(len(fs.faces)):
                self.cache.append(self._read(i))

    def __len__(self) -> int:
        return len(self.fs.faces)

    def _read(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        rec = self.fs.faces[i]
        img, msk = self.fs.read_face(rec)
        for what, arr in (("crop", img), ("mask", msk)):
            if arr.ndim != 3 or arr.shape[0] != arr.shape[1]:
                raise FaceSetError(f"face set {self.fs.root}, face {rec.id}: expected a square {what}, "
                                   f"found {arr.shape[1]}x{arr.shape[0]}")
        if img.shape[:2] != msk.shape[:2]:
            raise FaceSetError(f"face set {self.fs.root}, face {rec.id}: crop is {img.shape[1]}x{img.shape[0]} "
                               f"but mask is {msk.shape[1]}x{msk.shape[0]}")
        if img.shape[0] != self.resolution:
            import cv2

            interp = cv2.INTER_AREA if img.shape[0] > self.resolution else cv2.INTER_CUBIC
            img = cv2.resize(img, (self.resolution, self.resolution), interpolation=interp)
            msk = cv2.resize(msk, (self.resolution, self.resolution), interpolation=interp)
        # faces are held as float16 (half the memory); read from disk or cache, they are the same values
        return np.clip(img, 0, 1).astype(np.float16), np.clip(msk, 0, 1).astype(np.float16)

    def get(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        img, msk = self.cache[i] if self.cache is not None else self._read(i)
        return img.astype(np.float32), msk.astype(np.float32)

    def landmarks(self, i: int) -> np.ndarray | None:
        """Face ``i``'s 468 landmarks in training-resolution crop pixels, or None when its record has none."""
        from faceplate.train.expression import usable

        pts = self.fs.faces[i].landmarks
        if not usable(pts, self.fs.resolution):
            return None
        return np.asarray(pts, np.float64)[:, :2] * (self.resolution / self.fs.resolution)


def expression_targets(src: FaceSource) -> list[dict[str, float]]:
    """The expression measures (:func:`faceplate.curate.expression.measures`) of every face of
    ``src`` that has landmarks: what the other identity's matched expressions copy."""
    from faceplate.curate.expression import measures

    return [measures(p) for p in (src.landmarks(i) for i in range(len(src))) if p is not None]


def _chw(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))


class PairDataset(Dataset):
    """Item ``k`` -> dict of CHW float32 tensors: ``in_a, tgt_a, mask_a, in_b, tgt_b, mask_b``.

    ``aug_b`` (default ``aug``) augments B: the two differ in their synthesized-expression share.
    ``targets`` maps a side to the expression measures its matched expressions copy (the other
    set's faces, :func:`expression_targets`; one is drawn per sample).
    """

    def __init__(self, a: FaceSource, b: FaceSource, seed: int, aug: AugmentSettings,
                 aug_b: AugmentSettings | None = None,
                 targets: dict[str, list[dict[str, float]]] | None = None) -> None:
        self.a, self.b, self.seed, self.aug = a, b, int(seed), aug
        self.aug_b = aug if aug_b is None else aug_b
        self.targets = targets or {}

    def __len__(self) -> int:  # the sampler decides; this is only a nominal size
        return 2 ** 62

    def __getitem__(self, k: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, int(k)])
        out: dict[str, torch.Tensor] = {}
        for side, src, aug in (("a", self.a, self.aug), ("b", self.b, self.aug_b)):
            i = int(rng.integers(len(src)))
            img, msk = src.get(i)
            pts = src.landmarks(i) if aug.expression_prob > 0 else None
            want = self.targets.get(side) if pts is not None and aug.expression_match > 0 else None
            target = want[int(rng.integers(len(want)))] if want else None
            inp, tgt, tm = augment(img, msk, rng, aug, pts, target)
            out[f"in_{side}"], out[f"tgt_{side}"], out[f"mask_{side}"] = _chw(inp), _chw(tgt), _chw(tm)
        return out


@dataclass
class StepBatchSampler(Sampler[list[int]]):
    """Yields, for steps ``start .. stop-1``, this rank's ``batch`` global sample indices."""

    start: int
    stop: int
    batch: int
    rank: int = 0
    world: int = 1

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.start, self.stop):
            base = (step * self.world + self.rank) * self.batch
            yield list(range(base, base + self.batch))

    def __len__(self) -> int:
        return max(0, self.stop - self.start)


def worker_init(_: int) -> None:
    """Data-loader workers: one thread each, and Ctrl-C is left to the main process."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)


def make_loader(ds: PairDataset, sampler: StepBatchSampler, workers: int, prefetch: int, seed: int,
                pin: bool) -> torch.utils.data.DataLoader:
    if workers:
        # OpenCV's thread pool does not survive fork (a forked worker deadlocks on it): run OpenCV
        # single-threaded before the workers are forked; the workers are the parallelism.
        import cv2

        cv2.setNumThreads(0)
    g = torch.Generator()
    g.manual_seed(seed)
    kw = dict(num_workers=workers, pin_memory=pin, generator=g, worker_init_fn=worker_init if workers else None)
    if workers:
        kw["prefetch_factor"] = prefetch
    return torch.utils.data.DataLoader(ds, batch_sampler=sampler, **kw)


def preview_batch(a: FaceSource, b: FaceSource, n: int = 4) -> dict[str, torch.Tensor]:
    """The first ``n`` faces of each set, not augmented (NCHW), for preview grids."""
    out = {}
    m = min(n, len(a), len(b))
    for side, src in (("a", a), ("b", b)):
        idx = np.linspace(0, len(src) - 1, m).round().astype(int)
        imgs = [src.get(int(i)) for i in idx]
        out[side] = torch.stack([_chw(i) for i, _ in imgs])
    return out
