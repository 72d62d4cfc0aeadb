"""Many generations: N scenarios through a clip workflow with the render command, on a real ComfyUI 0.33.0 with the
video packs and the random-weight model files, at the tests' CPU widget values (tests/support/clip_graph.py).

    bash tests/run.sh bench-clip [--scenarios N] [--workflow toongen_clip_flux_gguf|toongen_clip_flux_fp8]

The scenarios span the shortest and the longest lines. Per scenario it prints the wall time of each stage of the
workflow (its groups in the graph editor, timed from ComfyUI's execution messages) and the server's peak resident
memory while it ran; then each MP4's path on a line of its own, and last `clip: K/N succeeded`.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import psutil

from workflows.render import render_batch

from ..support.clip_graph import (EXECUTED_WORKFLOWS, VARIANT, clip_server, clip_unavailable, cpu_widgets,
                                  ensure_models, load_api_workflow, scratch_dir)
from ..support.comfy_server import REPO
from ..support.peak_rss import PeakRSS


def spanning_scenarios(count: int) -> list[str]:
    """`count` one-voice scenarios (what the single-character clip workflows speak) from the shortest line to the
    longest, evenly spaced by length rank."""
    library = [s for s in json.loads((REPO / "assets" / "scenarios.json").read_text())["scenarios"]
               if not s.get("speakers")]
    ranked = [s["id"] for s in sorted(library, key=lambda s: len(s["script"]))]
    if count >= len(ranked):
        return ranked
    if count == 1:
        return ranked[:1]
    return [ranked[round(i * (len(ranked) - 1) / (count - 1))] for i in range(count)]


def stage_of_node(workflow: str) -> dict[str, str]:
    """node id → the title of the group that holds it in the graph-editor file (the workflow's stages)."""
    ui = json.loads((REPO / "workflows" / f"{workflow}.json").read_text())
    stages = {}
    for node in ui["nodes"]:
        x, y = node["pos"]
        for group in ui["groups"]:
            gx, gy, gw, gh = group["bounding"]
            if gx <= x <= gx + gw and gy <= y <= gy + gh:
                stages[str(node["id"])] = group["title"]
                break
    return stages


class StageClock:
    """Per scenario: seconds per stage, from the arrival of each `executing` message to the next."""

    def __init__(self, stages: dict[str, str]):
        self.stages = stages
        self.current: dict[str, tuple[str, float]] = {}
        self.seconds: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))

    def message(self, server: str, scenario: str, message: dict) -> None:
        if message.get("type") not in ("executing", "execution_success", "execution_error"):
            return
        now = time.monotonic()
        if scenario in self.current:
            node, started = self.current.pop(scenario)
            self.seconds[scenario][self.stages.get(node, "other")] += now - started
        node = message.get("data", {}).get("node")
        if message["type"] == "executing" and node is not None:
            self.current[scenario] = (str(node), now)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Clip workflow: N scenarios, stage times and peak memory.")
    parser.add_argument("--scenarios", type=int, default=5, help="how many scenarios (default 5)")
    parser.add_argument("--workflow", default=EXECUTED_WORKFLOWS[0], choices=EXECUTED_WORKFLOWS)
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds one scenario may take")
    args = parser.parse_args(argv)
    reason = clip_unavailable()
    if reason:
        parser.error(reason)
    scenarios = spanning_scenarios(args.scenarios)
    started = time.monotonic()
    models = ensure_models((VARIANT[args.workflow],))
    print(f"model files ready in {time.monotonic() - started:.0f} s: {models}", file=sys.stderr)
    base = scratch_dir("toongen-bench-clip-")
    started = time.monotonic()
    server = clip_server(base, models)
    print(f"ComfyUI {server.version} with the video packs up in {time.monotonic() - started:.0f} s", file=sys.stderr)
    clock = StageClock(stage_of_node(args.workflow))
    peaks: dict[str, int] = {}
    try:
        with PeakRSS(psutil.Process(server.process.pid)) as memory:
            def on_start(url: str, scenario: str) -> None:
                memory.take()

            def on_message(url: str, scenario: str, message: dict) -> None:
                clock.message(url, scenario, message)
                if message.get("type") in ("execution_success", "execution_error"):
                    peaks[scenario] = memory.take()

            results = render_batch(server.url, scenarios, cpu_widgets(load_api_workflow(args.workflow)),
                                   base / "renders", timeout=args.timeout, on_start=on_start, on_message=on_message)
    finally:
        server.stop()
    print(f"\n{args.workflow}, CPU widget values, ComfyUI {server.version}")
    for r in results:
        status = "ok" if not r.error else f"FAILED: {r.error}"
        print(f"{r.scenario}: {r.seconds:.0f} s, peak RSS {peaks.get(r.scenario, 0) / 2**30:.2f} GiB, {status}")
        for stage, seconds in clock.seconds[r.scenario].items():
            print(f"  {stage:44} {seconds:8.1f} s")
    for r in results:
        for path in r.files:
            if path.endswith(".mp4"):
                print(Path(path).resolve())
    succeeded = sum(1 for r in results if not r.error)
    print(f"clip: {succeeded}/{len(results)} succeeded")
    return 0 if succeeded == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
