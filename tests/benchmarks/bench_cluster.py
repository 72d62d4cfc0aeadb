"""Cluster benchmark (printed figures, not a test): the render command on a Ray cluster of one host
(tests/support/ray_cluster.py: a head and worker nodes, loopback only, the documented health checks), each worker
with a real CPU ComfyUI on the audio-only workflow:

* cluster start: the head, then each worker node;
* driver overhead per scenario: the same scenarios through a direct /prompt on a ComfyUI of our own, and through
  the cluster driver on one worker node (the difference is what Ray, the driver loop and the bytes' way back add);
  and the batch's start (Ray, the working directory, the worker and its ComfyUI) against a plain ComfyUI start;
* a node's death to the retry's start: a node lost (its Ray processes SIGKILLed) and a node frozen (SIGSTOP) while
  its prompt runs and the other node is idle.

    bash tests/run.sh bench-cluster           # or: python -m tests.benchmarks.bench_cluster
"""
from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from workflows.render import DEFAULT_WORKFLOW, Client, LocalComfyUI, cluster_renderer, render_scenario, to_stderr

from ..support.comfy_server import comfy_dir
from ..support.ray_cluster import HEALTH_CHECKS, add_box, drop_frozen_box, freeze_box, local_cluster, lose_box, node_of

WARM_UP = "plumbus"  # the first prompt of a server loads the voices: timed in neither column
SCENARIOS = ["gazorpazorp", "news_broadcast_1", "fast_food", "finale", "interdimensional_ad_2", "scary_terry"]
LONG = "fake_doors"  # seconds in its voice node: a node fails while it runs


def direct(template: dict) -> tuple[float, dict[str, float]]:
    """A ComfyUI of our own: its start, then each scenario through /prompt, the websocket and /view."""
    started = time.monotonic()
    with LocalComfyUI(comfy_dir(), cpu=True) as url:
        up = time.monotonic() - started
        client = Client(url, 600)
        seconds = {}
        for scenario in [WARM_UP, *SCENARIOS]:
            started = time.monotonic()
            render_scenario(client, template, scenario, lambda share: None)
            seconds[scenario] = time.monotonic() - started
    return up, seconds


def through_cluster(cluster, template: dict, out: Path) -> tuple[float, dict[str, float]]:
    """The same scenarios through the driver: the seconds to the first prompt handed out, then each attempt's."""
    began, first = time.monotonic(), []
    results = cluster_renderer().render_on_cluster(
        cluster.address, [WARM_UP, *SCENARIOS], template, out, comfy_dir(), cpu=True, timeout=600,
        on_start=lambda where, scenario: first.append(time.monotonic() - began) if not first else None)
    return first[0], {r.scenario: r.attempts[-1].seconds for r in results}


def retry_delay(cluster, template: dict, out: Path, fail: Callable[[object], Callable[[], None]]) -> float | None:
    """Seconds from a node's failure to the start of its prompt's retry on the other node, which waits idle: the
    failure comes once the prompt runs and both workers answer. `fail(node)` fails the node and returns its clean-up."""
    state: dict = {"ready": set(), "starts": []}

    def maybe_fail() -> None:
        if "failed_at" not in state and "running" in state and len(state["ready"]) == 2:
            state["failed_at"] = time.monotonic()
            state["clean_up"] = fail(node_of(cluster, state["running"]))

    def log(line: str) -> None:
        to_stderr(line)
        if "ComfyUI ready on" in line:
            state["ready"].add(line.split("ComfyUI ready on ")[1])
            maybe_fail()

    def progress(where: str, scenario: str, share: float) -> None:
        state.setdefault("running", where)
        maybe_fail()

    try:
        cluster_renderer().render_on_cluster(
            cluster.address, [LONG], template, out, comfy_dir(), cpu=True, timeout=600, log=log,
            on_progress=progress, on_start=lambda where, scenario: state["starts"].append(time.monotonic()))
    finally:
        if "clean_up" in state:
            state["clean_up"]()
    if "failed_at" not in state or len(state["starts"]) < 2:
        return None
    return state["starts"][1] - state["failed_at"]


def main() -> int:
    template = json.loads(DEFAULT_WORKFLOW.read_text())
    base = Path(tempfile.mkdtemp(prefix="toongen-bench-cluster-"))
    figures: list[str] = []
    up_direct, direct_seconds = direct(template)
    started = time.monotonic()
    with local_cluster() as cluster:
        head = time.monotonic() - started
        started = time.monotonic()
        add_box(cluster)
        first_node = time.monotonic() - started
        up_cluster, cluster_seconds = through_cluster(cluster, template, base / "overhead")
        started = time.monotonic()
        add_box(cluster)
        second_node = time.monotonic() - started
        figures.append(f"cluster start: head {head:.1f} s, first worker node {first_node:.1f} s, second "
                       f"{second_node:.1f} s (head + 2 nodes {head + first_node + second_node:.1f} s)")
        figures.append(f"batch start: a ComfyUI started directly {up_direct:.1f} s; the cluster driver to its first "
                       f"prompt (Ray, working directory, worker, ComfyUI) {up_cluster:.1f} s")
        figures.append(f"{'scenario':24} {'direct /prompt':>15} {'cluster':>10} {'overhead':>10}")
        for scenario in SCENARIOS:
            a, b = direct_seconds[scenario], cluster_seconds[scenario]
            figures.append(f"{scenario:24} {a:13.2f} s {b:8.2f} s {b - a:+8.2f} s")
        overhead = [cluster_seconds[s] - direct_seconds[s] for s in SCENARIOS]
        figures.append(f"driver overhead per scenario: median {statistics.median(overhead):+.2f} s, mean "
                       f"{statistics.mean(overhead):+.2f} s over {len(SCENARIOS)} scenarios (one worker node)")

        def lose(node) -> Callable[[], None]:
            lose_box(cluster, node)
            return lambda: None

        def freeze(node) -> Callable[[], None]:
            processes = freeze_box(node)
            return lambda: drop_frozen_box(cluster, node, processes)

        settings = ", ".join(f"{k.removeprefix('RAY_health_check_')}={v}" for k, v in HEALTH_CHECKS.items())
        for name, fail in (("lost (SIGKILL)", lose), ("frozen (SIGSTOP)", freeze)):
            delay = retry_delay(cluster, template, base / name.split()[0], fail)
            figures.append(f"node {name} to its prompt's retry starting on the other node: "
                           + (f"{delay:.1f} s" if delay is not None else "not measured (no failure mid-prompt)")
                           + (f" (health checks {settings})" if name.startswith("frozen") else ""))
            add_box(cluster)
    shutil.rmtree(base, ignore_errors=True)
    print("\n" + "\n".join(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
