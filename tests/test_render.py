"""The render command against real local ComfyUI servers (audio-only workflow): one scenario or many, on one
server or several, and a ComfyUI it starts itself (the README's main job)."""
from __future__ import annotations

import json
import os
import signal
import tempfile
import threading
from pathlib import Path

import pytest
import soundfile

from ..nodes.library.scenarios import load_scenarios
from ..workflows.render import DEFAULT_WORKFLOW, load_workflow, main, render_batch
from .conftest import TOONGEN_NODE_IDS
from .support import bs1770_meter
from .support.comfy_server import ComfyServer, comfy_dir

SCENARIOS = ["fake_doors", "baby_legs", "plumbus", "alien_greeting"]


@pytest.fixture
def second_server(tmp_path):
    server = ComfyServer(base_dir=tmp_path / "second").start(expect_nodes=TOONGEN_NODE_IDS)
    yield server
    server.stop()


def test_batch_spreads_over_two_servers_and_collects_outputs(comfy, second_server, tmp_path, capsys):
    out = tmp_path / "renders"
    code = main(["--server", comfy.url, "--server", second_server.url, *sum([["--scenario", s] for s in SCENARIOS], []),
                 "--out", str(out)])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert [r["scenario"] for r in summary] == SCENARIOS and all(not r["error"] for r in summary)
    assert {r["server"] for r in summary} == {comfy.url, second_server.url}
    for r in summary:
        assert [(a["server"], a["error"]) for a in r["attempts"]] == [(r["server"], "")]
        wavs = [f for f in r["files"] if f.endswith(".wav")]
        assert wavs and soundfile.info(wavs[0]).duration > 2.0 and r["seconds"] > 0
    printed = capsys.readouterr().out.split()
    assert sorted(printed) == sorted(str(Path(f).resolve()) for r in summary for f in r["files"])


def test_a_server_that_dies_mid_batch_shows_both_attempts(comfy, second_server, tmp_path):
    killed = []

    def kill_second(url, scenario):
        if url == second_server.url and not killed:
            killed.append(scenario)
            threading.Timer(0.5, lambda: os.killpg(second_server.process.pid, signal.SIGKILL)).start()

    results = render_batch([comfy.url, second_server.url], SCENARIOS, json.loads(DEFAULT_WORKFLOW.read_text()),
                           tmp_path / "out", timeout=600, log=lambda line: None, on_start=kill_second)
    assert killed, "the second server never got a prompt"
    assert all(not r.error for r in results), [r.error for r in results]
    retried = next(r for r in results if r.scenario == killed[0])
    first, second = retried.attempts
    assert first.server == second_server.url and first.error and first.seconds > 0
    assert second.server == comfy.url and not second.error and retried.files
    assert retried.seconds == pytest.approx(first.seconds + second.seconds)
    summary = {r["scenario"]: r for r in json.loads((tmp_path / "out" / "summary.json").read_text())}
    assert [a["server"] for a in summary[killed[0]]["attempts"]] == [second_server.url, comfy.url]
    assert summary[killed[0]]["attempts"][0]["error"] == first.error


def test_the_main_job_starts_its_own_comfyui_and_cleans_up(tmp_path, capsys):
    out = tmp_path / "render-out"
    before = set(Path(tempfile.gettempdir()).glob("toongen-render-*"))
    assert main(["--start-comfyui", str(comfy_dir()), "--cpu", "--scenario", "plumbus", "--out", str(out)]) == 0
    assert set(Path(tempfile.gettempdir()).glob("toongen-render-*")) == before  # its base folder is gone
    wav = capsys.readouterr().out.strip().splitlines()[-1]
    assert wav.endswith(".wav") and wav.startswith(str(out.resolve() / "plumbus"))
    assert soundfile.info(wav).samplerate == 44100 and soundfile.info(wav).subtype == "PCM_16"


def test_bad_requests_are_refused_with_the_fix(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--server", "http://127.0.0.1:1", "--scenario", "../etc"])
    assert "fake_doors" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--server", "http://127.0.0.1:1", "--workflow", "no_such_workflow"])
    assert "toongen_clip_flux_gguf" in capsys.readouterr().err
    ui = DEFAULT_WORKFLOW.parent.parent / "toongen_audio_only.json"
    with pytest.raises(ValueError, match="API twin"):
        load_workflow(str(ui))
    no_scenario = tmp_path / "plain.json"
    no_scenario.write_text(json.dumps({"1": {"class_type": "EmptyImage", "inputs": {}}}))
    with pytest.raises(SystemExit):
        main(["--server", "http://127.0.0.1:1", "--workflow", str(no_scenario)])
    assert "no ToonGenScenario node" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--start-comfyui", str(tmp_path)])
    assert "no main.py" in capsys.readouterr().err


def test_every_scenario_renders_through_the_render_command(comfy, tmp_path, capsys):
    """The audio-only workflow, all 25 scenarios, one server: each WAV lasts whole video frames (voice + 1 s of
    tail, at least 16 frames at 24 fps) and is at -16 LUFS."""
    out = tmp_path / "all"
    assert main(["--server", comfy.url, "--all", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    library = list(load_scenarios())
    assert [r["scenario"] for r in summary] == library and len(library) == 25
    assert [r["scenario"] for r in summary if r["error"]] == []
    printed = capsys.readouterr().out.split()
    for r in summary:
        (wav,) = [f for f in r["files"] if f.endswith(".wav")]
        assert str(Path(wav).resolve()) in printed
        audio, rate = soundfile.read(wav, always_2d=True)
        frames = round(audio.shape[0] * 24 / rate)  # 44.1 kHz: 1837.5 samples a frame, so within half a sample
        assert abs(audio.shape[0] - frames * rate / 24) <= 0.5 and frames >= 16, (r["scenario"], audio.shape[0])
        assert audio.shape[0] / rate > 2.0, r["scenario"]  # a line of speech and the 1 s tail
        assert bs1770_meter.integrated_lufs(audio.T, rate) == pytest.approx(-16.0, abs=0.5), r["scenario"]
