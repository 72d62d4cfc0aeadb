"""Every shipped workflow against the real interfaces (ours from a live ComfyUI's /object_info, core and video-pack
nodes from the /object_info dumped from a ComfyUI with the video packs installed), generated from one description
so the UI files and their API twins never drift, and carrying what ComfyUI-Manager and the frontend need to
complete a user's install (pack ids on every node, model files with folder and size)."""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from ..workflows import build
from ..workflows.catalog import MODELS, PACKS
from ..workflows.ui_format import UI_ONLY, api_graph, input_order, is_link, to_ui, widget_values
from .support.workflow_check import check_workflow

REPO = Path(__file__).resolve().parent.parent
SOURCES = REPO / "workflows" / "sources"
API = sorted((REPO / "workflows" / "api").glob("*.json"))
UI = sorted((REPO / "workflows").glob("*.json"))
CLIPS = [p for p in API if p.stem.startswith("toongen_clip_")]
REGENERATE = "regenerate them: python -m workflows.redraw (or python workflows/build.py --server URL)"


@pytest.fixture(scope="module")
def live_object_info(comfy) -> dict:
    return comfy.get_json("/object_info")


@pytest.fixture(scope="module")
def object_info(live_object_info) -> dict:
    third_party = json.loads((SOURCES / "object_info_full.json").read_text())
    ours = {name: info for name, info in live_object_info.items() if name.startswith("ToonGen")}
    return {**third_party, **ours}


def by_type(graph: dict) -> dict[str, list[str]]:
    types: dict[str, list[str]] = {}
    for node_id, node in graph.items():
        types.setdefault(node["class_type"], []).append(node_id)
    return types


def test_every_workflow_has_its_twin_and_a_thumbnail():
    assert [p.stem for p in UI] == [p.stem for p in API] == sorted(build.WORKFLOWS)
    for path in UI:
        thumbnail = path.with_suffix(".jpg")
        assert thumbnail.read_bytes()[:3] == b"\xff\xd8\xff", f"{thumbnail.name} missing or not a JPEG"


@pytest.mark.parametrize("path", API, ids=[p.stem for p in API])
def test_workflow_validates_against_the_real_interfaces(path, object_info):
    assert check_workflow(json.loads(path.read_text()), object_info) == []


def test_the_files_are_what_the_one_description_generates(live_object_info):
    """UI and API files are written together from build.py: a hand edit, or a node that changed its inputs,
    shows up here."""
    expected = build.render(live_object_info)
    assert sorted(expected) == sorted([*UI, *API])
    stale = [str(path.relative_to(REPO)) for path, data in expected.items() if path.read_text() != build.dump(data)]
    assert not stale, f"out of date: {stale}; {REGENERATE}"


@pytest.mark.parametrize("stem", sorted(build.WORKFLOWS))
def test_the_ui_file_holds_exactly_the_api_graph(stem, object_info):
    """Read back independently of the generator: every API node is a UI node of the same type and title, every
    API link a UI link between the same slots, every widget value the one the API posts."""
    ui = json.loads((REPO / "workflows" / f"{stem}.json").read_text())
    api = json.loads((REPO / "workflows" / "api" / f"{stem}.json").read_text())
    nodes = {str(n["id"]): n for n in ui["nodes"] if n["type"] not in UI_ONLY}
    assert set(nodes) == set(api)
    ui_links = set()
    for link_id, origin, origin_slot, target, target_slot, _ in ui["links"]:
        name = nodes[str(target)]["inputs"][target_slot]["name"]
        ui_links.add((str(target), name, str(origin), origin_slot))
    api_links = {(t, name, v[0], v[1]) for t, n in api.items() for name, v in n["inputs"].items() if is_link(v)}
    assert ui_links == api_links
    specs = {k: v for k, v in json.loads(build.SPECS.read_text()).items() if not k.startswith("_")}
    for node_id, node in api.items():
        assert nodes[node_id]["type"] == node["class_type"] and nodes[node_id]["title"] == node["_meta"]["title"]
        assert nodes[node_id]["widgets_values"] == widget_values(node, object_info[node["class_type"]], specs)
        info = object_info[node["class_type"]]
        assert [i["name"] for i in nodes[node_id]["inputs"]] == [
            name for name in input_order(info) if name in [i["name"] for i in nodes[node_id]["inputs"]]]


def test_the_checker_catches_bad_graphs(object_info):
    graph = json.loads((REPO / "workflows" / "api" / "toongen_clip_flux_nf4.json").read_text())
    broken = copy.deepcopy(graph)
    broken["24"]["inputs"]["audio"] = ["33", 0]          # STRING into AUDIO
    broken["21"]["inputs"]["denoise"] = 3.0               # out of range
    broken["16"]["inputs"]["fuse_method"] = "nope"        # not an option
    broken["99"] = {"class_type": "NoSuchNode", "inputs": {}}
    errors = check_workflow(broken, object_info)
    assert any("mismatch" in e for e in errors) and any("outside" in e for e in errors)
    assert any("not one of" in e for e in errors) and any("NoSuchNode" in e for e in errors)


@pytest.mark.parametrize("path", CLIPS, ids=[p.stem for p in CLIPS])
def test_clip_workflow_wiring_follows_the_plan(path):
    graph = json.loads(path.read_text())
    types = by_type(graph)
    (unload,), (speak,), (mouth,), (alp,) = (types[t] for t in (
        "ToonGenUnloadTTS", "ToonGenSpeak", "ToonGenMouthShapes", "AdvancedLivePortrait"))
    assert graph["5"]["inputs"]["latent_image"] == [unload, 0]              # Unload sits before Flux
    assert graph[unload]["inputs"]["audio"] == [speak, 0]
    assert graph[alp]["inputs"]["command"] == [mouth, 0]
    assert graph[mouth]["inputs"]["voice"] == [speak, 0]                    # the clean voice, not the mix
    assert graph[mouth]["inputs"]["timing"] == [speak, 2]                   # timed by the engine that spoke
    assert graph[types["PreviewImage"][0]]["inputs"]["images"] == [mouth, 3]  # the dope sheet
    # one length for the whole clip, from the voice (never from the mix, whose settings must re-run only the
    # audio): ALP's frames, the soundtrack and the video's frame rate all come from Clip Length
    (length,), (mix,), (loudness,), (vhs,) = (types[t] for t in (
        "ToonGenClipLength", "ToonGenMixAudio", "ToonGenLoudnessNormalize", "VHS_VideoCombine"))
    assert graph[length]["inputs"]["voice"] == [speak, 0] and graph[length]["inputs"]["min_frames"] == 16
    assert graph[mouth]["inputs"]["frame_count"] == [length, 0] and graph[mouth]["inputs"]["fps"] == [length, 1]
    assert graph[mix]["inputs"]["tail_s"] == [length, 2] and graph[loudness]["inputs"]["audio"] == [mix, 0]
    assert graph[vhs]["inputs"]["audio"] == [loudness, 0] and graph[vhs]["inputs"]["frame_rate"] == [length, 1]
    assert "ToonGenAudioToFrames" not in types
    assert graph[types["ADE_LoadAnimateDiffModel"][0]]["inputs"]["model_name"] == "v3_sd15_mm.ckpt"
    context = graph[types["ADE_StandardUniformContextOptions"][0]]["inputs"]
    assert (context["context_length"], context["context_overlap"]) == (16, 4)
    assert graph["21"]["inputs"]["denoise"] == 0.35
    # the editors form one motion_link chain in command-index order: editor k is index k, ALP takes the last
    editors = types["ExpressionEditor"]
    shapes = json.loads((REPO / "assets" / "mouth_shapes.json").read_text())
    assert len(editors) == len(shapes["editors"]) == 8
    chain = [e for e in editors if "src_image" in graph[e]["inputs"]]
    while graph[chain[-1]]["class_type"] == "ExpressionEditor":
        nxt = [e for e in [*editors, alp] if graph[e]["inputs"].get("motion_link") == [chain[-1], 1]]
        assert len(nxt) == 1
        chain.append(nxt[0])
    assert chain[:-1] == sorted(editors, key=int) and chain[-1] == alp
    for editor, shape in zip(chain[:-1], shapes["editors"]):  # editor k carries shape k's preset (index 0: rest)
        assert {k: graph[editor]["inputs"][k] for k in shapes["presets"][shape]} == shapes["presets"][shape]


def test_gguf_variant_loads_flux_schnell_q4_with_the_gguf_loaders():
    graph = json.loads((REPO / "workflows" / "api" / "toongen_clip_flux_gguf.json").read_text())
    types = by_type(graph)
    assert "CheckpointLoaderNF4" not in types and "CheckpointLoaderSimple" in types  # the latter: ToonYou only
    (unet,), (clip,), (vae,) = types["UnetLoaderGGUF"], types["DualCLIPLoaderGGUF"], types["VAELoader"]
    assert graph[unet]["inputs"]["unet_name"] == "flux1-schnell-Q4_K_S.gguf"
    assert graph[clip]["inputs"] == {"clip_name1": "t5-v1_1-xxl-encoder-Q5_K_M.gguf",
                                     "clip_name2": "clip_l.safetensors", "type": "flux"}
    assert graph["5"]["inputs"]["model"] == [unet, 0] and graph["2"]["inputs"]["clip"] == [clip, 0]
    assert graph["6"]["inputs"]["vae"] == [vae, 0]
    nf4 = json.loads((REPO / "workflows" / "api" / "toongen_clip_flux_nf4.json").read_text())
    flux_side = {"1", "37", "38", "2", "5", "6"}
    assert {k: v for k, v in graph.items() if k not in flux_side} == {k: v for k, v in nf4.items() if k not in flux_side}


@pytest.mark.parametrize("path", UI, ids=[p.stem for p in UI])
def test_nodes_carry_the_pack_ids_manager_reads(path):
    specs = {k: v for k, v in json.loads(build.SPECS.read_text()).items() if not k.startswith("_")}
    version = re.search(r'^version = "(.+)"', (REPO / "pyproject.toml").read_text(), re.M).group(1)
    for node in json.loads(path.read_text())["nodes"]:
        props, spec = node["properties"], specs.get(node["type"], {})
        if node["type"] in UI_ONLY:
            continue
        assert props["Node name for S&R"] == node["type"]
        if node["type"].startswith("ToonGen"):
            assert (props["cnr_id"], props["ver"]) == ("comfyui-toongen", version)
        elif spec.get("pack") in PACKS:
            assert props["cnr_id"] == PACKS[spec["pack"]].cnr_id and props["aux_id"] == spec["pack"]
            assert props["ver"] == spec["commit"]           # the commit its interface was measured at
        else:
            assert props["cnr_id"] == "comfy-core" and spec["python_module"].split(".")[0] in ("nodes", "comfy_extras")
        assert re.fullmatch(r"[a-z0-9_-]+", props["cnr_id"])  # registry ids are lower case


@pytest.mark.parametrize("path", UI, ids=[p.stem for p in UI])
def test_the_note_lists_every_pack_and_model_file_with_folder_and_size(path):
    workflow = json.loads(path.read_text())
    notes = [n for n in workflow["nodes"] if n["type"] == "MarkdownNote"]
    assert len(notes) == 1
    note = notes[0]["widgets_values"][0]
    specs = {k: v for k, v in json.loads(build.SPECS.read_text()).items() if not k.startswith("_")}
    for node in workflow["nodes"]:
        pack = specs.get(node["type"], {}).get("pack")
        if pack in PACKS:
            assert PACKS[pack].title in note and node["type"] in note
        values = node["widgets_values"] if isinstance(node.get("widgets_values"), list) else []
        for value in values:
            if isinstance(value, str) and re.search(r"\.(safetensors|gguf|ckpt|pt|pth)$", value):
                model = MODELS[value]   # every model file the graph loads is in the catalog …
                assert f"[{model.name}]({model.url}) | `models/{model.folder}/` | {model.size} |" in note
                assert {"name": model.name, "url": model.url, "directory": model.folder} in node["properties"]["models"]
    if "clip" in path.stem:
        assert "models/liveportrait/" in note and "≈" in note  # ALP's own downloads, approximate size marked


def test_the_mouth_editors_are_data_driven_and_eight_fit_the_layout(live_object_info, tmp_path):
    """Presets in the form of assets/mouth_shapes.json → N chained editors, laid out in rows of four inside the mouth group without overlapping, at the size the frontend computes for
    an ExpressionEditor."""
    shapes = tmp_path / "mouth_shapes.json"
    shapes.write_text(json.dumps({"editors": list("ABCDEFGH"), "presets": {
        s: {"aaa": 10 * k, "eee": 0, "woo": k % 3, "smile": 0, "rotate_pitch": -0.5 * k} for k, s in enumerate("ABCDEFGH")}}))
    workflow = build.clip("gguf", build.presets_from_file(shapes))
    editors = [k for k, n in workflow.graph.items() if n["class_type"] == "ExpressionEditor"]
    assert [workflow.graph[k]["_meta"]["title"] for k in editors] == [f"Mouth {s}" for s in "ABCDEFGH"]
    assert [workflow.graph[k]["inputs"]["aaa"] for k in editors] == [10 * k for k in range(8)]
    assert [workflow.graph[k]["inputs"]["rotate_pitch"] for k in editors] == [-0.5 * k for k in range(8)]
    assert build.editor_rows(8) == [["40", "41", "42", "43"], ["44", "45", "46", "47"]]
    object_info, specs = build.interfaces(live_object_info)
    sizes = json.loads(build.SIZES.read_text())["toongen_clip_flux_gguf"]
    sizes.update({k: sizes["40"] for k in editors})
    ui = to_ui("test", workflow.graph, workflow.layout, object_info, specs, sizes,
               build.node_properties(workflow.graph, specs, build.versions()))
    boxes = [(n["pos"][0], n["pos"][1] - 30, n["pos"][0] + n["size"][0], n["pos"][1] + n["size"][1])
             for n in ui["nodes"]]
    assert not [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:]
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]]
    gx, gy, gw, gh = next(g["bounding"] for g in ui["groups"] if g["title"].startswith("5 ·"))
    for node in ui["nodes"]:
        if node["type"] == "ExpressionEditor":
            x, y = node["pos"]
            assert gx <= x and x + node["size"][0] <= gx + gw and gy <= y - 30 and y + node["size"][1] <= gy + gh
    assert check_workflow(api_graph(workflow.graph), {**json.loads((SOURCES / "object_info_full.json").read_text()),
                                                      **object_info}) == []


def test_api_twins_hold_no_frontend_only_nodes():
    for path in API:
        graph = json.loads(path.read_text())
        assert not any(n["class_type"] in UI_ONLY for n in graph.values())
        assert graph == api_graph(graph)


def test_dialogue_audio_wiring():
    """Script / Dialogue → Mix (with music) → Loudness → Save WAV, and Captions from the dialogue's timing."""
    graph = json.loads((REPO / "workflows" / "api" / "toongen_dialogue_audio.json").read_text())
    types = by_type(graph)
    (script,), (bgm,), (mix,), (loudness,), (wav,), (captions,) = (types[t] for t in (
        "ToonGenScript", "ToonGenLoadBGM", "ToonGenMixAudio", "ToonGenLoudnessNormalize", "ToonGenSaveWAV",
        "ToonGenCaptions"))
    speakers = set(re.findall(r"^\[(\w+)\]", graph[script]["inputs"]["script"], re.M))
    assert len(speakers) == 2 and graph[script]["inputs"]["engine"] == "auto"
    assert graph[mix]["inputs"]["voice"] == [script, 0] and graph[mix]["inputs"]["bgm"] == [bgm, 0]
    assert graph[loudness]["inputs"]["audio"] == [mix, 0] and graph[wav]["inputs"]["audio"] == [loudness, 0]
    assert graph[captions]["inputs"]["timing"] == [script, 1]
    assert not {"ToonGenSpeak", "ToonGenScenario"} & set(types)


def test_dialogue_clip_wiring():
    """Two faces cut from one Flux image, each animated by its own LivePortrait driven by its own Mouth Shapes (its
    speaker); the eight editors shared; the two halves stitched side by side; captions burnt in after AnimateDiff."""
    graph = json.loads((REPO / "workflows" / "api" / "toongen_dialogue_clip.json").read_text())
    types = by_type(graph)
    (script,), (length,), (unload,), (stitch,), (burn,), (vhs,) = (types[t] for t in (
        "ToonGenScript", "ToonGenClipLength", "ToonGenUnloadTTS", "ImageStitch", "ToonGenBurnCaptions",
        "VHS_VideoCombine"))
    speakers = re.findall(r"^\[(\w+)\]", graph[script]["inputs"]["script"], re.M)
    mouths = {graph[m]["inputs"]["speaker"]: m for m in types["ToonGenMouthShapes"]}
    assert set(mouths) == set(speakers) and len(mouths) == 2
    for mouth in mouths.values():
        inputs = graph[mouth]["inputs"]
        assert inputs["voice"] == [script, 0] and inputs["timing"] == [script, 1]
        assert inputs["frame_count"] == [length, 0] and inputs["fps"] == [length, 1]
    alps = {graph[a]["inputs"]["command"][0]: a for a in types["AdvancedLivePortrait"]}
    assert set(alps) == set(mouths.values())                                 # one LivePortrait per mouth
    editors = sorted(types["ExpressionEditor"], key=int)
    assert len(editors) == 8 and all(graph[a]["inputs"]["motion_link"] == [editors[-1], 1] for a in alps.values())
    # the faces: the left and right halves of the one Flux image; the left reaches its LivePortrait through the
    # editors (built on it), the right as src_images
    crops = {graph[c]["inputs"]["x"]: c for c in types["ImageCrop"]}
    width = graph["4"]["inputs"]["width"]
    assert sorted(crops) == [0, width // 2] and all(graph[c]["inputs"]["image"] == ["6", 0] for c in crops.values())
    assert all(graph[c]["inputs"]["width"] == width // 2 for c in crops.values())
    assert graph[editors[0]]["inputs"]["src_image"] == [crops[0], 0]
    left, right = (alps[mouths[s]] for s in speakers[:2])                   # first speaker left, second right
    assert "src_images" not in graph[left]["inputs"] and graph[right]["inputs"]["src_images"] == [crops[width // 2], 0]
    assert graph[stitch]["inputs"]["image1"] == [left, 0] and graph[stitch]["inputs"]["image2"] == [right, 0]
    assert graph[stitch]["inputs"]["direction"] == "right"
    assert graph["20"]["inputs"]["pixels"] == [stitch, 0] and graph[burn]["inputs"]["images"] == ["22", 0]
    assert graph[burn]["inputs"]["timing"] == [script, 1] and graph[burn]["inputs"]["fps"] == [length, 1]
    assert graph[vhs]["inputs"]["images"] == [burn, 0] and graph[vhs]["inputs"]["frame_rate"] == [length, 1]
    (loudness,), (mix,) = types["ToonGenLoudnessNormalize"], types["ToonGenMixAudio"]
    assert graph[vhs]["inputs"]["audio"] == [loudness, 0] and graph[loudness]["inputs"]["audio"] == [mix, 0]
    assert graph[mix]["inputs"]["voice"] == [script, 0] and graph[mix]["inputs"]["tail_s"] == [length, 2]
    assert graph["5"]["inputs"]["latent_image"] == [unload, 0] and graph[unload]["inputs"]["audio"] == [script, 0]
    assert graph[length]["inputs"]["voice"] == [script, 0] and graph[length]["inputs"]["min_frames"] == 16
    assert "UnetLoaderGGUF" in types and graph["21"]["inputs"]["denoise"] == 0.35
