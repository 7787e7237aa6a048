"""Training data read from face sets of either layout: the same pixels, data hashes over the files."""
import hashlib

import numpy as np

from faceplate.train.data import FaceSource, data_hash
from train_fixtures import make_faceset


def _manual_hash(fs, files_of):
    h = hashlib.sha256()
    for rec in fs.faces:
        h.update(rec.id.encode("utf-8") + b"\0")
        for p in files_of(rec):
            h.update((fs.root / p).read_bytes())
    return h.hexdigest()


def test_v1_and_v2_sets_give_the_same_faces_and_hash_their_files(tmp_path):
    v1 = make_faceset(tmp_path / "v1", n=3, seed=4)
    v2 = make_faceset(tmp_path / "v2", n=3, seed=4, layout="v2")
    assert v1.faces[0].mask != v1.faces[0].image and v2.faces[0].mask == v2.faces[0].image
    # v1: crop then mask file, as before the one-file layout (hashes recorded in older runs still match)
    assert data_hash(v1) == _manual_hash(v1, lambda r: (r.image, r.mask))
    assert data_hash(v2) == _manual_hash(v2, lambda r: (r.image,))  # the one file, once
    a, b = FaceSource(v1, 64, cache_mb=0), FaceSource(v2, 64, cache_mb=64)
    for i in range(3):
        (ia, ma), (ib, mb) = a.get(i), b.get(i)
        assert np.array_equal(ia, ib) and np.array_equal(ma, mb)
