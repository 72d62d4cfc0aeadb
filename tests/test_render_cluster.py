"""The render command on a Ray cluster (render.py --ray, workflows/render_cluster.py), with real processes on one
host: a head and two worker nodes (tests/support/ray_cluster.py says how one host is kept honest), each worker's
ComfyUI a real CPU server on the audio-only workflow; nodes are lost, frozen and added, a ComfyUI and the driver are
killed while a batch runs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile

try:
    from .support.ray_cluster import (add_box, alive, comfy_processes, drop_frozen_box, freeze_box, local_cluster,
                                      lose_box, node_of)
except ImportError as exc:  # said by the cluster fixture, so that a run which deselects these tests needs no Ray
    RAY_MISSING: ImportError | None = exc
else:
    RAY_MISSING = None

from ..workflows.render import DEFAULT_WORKFLOW, cluster_renderer, main
from .support.comfy_server import REPO, comfy_dir

# On a CPU ComfyUI the long ones spend seconds in their voice node, so a node can fail mid-prompt; the short ones
# keep the batches quick.
LONG = ["fake_doors", "alien_greeting", "personal_space"]
SHORT = ["plumbus", "gazorpazorp", "news_broadcast_1", "fast_food", "finale"]


@pytest.fixture(scope="module")
def cluster():
    if RAY_MISSING is not None:
        if os.environ.get("CI"):
            pytest.fail(f"ray is not installed ({RAY_MISSING}), and CI must run these tests: tests/bootstrap.sh "
                        "installs it with `pip install -r workflows/requirements-render.txt`", pytrace=False)
        pytest.skip("ray is not installed (pip install -r workflows/requirements-render.txt)")
    with local_cluster() as cluster:
        yield cluster


@pytest.fixture
def boxes(cluster):
    """The cluster with two live worker nodes (replacing those an earlier test took down)."""
    while len(cluster.worker_nodes) < 2:
        add_box(cluster)
    return cluster


def render(cluster, scenarios: list[str], out: Path, **hooks):
    return cluster_renderer().render_on_cluster(cluster.address, scenarios, json.loads(DEFAULT_WORKFLOW.read_text()),
                                                out, comfy_dir(), cpu=True, timeout=600, **hooks)


def assert_rendered_once(out: Path, scenarios: list[str]) -> None:
    """Every scenario done: one folder each in OUT/ with one valid WAV (plain files written by the driver), one
    journal line each, and summary.json complete."""
    summary = json.loads((out / "summary.json").read_text())
    assert [r["scenario"] for r in summary] == scenarios
    assert [(r["scenario"], r["error"]) for r in summary if r["error"]] == []
    journal = [json.loads(line)["scenario"] for line in (out / "journal.jsonl").read_text().splitlines()]
    assert sorted(journal) == sorted(scenarios)
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(scenarios)
    for scenario in scenarios:
        (wav,) = (out / scenario).iterdir()
        assert wav.suffix == ".wav" and wav.is_file() and not wav.is_symlink()
        assert soundfile.info(wav).duration > 2.0


def test_a_batch_spreads_over_the_nodes(boxes, tmp_path, capsys):
    out = tmp_path / "out"
    scenarios = [LONG[0], *SHORT[:3]]
    assert main(["--ray", boxes.address, "--start-comfyui", str(comfy_dir()), "--cpu", "--out", str(out),
                 *sum([["--scenario", s] for s in scenarios], [])]) == 0
    assert_rendered_once(out, scenarios)
    summary = json.loads((out / "summary.json").read_text())
    assert {r["server"].split()[1] for r in summary} == {n.node_id[:8] for n in boxes.worker_nodes}
    for r in summary:
        assert [(a["server"], a["error"]) for a in r["attempts"]] == [(r["server"], "")] and r["seconds"] > 0
    printed = capsys.readouterr().out.split()
    assert sorted(printed) == sorted(str(Path(f).resolve()) for r in summary for f in r["files"])


def test_a_node_killed_mid_prompt_costs_only_time_and_a_node_that_joins_renders(boxes, tmp_path):
    """A box dies while its prompt runs: the prompt is rendered again on the other box, the dead box's ComfyUI is
    gone with it, and the box that joins in its place is given work."""
    lost = {}

    def kill_first_running(where: str, scenario: str, share: float) -> None:
        if not lost:
            node = node_of(boxes, where)
            lost.update(where=where, scenario=scenario, comfyui=comfy_processes(node))
            lose_box(boxes, node)
            lost["joined"] = add_box(boxes).node_id[:8]

    out = tmp_path / "out"
    scenarios = [*LONG, *SHORT[:2]]
    results = {r.scenario: r for r in render(boxes, scenarios, out, on_progress=kill_first_running)}
    assert lost, "no node reported a running prompt"
    assert_rendered_once(out, scenarios)
    first, second = results[lost["scenario"]].attempts
    assert first.server == lost["where"] and "lost" in first.error
    assert not second.error and second.server.split()[1] != lost["where"].split()[1]
    assert lost["comfyui"] and not alive(lost["comfyui"]), "the dead node's ComfyUI outlived it"
    joined = [r.scenario for r in results.values() if r.server.split()[1] == lost["joined"]]
    assert joined, f"the node that joined rendered nothing: {[(r.scenario, r.server) for r in results.values()]}"


def test_a_frozen_node_loses_its_prompt_within_seconds(boxes, tmp_path):
    """SIGSTOP of a box's Ray and everything under it (a hang or a partition: no socket closes): the GCS health
    checks declare it dead and its prompt is rendered elsewhere."""
    frozen = {}
    started = {}

    def freeze_first_running(where: str, scenario: str, share: float) -> None:
        if not frozen:
            node = node_of(boxes, where)
            frozen.update(where=where, scenario=scenario, node=node, processes=freeze_box(node), at=time.monotonic())

    def note_start(where: str, scenario: str) -> None:
        started.setdefault(scenario, []).append(time.monotonic())

    out = tmp_path / "out"
    scenarios = [LONG[0], *SHORT[:3]]
    try:
        results = {r.scenario: r for r in render(boxes, scenarios, out, on_progress=freeze_first_running,
                                                  on_start=note_start)}
    finally:
        if frozen:
            drop_frozen_box(boxes, frozen["node"], frozen["processes"])
    assert frozen, "no node reported a running prompt"
    assert_rendered_once(out, scenarios)
    first, second = results[frozen["scenario"]].attempts
    assert first.server == frozen["where"] and "lost" in first.error and not second.error
    noticed = started[frozen["scenario"]][0] + first.seconds - frozen["at"]
    moved = started[frozen["scenario"]][1] - frozen["at"]
    print(f"frozen node: its prompt failed {noticed:.1f} s after SIGSTOP and started again {moved:.1f} s after it")
    assert moved < 60.0  # the documented health checks: about 10 s; far more than that on a slow machine


def test_a_comfyui_that_crashes_is_started_again_and_takes_later_work(boxes, tmp_path):
    killed = {}

    def kill_first_comfyui(where: str, scenario: str, share: float) -> None:
        if not killed:
            (comfyui,) = comfy_processes(node_of(boxes, where))
            comfyui.kill()
            killed.update(where=where, scenario=scenario, pid=comfyui.pid)

    out = tmp_path / "out"
    scenarios = [*LONG[:2], *SHORT[:3]]
    results = {r.scenario: r for r in render(boxes, scenarios, out, on_progress=kill_first_comfyui)}
    assert killed, "no node reported a running prompt"
    assert_rendered_once(out, scenarios)
    first, second = results[killed["scenario"]].attempts
    assert first.server == killed["where"] and first.error and not second.error
    assert second.server != killed["where"]
    later = [r.scenario for r in results.values() if r.server == killed["where"] and r.scenario != killed["scenario"]]
    assert later, "the box whose ComfyUI crashed rendered nothing afterwards"


def test_a_killed_driver_resumes_from_the_journal(boxes, tmp_path, capsys):
    out = tmp_path / "out"
    scenarios = SHORT
    command = [sys.executable, str(REPO / "workflows" / "render.py"), "--ray", boxes.address, "--start-comfyui",
               str(comfy_dir()), "--cpu", "--out", str(out), *sum([["--scenario", s] for s in scenarios], [])]
    with open(tmp_path / "driver.log", "wb") as log:
        driver = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        journal = out / "journal.jsonl"
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and driver.poll() is None:
            if journal.exists() and len(journal.read_text().splitlines()) >= 2:
                break
            time.sleep(0.2)
        assert driver.poll() is None, (tmp_path / "driver.log").read_text()[-3000:]
        comfyuis = [p for n in boxes.worker_nodes for p in comfy_processes(n)]
        driver.kill()
        driver.wait()
    done = [json.loads(line) for line in journal.read_text().splitlines()]
    assert 2 <= len(done) < len(scenarios) and comfyuis
    deadline = time.monotonic() + 60
    while alive(comfyuis) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not alive(comfyuis), "the ComfyUIs of the killed driver's workers outlived them"
    with pytest.raises(SystemExit):
        main(command[2:])
    assert "--resume" in capsys.readouterr().err
    assert main([*command[2:], "--resume"]) == 0
    assert_rendered_once(out, scenarios)
    summary = {r["scenario"]: r for r in json.loads((out / "summary.json").read_text())}
    for entry in done:  # as the first run recorded them: not rendered again
        assert summary[entry["scenario"]] == entry
    printed = capsys.readouterr().out.split()
    assert sorted(printed) == sorted(str(Path(f).resolve()) for r in summary.values() for f in r["files"])


def test_boxes_that_cannot_start_comfyui_stop_the_batch_with_the_reason(boxes, tmp_path):
    results = cluster_renderer().render_on_cluster(boxes.address, SHORT[:2], json.loads(DEFAULT_WORKFLOW.read_text()),
                                                   tmp_path / "out", tmp_path / "no-comfyui", cpu=True)
    for r in results:
        assert r.error.startswith("no worker could start ComfyUI") and "no main.py" in r.error, r.error
