"""Every shipped workflow against the real interfaces: ours from a live ComfyUI's /object_info, core and third-party
nodes from the /object_info dumped from a ComfyUI with the video packs and marker model files installed
(tests/fixtures)."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from .workflow_check import check_workflow

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
WORKFLOWS = sorted((REPO / "workflows").glob("*.api.json"))


@pytest.fixture(scope="module")
def object_info(comfy) -> dict:
    third_party = json.loads((FIXTURES / "object_info_full.json").read_text())
    ours = {name: info for name, info in comfy.get_json("/object_info").items() if name.startswith("ToonGen")}
    return {**third_party, **ours}


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def test_workflow_validates_against_the_real_interfaces(path, object_info):
    graph = json.loads(path.read_text())
    assert check_workflow(graph, object_info) == []


def test_the_checker_catches_bad_graphs(object_info):
    graph = json.loads((REPO / "workflows" / "toongen_clip_flux_nf4.api.json").read_text())
    broken = copy.deepcopy(graph)
    broken["24"]["inputs"]["audio"] = ["33", 0]          # STRING into AUDIO
    broken["21"]["inputs"]["denoise"] = 3.0               # out of range
    broken["16"]["inputs"]["fuse_method"] = "nope"        # not an option
    broken["99"] = {"class_type": "NoSuchNode", "inputs": {}}
    errors = check_workflow(broken, object_info)
    assert any("mismatch" in e for e in errors) and any("outside" in e for e in errors)
    assert any("not one of" in e for e in errors) and any("NoSuchNode" in e for e in errors)


def test_clip_workflow_wiring_follows_the_plan():
    graph = json.loads((REPO / "workflows" / "toongen_clip_flux_nf4.api.json").read_text())
    by_type = {node["class_type"]: node_id for node_id, node in graph.items()}
    assert graph["5"]["inputs"]["latent_image"] == [by_type["ToonGenUnloadTTS"], 0]   # Unload sits before Flux
    assert graph[by_type["ToonGenUnloadTTS"]]["inputs"]["audio"] == [by_type["ToonGenSpeak"], 0]
    assert graph[by_type["AdvancedLivePortrait"]]["inputs"]["command"] == [by_type["ToonGenLipCommand"], 0]
    assert graph[by_type["ToonGenLipCommand"]]["inputs"]["voice"] == [by_type["ToonGenSpeak"], 0]  # clean voice
    assert graph[by_type["VHS_VideoCombine"]]["inputs"]["audio"] == [by_type["ToonGenAudioToFrames"], 2]
    assert graph[by_type["ADE_LoadAnimateDiffModel"]]["inputs"]["model_name"] == "v3_sd15_mm.ckpt"
    context = graph[by_type["ADE_StandardUniformContextOptions"]]["inputs"]
    assert (context["context_length"], context["context_overlap"]) == (16, 4)
    assert graph["21"]["inputs"]["denoise"] == 0.35
