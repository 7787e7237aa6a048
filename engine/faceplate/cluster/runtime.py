"""Connecting to Ray: ``auto`` (a local runtime), ``ray://host:port`` (an existing cluster through
Ray Client) or any address ``ray.init`` accepts (``host:port`` from a cluster node).

Ray is the optional extra ``faceplate[cluster]``; it is imported here only, lazily, and its absence
raises :class:`~faceplate.errors.MissingDependencyError` naming the extra.
"""
from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from typing import Any, Iterator

from faceplate.errors import ClusterError, InputError, require

log = logging.getLogger("faceplate.cluster")

#: environment variables handed from the caller to every worker when set (paths on shared storage)
WORKER_ENV = ("OCIO", "FACEPLATE_ASSETS")


def ray_module():
    """The ``ray`` module, or a :class:`MissingDependencyError` naming ``faceplate[cluster]``."""
    return require("ray", "cluster")


def check_address(address: str) -> str:
    """``--cluster`` value: ``auto``, ``ray://host:port`` or ``host:port``; else an :class:`InputError`."""
    a = (address or "").strip()
    if a == "auto" or a.startswith("ray://") or (":" in a and not a.startswith(("http://", "https://"))):
        return a
    raise InputError(f"--cluster: expected 'auto' (a local Ray runtime), 'ray://HOST:PORT' or 'HOST:PORT', "
                     f"found {address!r}")


def worker_env() -> dict[str, str]:
    """The caller's settings that workers need to give identical output (colour config, face assets)."""
    return {k: os.environ[k] for k in WORKER_ENV if os.environ.get(k)}


@dataclass(frozen=True)
class Resources:
    """What the connected cluster offers: CPUs and GPUs in total, and its machines (alive nodes)."""

    cpus: float
    gpus: float
    nodes: int = 1

    def worker_options(self) -> dict[str, Any]:
        """Ray options of one long-lived worker: one GPU each where there are GPUs, else one CPU."""
        return {"num_gpus": 1, "num_cpus": 1} if self.gpus >= 1 else {"num_cpus": 1}

    def default_workers(self) -> int:
        """One per GPU; without GPUs one per machine (a worker's reader, model and EXR writer threads
        already use the machine's cores; more workers on one machine only contend for them)."""
        return int(self.gpus) if self.gpus >= 1 else max(1, self.nodes)

    def capacity(self) -> int:
        """The most workers the cluster can place at once (one GPU, else one CPU, each)."""
        return max(1, int(self.gpus) if self.gpus >= 1 else int(self.cpus))


@contextlib.contextmanager
def connect(address: str) -> Iterator[Resources]:
    """Connect to the cluster for the duration of the block.

    A Ray runtime already initialised in this process (e.g. by a test or a notebook) is used as it
    is and left running; one started or joined here is shut down at the end.
    """
    ray = ray_module()
    address = check_address(address)
    started = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING,
                                  "include_dashboard": False}
        # 'auto' starts a runtime of its own ("local"), never joining a stale one by accident
        kwargs["address"] = "local" if address == "auto" else address
        try:
            ray.init(**kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ClusterError(f"--cluster {address}: cannot connect to the Ray cluster ({exc})") from exc
        started = True
    try:
        res = ray.cluster_resources()
        nodes = sum(1 for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) > 0)
        yield Resources(cpus=float(res.get("CPU", 0.0)), gpus=float(res.get("GPU", 0.0)), nodes=max(1, nodes))
    finally:
        if started:
            ray.shutdown()


def is_client() -> bool:
    """Whether this process talks to the cluster through Ray Client (``ray://``)."""
    try:
        from ray.util.client import ray as client_ray
    except ImportError:  # pragma: no cover - depends on the Ray build
        return False
    return bool(client_ray.is_connected())


def node_name() -> str:
    """This process's host, for messages from a worker."""
    import socket

    return socket.gethostname()
