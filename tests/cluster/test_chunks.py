"""Pure pieces of the cluster code: chunks, frame-range text, addresses, worker resources."""
from __future__ import annotations

import pytest

from faceplate.cluster.chunks import Chunk, ranges, split
from faceplate.cluster.runtime import Resources, check_address
from faceplate.errors import InputError


def test_split_keeps_order_and_the_last_chunk_is_shorter():
    assert split(list(range(1001, 1011)), 4) == [[1001, 1002, 1003, 1004], [1005, 1006, 1007, 1008], [1009, 1010]]
    assert split([5], 10) == [[5]] and split([], 3) == []
    with pytest.raises(InputError, match="--chunk: expected >= 1 frame per chunk, found 0"):
        split([1, 2], 0)


def test_ranges_text():
    assert ranges([1003, 1001, 1002, 1005, 1007, 1008]) == "1001-1003,1005,1007-1008"
    assert ranges([7]) == "7" and ranges([]) == ""


def test_a_retried_chunk_runs_only_what_is_left():
    c = Chunk(0, [1, 2, 3, 4])
    c.done |= {1, 2}
    assert c.remaining() == [3, 4] and c.label == "1-4"


@pytest.mark.parametrize("good", ["auto", "ray://head:10001", "10.0.0.5:6379"])
def test_cluster_addresses(good):
    assert check_address(good) == good


@pytest.mark.parametrize("bad", ["", "head", "http://head:8265"])
def test_bad_cluster_addresses_are_named(bad):
    with pytest.raises(InputError, match="--cluster: expected 'auto'"):
        check_address(bad)


def test_one_worker_per_gpu_else_one_per_machine():
    gpu = Resources(cpus=64, gpus=4, nodes=2)
    assert gpu.default_workers() == 4 and gpu.worker_options() == {"num_gpus": 1, "num_cpus": 1}
    cpu = Resources(cpus=48, gpus=0, nodes=3)
    assert cpu.default_workers() == 3 and cpu.worker_options() == {"num_cpus": 1}


def test_temporaries_of_dead_workers_on_this_machine_are_removed(tmp_path):
    from faceplate.cluster.render import _remove_temporaries
    from faceplate.cluster.runtime import node_name
    from faceplate.render.settings import RenderSettings

    names = [".passes.1001.tmp-4242-0a1b2c3d.exr", ".passes.1002.tmp-4243-0a1b2c3d.exr", "passes.1000.exr"]
    for n in names:
        (tmp_path / n).write_bytes(b"x")
    spec = {"out": str(tmp_path / "passes.####.exr"), "settings": RenderSettings(model="m.onnx").to_dict(),
            "separate": False}
    _remove_temporaries(spec, [{"pid": 4242, "host": node_name()}, {"pid": 4243, "host": "another-node"}])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[1:])  # another machine's PID: left alone


def test_workers_are_capped_at_what_the_cluster_can_place():
    assert Resources(cpus=2, gpus=0).capacity() == 2 and Resources(cpus=64, gpus=4).capacity() == 4
