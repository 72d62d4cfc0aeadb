"""Builds the full-clip API workflows from the reference graph that the real ComfyUI /prompt accepted
(tests/fixtures/recommended_graph.api.json), putting ToonGen's nodes where its two stand-ins were:

    Scenario → Speak → Unload TTS (linked between EmptySD3LatentImage and KSampler) → Flux schnell →
    ExpressionEditor ×3 → AdvancedLivePortrait (command from Speech → Mouth Command) → AnimateDiff-Evolved →
    VHS_VideoCombine (audio: Mix → Loudness → Audio → Frames).

    python workflows/make_clip_workflows.py     # rewrites workflows/toongen_clip_*.api.json
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
REFERENCE = HERE.parent / "tests" / "fixtures" / "recommended_graph.api.json"
FPS = 24.0


def clip_graph(flux_loader: dict) -> dict:
    graph = copy.deepcopy(json.loads(REFERENCE.read_text()))
    for stand_in in ("11", "23"):  # the multiline STRING (lip command) and LoadAudio (our audio)
        del graph[stand_in]
    graph["1"] = flux_loader
    ours = {
        "30": ("ToonGenScenario", "Scenario", {"scenario": "fake_doors", "sfx_time_s": 0.0}),
        "31": ("ToonGenSpeak", "Speak (auto)", {
            "text": ["30", 1], "engine": "auto", "voice_style": "(none)", "kokoro_voice": "jm_kumo", "speed": 1.0,
            "seed": 0, "nfe_steps": 32, "cfg_strength": 2.0, "cross_fade_s": 0.15, "voice_style_from": ["30", 2]}),
        "32": ("ToonGenUnloadTTS", "Unload TTS before Flux", {
            "value": ["4", 0], "audio": ["31", 0], "unload_comfy_models": False, "empty_cuda_cache": True}),
        "33": ("ToonGenLipCommand", "Speech → mouth command", {
            "voice": ["31", 0], "fps": FPS, "open_levels": 3, "silence_db": -35.0, "hysteresis_db": 3.0,
            "transition_frames": 2}),
        "34": ("ToonGenMixAudio", "Mix voice + BGM + SFX", {
            "voice": ["31", 0], "bgm": ["30", 3], "sfx_events": ["30", 4], "mix_ratio": 0.3, "loop_bgm": True,
            "duck_db": 12.0, "duck_attack_ms": 30.0, "duck_release_ms": 400.0, "fade_in_s": 0.0, "fade_out_s": 0.5,
            "tail_s": 0.0, "sample_rate": "same as voice", "channels": "stereo"}),
        "35": ("ToonGenLoudnessNormalize", "Loudness -16 LUFS", {"audio": ["34", 0], "target_lufs": -16.0,
                                                                 "true_peak_db": -1.0}),
        "36": ("ToonGenAudioToFrames", "Audio → frames", {"audio": ["35", 0], "fps": FPS, "min_frames": 16,
                                                          "multiple_of": 1}),
    }
    for node_id, (class_type, title, inputs) in ours.items():
        graph[node_id] = {"inputs": inputs, "class_type": class_type, "_meta": {"title": title}}
    graph["2"]["inputs"]["text"] = ["30", 0]                 # the scenario's visual prompt → Flux
    graph["4"]["inputs"].update(width=1024, height=576)      # the plan's 16:9 frame
    graph["5"]["inputs"]["latent_image"] = ["32", 0]          # through the Unload node: speech is done first
    graph["12"]["inputs"]["command"] = ["33", 0]             # mouth motion from the clean voice
    graph["24"]["inputs"].update(audio=["36", 2], frame_rate=FPS, filename_prefix="toongen/clip")
    return graph


VARIANTS = {
    "toongen_clip_flux_nf4.api.json": {"inputs": {"ckpt_name": "flux1-schnell-bnb-nf4.safetensors"},
                                       "class_type": "CheckpointLoaderNF4", "_meta": {"title": "Flux schnell NF4"}},
    "toongen_clip_flux_fp8.api.json": {"inputs": {"ckpt_name": "flux1-schnell-fp8.safetensors"},
                                       "class_type": "CheckpointLoaderSimple", "_meta": {"title": "Flux schnell fp8"}},
}


def main() -> None:
    for name, loader in VARIANTS.items():
        (HERE / name).write_text(json.dumps(clip_graph(loader), indent=2, ensure_ascii=False) + "\n")
        print(f"wrote workflows/{name}")


if __name__ == "__main__":
    main()
