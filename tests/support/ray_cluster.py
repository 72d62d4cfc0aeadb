"""A Ray cluster of one host for the cluster tests and benchmark (ray.cluster_utils.Cluster: a head and worker nodes
as separate processes), and the ways its nodes fail: lost (all their Ray processes SIGKILLed) or frozen (SIGSTOP).

One host hides what separate machines show, so: nodes are told apart by node id, never by address; each worker node
gets a temp folder of its own (its ComfyUI's base folder lies there; it goes when the node is lost), so that outputs
can reach OUT/ only as the bytes the driver gets back; every address is loopback (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0,
which Ray reads when imported, so it is set on its constant here as well). The GCS health checks are the documented
ones (nodes/web/docs/guide/render.md).
"""
from __future__ import annotations

import os
import shutil
import signal
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import psutil
from ray._private import ray_constants
from ray.cluster_utils import Cluster

HEALTH_CHECKS = {"RAY_health_check_period_ms": "1000", "RAY_health_check_timeout_ms": "1000",
                 "RAY_health_check_failure_threshold": "5"}


@contextmanager
def local_cluster() -> Iterator[Cluster]:
    """A head node (no CPUs, no dashboard) on 127.0.0.1; add worker nodes with add_box()."""
    root = Path(tempfile.mkdtemp(prefix="tg-ray-"))  # short: Ray's socket paths live under it
    env = {"RAY_TMPDIR": str(root / "ray"), "RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
           "HF_HUB_OFFLINE": "1", **HEALTH_CHECKS}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # for the cluster's processes and the drivers started from here
    enabled_before = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    cluster = None
    try:
        cluster = Cluster(initialize_head=True, head_node_args=dict(num_cpus=0, include_dashboard=False,
                                                                    object_store_memory=80 << 20))
        assert cluster.address.startswith("127.0.0.1:"), cluster.address
        cluster.box_dirs = {}
        yield cluster
    finally:
        if cluster:
            cluster.shutdown()
        ray_constants.ENABLE_RAY_CLUSTER = enabled_before
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key)
            else:
                os.environ[key] = value
        shutil.rmtree(root, ignore_errors=True)


def add_box(cluster: Cluster):
    """A worker node with one `comfyui` unit and a temp folder of its own."""
    box_dir = Path(tempfile.mkdtemp(prefix="box-", dir=Path(os.environ["RAY_TMPDIR"]).parent))
    node = cluster.add_node(num_cpus=1, resources={"comfyui": 1}, object_store_memory=80 << 20,
                            env_vars={"TMPDIR": str(box_dir)})
    assert node.node_ip_address == "127.0.0.1", node.node_ip_address
    cluster.box_dirs[node.node_id] = box_dir
    return node


def lose_box(cluster: Cluster, node) -> None:
    """The box is gone: its Ray processes killed, its disk with them."""
    cluster.remove_node(node, allow_graceful=False)
    shutil.rmtree(cluster.box_dirs.pop(node.node_id), ignore_errors=True)


def freeze_box(node) -> list[psutil.Process]:
    """SIGSTOP the box's Ray and everything under it (a hang or a partition: no socket closes); returns them."""
    processes = [raylet(node), *raylet(node).children(recursive=True)]
    for process in processes:
        process.send_signal(signal.SIGSTOP)
    return processes


def drop_frozen_box(cluster: Cluster, node, processes: list[psutil.Process]) -> None:
    for process in processes:
        if process.is_running():
            process.kill()
    lose_box(cluster, node)


def node_of(cluster: Cluster, where: str):
    """The worker node behind an attempt's server, "node 1a2b3c4d cpu"."""
    return next(n for n in cluster.worker_nodes if n.node_id.startswith(where.split()[1]))


def raylet(node) -> psutil.Process:
    return psutil.Process(node.all_processes[ray_constants.PROCESS_TYPE_RAYLET][0].process.pid)


def comfy_processes(node) -> list[psutil.Process]:
    """The ComfyUI servers the node's workers started (its raylet's descendants running main.py)."""
    found = []
    for process in raylet(node).children(recursive=True):
        try:
            if "main.py" in process.cmdline():
                found.append(process)
        except psutil.NoSuchProcess:
            pass
    return found


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    def running(process: psutil.Process) -> bool:
        try:
            return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False
    return [p for p in processes if running(p)]
