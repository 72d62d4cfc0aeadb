"""Headless batch rendering against two real local ComfyUI servers (audio-only workflow)."""
from __future__ import annotations

import json
import os
import signal
import threading

import pytest
import soundfile

from ..nodes.batch_render import DEFAULT_WORKFLOW, main, render_batch
from .comfy_server import ComfyServer
from .conftest import TOONGEN_NODE_IDS

SCENARIOS = ["fake_doors", "baby_legs", "plumbus", "alien_greeting"]


@pytest.fixture
def second_server(tmp_path):
    server = ComfyServer(base_dir=tmp_path / "second").start(expect_nodes=TOONGEN_NODE_IDS)
    yield server
    server.stop()


def test_batch_spreads_over_two_servers_and_collects_outputs(comfy, second_server, tmp_path):
    out = tmp_path / "renders"
    code = main(["--server", comfy.url, "--server", second_server.url, *sum([["--scenario", s] for s in SCENARIOS], []),
                 "--out", str(out)])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert [r["scenario"] for r in summary] == SCENARIOS and all(not r["error"] for r in summary)
    assert {r["server"] for r in summary} == {comfy.url, second_server.url}
    for r in summary:
        wavs = [f for f in r["files"] if f.endswith(".wav")]
        assert wavs and soundfile.info(wavs[0]).duration > 2.0 and r["seconds"] > 0


def test_a_server_that_dies_mid_batch_has_its_prompts_retried_on_the_other(comfy, second_server, tmp_path):
    killed = []

    def kill_second(url, scenario):
        if url == second_server.url and not killed:
            killed.append(scenario)
            threading.Timer(0.5, lambda: os.killpg(second_server.process.pid, signal.SIGKILL)).start()

    template = json.loads(DEFAULT_WORKFLOW.read_text())
    results = render_batch([comfy.url, second_server.url], SCENARIOS, template, tmp_path / "out", timeout=600,
                           log=lambda line: None, on_start=kill_second)
    assert killed, "the second server never got a prompt"
    assert all(not r.error for r in results), [r.error for r in results]
    retried = next(r for r in results if r.scenario == killed[0])
    assert retried.attempts == 2 and retried.server == comfy.url and retried.files


def test_unknown_scenario_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(["--server", "http://127.0.0.1:1", "--scenario", "../etc"])
    assert "fake_doors" in capsys.readouterr().err
