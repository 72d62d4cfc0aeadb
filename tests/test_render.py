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
from ..workflows.render import (DEFAULT_WORKFLOW, borrowed_from, caption_files, load_workflow, main, render_batch,
                                scenario_library, split_for_workflow, workflow_for)
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
    """The audio-only workflow, all 25 one-voice scenarios, one server (the dialogue variants are skipped with the
    workflow to use for them): each WAV lasts whole video frames (voice + 1 s of tail, at least 16 frames at 24 fps)
    and is at -16 LUFS."""
    out = tmp_path / "all"
    assert main(["--server", comfy.url, "--all", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    library = [s.id for s in load_scenarios().values() if not s.is_dialogue]
    assert [r["scenario"] for r in summary] == library and len(library) == 25
    assert [r["scenario"] for r in summary if r["error"]] == []
    captured = capsys.readouterr()
    assert "skipping" in captured.err and "--workflow toongen_dialogue_audio" in captured.err
    printed = captured.out.split()
    for r in summary:
        (wav,) = [f for f in r["files"] if f.endswith(".wav")]
        assert str(Path(wav).resolve()) in printed
        audio, rate = soundfile.read(wav, always_2d=True)
        frames = round(audio.shape[0] * 24 / rate)  # 44.1 kHz: 1837.5 samples a frame, so within half a sample
        assert abs(audio.shape[0] - frames * rate / 24) <= 0.5 and frames >= 16, (r["scenario"], audio.shape[0])
        assert audio.shape[0] / rate > 2.0, r["scenario"]  # a line of speech and the 1 s tail
        assert bs1770_meter.integrated_lufs(audio.T, rate) == pytest.approx(-16.0, abs=0.5), r["scenario"]


DIALOGUE_GRAPH = {  # the dialogue workflow's speech, as small as it gets: Scenario → Script / Dialogue → files
    "1": {"class_type": "ToonGenScenario", "inputs": {"scenario": "fake_doors_dialogue", "sfx_time_s": 0.0}},
    "2": {"class_type": "ToonGenScript", "inputs": {"script": ["1", 1], "engine": "kokoro", "speed": 1.0,
                                                     "seed": 0}},
    "3": {"class_type": "ToonGenSaveWAV", "inputs": {"audio": ["2", 0], "filename_prefix": "toongen/dialogue"}},
    "4": {"class_type": "ToonGenCaptions", "inputs": {"timing": ["2", 1], "speaker_names": True,
                                                       "filename_prefix": "toongen/captions"}},
}


def test_a_dialogue_scenario_needs_a_dialogue_workflow_and_is_refused_before_rendering(tmp_path, capsys):
    """A one-voice workflow would read a dialogue's [voice_style] tags aloud, and Script / Dialogue refuses a plain
    script: either pairing is refused before any server is asked (none answers at 127.0.0.1:1), naming the fix."""
    library = scenario_library()
    dialogues = [s for s, dialogue in library.items() if dialogue]
    assert len(dialogues) >= 5 and sum(not d for d in library.values()) == 25
    out = tmp_path / "out"
    with pytest.raises(SystemExit):
        main(["--server", "http://127.0.0.1:1", "--scenario", "plumbus", "--scenario", "fake_doors_dialogue",
              "--out", str(out)])
    err = capsys.readouterr().err
    assert "fake_doors_dialogue" in err and "--workflow toongen_dialogue_audio" in err and "plumbus:" not in err
    for workflow in ("toongen_clip_flux_gguf", str(DEFAULT_WORKFLOW)):  # every one-voice workflow, by name or path
        with pytest.raises(SystemExit):
            main(["--server", "http://127.0.0.1:1", "--workflow", workflow, "--scenario", "plumbus_dialogue"])
        assert "--workflow toongen_dialogue_audio" in capsys.readouterr().err
    dialogue_workflow = tmp_path / "dialogue.json"
    dialogue_workflow.write_text(json.dumps(DIALOGUE_GRAPH))
    for workflow in (str(dialogue_workflow), "toongen_dialogue_audio", "toongen_dialogue_clip"):
        with pytest.raises(SystemExit):
            main(["--server", "http://127.0.0.1:1", "--workflow", workflow, "--scenario", "plumbus"])
        err = capsys.readouterr().err
        assert "plumbus: one-voice" in err and "toongen_audio_only" in err
    with pytest.raises(ValueError, match="fake_doors_dialogue.*toongen_dialogue_audio"):  # the function as well
        render_batch("http://127.0.0.1:1", ["fake_doors_dialogue"], json.loads(DEFAULT_WORKFLOW.read_text()), out)
    assert not out.exists()  # nothing written
    # --all: each workflow takes what it can speak, in library order
    template = json.loads(DEFAULT_WORKFLOW.read_text())
    assert split_for_workflow(template, list(library), library) == (
        [s for s in library if not library[s]], dialogues)
    assert split_for_workflow(DIALOGUE_GRAPH, list(library), library) == (
        dialogues, [s for s in library if not library[s]])


def test_the_captions_a_workflow_saved_come_back_with_its_files():
    ui = {"text": ["output/toongen/fake_doors_dialogue_00001_.srt", "output/toongen/fake_doors_dialogue_00001_.vtt",
                   "1\n00:00:00,275 --> 00:00:01,800\nExcited Host: Welcome to Real Fake Doors!\n"]}
    assert caption_files(ui) == [
        {"filename": "fake_doors_dialogue_00001_.srt", "subfolder": "toongen", "type": "output"},
        {"filename": "fake_doors_dialogue_00001_.vtt", "subfolder": "toongen", "type": "output"}]
    assert caption_files({"text": ["excited_host, nervous_morty", "line 1 (excited_host): engine=kokoro"]}) == []


def test_a_dialogue_workflow_is_cast_for_each_dialogue_scenario():
    """The shipped dialogue workflows type their script in (no Scenario node): the render command puts the
    scenario's script, music and characters in (each face's Mouth Shapes gets its speaker, left = the first to speak)
    and names the files after it."""
    library = {s.id: s for s in load_scenarios().values() if s.is_dialogue}
    for name in ("toongen_dialogue_audio", "toongen_dialogue_clip"):
        template = load_workflow(name)
        for scenario in library.values():
            graph = workflow_for(template, scenario.id)
            by_type: dict[str, list[dict]] = {}
            for node in graph.values():
                by_type.setdefault(node["class_type"], []).append(node["inputs"])
            (script,) = by_type["ToonGenScript"]
            if "ToonGenScenario" in by_type:  # a Scenario node links its script in
                assert by_type["ToonGenScenario"][0]["scenario"] == scenario.id and isinstance(script["script"], list)
            else:
                assert script["script"] == scenario.script
                assert [n["name"] for n in by_type["ToonGenLoadBGM"]] == [scenario.bgm] * len(by_type["ToonGenLoadBGM"])
            mouths = [n["speaker"] for n in by_type.get("ToonGenMouthShapes", []) if n.get("speaker") != "(everyone)"]
            assert mouths == list(scenario.speakers)[:len(mouths)], (name, scenario.id, mouths)
            assert name != "toongen_dialogue_clip" or len(set(mouths)) == 2
            prefixes = [n["filename_prefix"] for kind in ("ToonGenSaveWAV", "ToonGenCaptions", "VHS_VideoCombine")
                        for n in by_type.get(kind, [])]
            assert prefixes and set(prefixes) == {f"toongen/{scenario.id}"}
            assert template == load_workflow(name)  # the template itself is left as it was


def test_a_dialogue_scenario_renders_with_the_dialogue_workflow(comfy, tmp_path, capsys):
    """The render command with the shipped toongen_dialogue_audio (its engine set to the offline voices): a dialogue
    variant's two voices in one WAV, and its captions (named after the scenario, each cue opened by its speaker)
    fetched with it."""
    graph = load_workflow("toongen_dialogue_audio")
    for node in graph.values():
        if node["class_type"] == "ToonGenScript":
            node["inputs"]["engine"] = "kokoro"
    workflow = tmp_path / "dialogue.json"
    workflow.write_text(json.dumps(graph))
    out = tmp_path / "dialogue-out"
    assert main(["--server", comfy.url, "--workflow", str(workflow), "--scenario", "lawyer_ad_dialogue",
                 "--out", str(out)]) == 0
    (result,) = json.loads((out / "summary.json").read_text())
    assert result["scenario"] == "lawyer_ad_dialogue" and not result["error"]
    files = sorted((Path(f).name for f in result["files"]), key=lambda name: Path(name).suffix)
    assert [Path(f).suffix for f in files] == [".srt", ".vtt", ".wav"], files
    assert all(name.startswith("lawyer_ad_dialogue") for name in files)
    srt = " ".join((out / "lawyer_ad_dialogue" / files[0]).read_text().split())  # cues wrap at 42 characters
    assert "Angry Chef: A portal ate my kitchen! Can you win?" in srt
    assert "Nervous Morty: I-I-I'll probably lose your case." in srt
    audio, rate = soundfile.read(str(out / "lawyer_ad_dialogue" / files[2]), always_2d=True)
    assert audio.shape[0] / rate > 3.0  # two lines, the gap and the 1 s tail
    assert bs1770_meter.integrated_lufs(audio.T, rate) == pytest.approx(-16.0, abs=0.5)

    # An output that does not validate: ComfyUI would run the rest and drop it without a word; the scenario fails.
    graph["90"] = {"class_type": "ToonGenLoadSFX", "inputs": {"name": "no_such_effect"}}
    graph["91"] = {"class_type": "ToonGenSaveWAV", "inputs": {"audio": ["90", 0], "filename_prefix": "toongen/x"}}
    (failed,) = render_batch(comfy.url, ["lawyer_ad_dialogue"], graph, tmp_path / "invalid", log=lambda line: None)
    assert failed.error.startswith("the workflow does not validate: node 90 (ToonGenLoadSFX)"), failed.error
    assert "no_such_effect" in failed.error and not failed.files and len(failed.attempts) == 2


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
