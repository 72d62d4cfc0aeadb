"""The render command against real local ComfyUI servers (audio-only workflow): one scenario or many on one server,
its journal and --resume, and a ComfyUI it starts itself (the README's main job). The Ray cluster path is in
test_render_cluster.py."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import pytest
import soundfile

from ..nodes.library.scenarios import load_scenarios
from ..workflows.render import DEFAULT_WORKFLOW, borrowed_from, load_workflow, main, render_batch
from .conftest import TOONGEN_NODE_IDS
from .support import bs1770_meter
from .support.comfy_server import REPO, ComfyServer, comfy_dir

SCENARIOS = ["fake_doors", "baby_legs", "plumbus", "alien_greeting"]


@pytest.fixture
def second_server(tmp_path):
    server = ComfyServer(base_dir=tmp_path / "second").start(expect_nodes=TOONGEN_NODE_IDS)
    yield server
    server.stop()


def test_a_batch_journals_each_scenario_and_resumes_what_the_journal_lacks(comfy, tmp_path, capsys):
    out = tmp_path / "renders"
    command = ["--server", comfy.url, *sum([["--scenario", s] for s in SCENARIOS], []), "--out", str(out)]
    assert main(command) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert [r["scenario"] for r in summary] == SCENARIOS and all(not r["error"] for r in summary)
    for r in summary:
        assert r["server"] == comfy.url and [(a["server"], a["error"]) for a in r["attempts"]] == [(comfy.url, "")]
        (wav,) = r["files"]
        assert Path(wav).parent == out / r["scenario"] and soundfile.info(wav).duration > 2.0 and r["seconds"] > 0
    printed = capsys.readouterr().out.split()
    assert sorted(printed) == sorted(str(Path(f).resolve()) for r in summary for f in r["files"])
    journal = (out / "journal.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in journal] == summary

    with pytest.raises(SystemExit):  # an earlier batch is never rendered over by accident
        main(command)
    assert "--resume" in capsys.readouterr().err
    # As if the run had been killed after two scenarios, while writing the third's files: its folder is replaced.
    (out / "journal.jsonl").write_text("\n".join(journal[:2]) + "\n" + journal[2][:20])
    (out / SCENARIOS[2] / "half-written.wav").write_bytes(b"RIFF")
    assert main([*command, "--resume"]) == 0
    resumed = json.loads((out / "summary.json").read_text())
    assert resumed[:2] == summary[:2]  # as the journal recorded them, not rendered again
    assert [r["scenario"] for r in resumed] == SCENARIOS and all(not r["error"] for r in resumed)
    assert sorted(json.loads(line)["scenario"] for line in (out / "journal.jsonl").read_text().splitlines()
                  if line.startswith("{") and line.endswith("}")) == sorted(SCENARIOS)
    for scenario in SCENARIOS:
        assert [p.suffix for p in (out / scenario).iterdir()] == [".wav"]


def test_a_server_that_dies_mid_batch_fails_the_rest_which_resume_renders(comfy, second_server, tmp_path):
    killed = []

    def kill_second(url, scenario):
        if not killed:
            killed.append(scenario)
            threading.Timer(0.5, lambda: os.killpg(second_server.process.pid, signal.SIGKILL)).start()

    template, out = json.loads(DEFAULT_WORKFLOW.read_text()), tmp_path / "out"
    results = render_batch(second_server.url, SCENARIOS, template, out, timeout=600, log=lambda line: None,
                           on_start=kill_second)
    assert killed == [SCENARIOS[0]]
    (attempt,) = results[0].attempts
    assert attempt.server == second_server.url and attempt.error and attempt.seconds > 0
    assert results[0].error == attempt.error and not results[0].files
    assert [r.attempts for r in results[1:]] == [[]] * 3
    assert all(r.error.startswith("not rendered: the server stopped answering") for r in results[1:])
    assert json.loads((out / "summary.json").read_text())[0]["attempts"][0]["error"] == attempt.error
    assert not (out / "journal.jsonl").exists()

    resumed = render_batch(comfy.url, SCENARIOS, template, out, timeout=600, log=lambda line: None, resume=True)
    assert all(not r.error and r.server == comfy.url and len(r.attempts) == 1 for r in resumed)


def test_the_main_job_starts_its_own_comfyui_and_cleans_up(tmp_path, capsys):
    out = tmp_path / "render-out"
    before = set(Path(tempfile.gettempdir()).glob("toongen-render-*"))
    assert main(["--start-comfyui", str(comfy_dir()), "--cpu", "--scenario", "plumbus", "--out", str(out)]) == 0
    assert set(Path(tempfile.gettempdir()).glob("toongen-render-*")) == before  # its base folder is gone
    wav = capsys.readouterr().out.strip().splitlines()[-1]
    assert wav.endswith(".wav") and wav.startswith(str(out.resolve() / "plumbus"))
    assert soundfile.info(wav).samplerate == 44100 and soundfile.info(wav).subtype == "PCM_16"


def test_bad_requests_are_refused_with_the_fix(tmp_path, capsys, monkeypatch):
    with pytest.raises(SystemExit):
        main(["--server", "http://127.0.0.1:1", "--scenario", "../etc"])
    assert "fake_doors" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--server", "http://127.0.0.1:1", "--server", "http://127.0.0.1:2"])
    assert "--ray" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--scenario", "plumbus"])
    assert "--server URL, --start-comfyui DIR or --ray ADDRESS" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "ray", None)  # as where Ray is not installed
    with pytest.raises(SystemExit):
        main(["--ray", "auto", "--out", str(tmp_path / "ray")])
    assert "pip install -r workflows/requirements-render.txt" in capsys.readouterr().err
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


def test_a_started_comfyui_borrows_the_folders_models_and_other_packs(tmp_path):
    comfyui = tmp_path / "ComfyUI"
    for folder in ("models/checkpoints", "custom_nodes/ComfyUI-VideoHelperSuite", "custom_nodes/old-toongen"):
        (comfyui / folder).mkdir(parents=True)
    (comfyui / "custom_nodes" / "old-toongen" / "pyproject.toml").write_text('[project]\nname = "comfyui-toongen"\n')
    (comfyui / "custom_nodes" / "websocket_image_save.py").write_text("")
    nodes = comfyui / "custom_nodes"
    assert borrowed_from(comfyui) == [
        ("models", comfyui / "models"), ("custom_nodes/ComfyUI-VideoHelperSuite", nodes / "ComfyUI-VideoHelperSuite"),
        ("custom_nodes/websocket_image_save.py", nodes / "websocket_image_save.py")]


PARENT = """
import subprocess, sys, time
from workflows.render import dies_with_parent
child = subprocess.Popen([sys.executable, "-c", "import time\\ntime.sleep(120)"], preexec_fn=dies_with_parent())
print(child.pid, flush=True)
time.sleep(120)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_server_started_to_die_with_its_parent_dies_when_the_parent_is_killed():
    """A cluster worker's ComfyUI: a worker killed outright (out of memory) takes it along, GPU memory and all."""
    parent = subprocess.Popen([sys.executable, "-c", PARENT], cwd=REPO, stdout=subprocess.PIPE, text=True)
    child = psutil.Process(int(parent.stdout.readline()))
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and child.is_running() and child.status() != psutil.STATUS_ZOMBIE:
        time.sleep(0.1)
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
