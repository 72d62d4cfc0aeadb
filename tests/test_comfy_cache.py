"""ComfyUI's cache and our nodes, in a real ComfyUI, read from the websocket's `execution_cached` and `executing`
messages. The Unload node keeps the cache; core latent nodes stand in for the video chain behind it:

    Speak ─┬─ Mix → Loudness → Save WAV                     (the audio path)
           └─ Unload(value ← EmptyLatentImage, audio ← Speak) → TestMemoryProbe → LatentUpscale → SaveLatent

TestMemoryProbe (tests/support/comfy_test_nodes) is the node after Unload: it records, inside its own execution, which TTS
models are loaded — the state "at the moment the node after Unload starts", not a later HTTP look.
"""
from __future__ import annotations

import copy
import uuid

from .conftest import speech_like, tone

AUDIO_PATH = {"2", "3", "4"}
AFTER_UNLOAD = {"7", "8", "9"}  # probe, LatentUpscale, SaveLatent
EVERY_NODE = {"1", "2", "3", "4", "5", "6", *AFTER_UNLOAD}


def clip_graph(text: str) -> dict:
    return {
        "1": {"class_type": "ToonGenSpeak", "inputs": {"text": text, "engine": "kokoro", "voice_style": "(none)",
                                                       "kokoro_voice": "af_heart", "speed": 1.0, "seed": 0}},
        "2": {"class_type": "ToonGenMixAudio", "inputs": {
            "voice": ["1", 0], "mix_ratio": 0.3, "loop_bgm": True, "duck_db": 12.0, "duck_attack_ms": 30.0,
            "duck_release_ms": 400.0, "fade_in_s": 0.0, "fade_out_s": 0.5, "tail_s": 0.5, "sample_rate": "24000",
            "channels": "mono"}},
        "3": {"class_type": "ToonGenLoudnessNormalize", "inputs": {"audio": ["2", 0], "target_lufs": -16.0,
                                                                   "true_peak_db": -1.0}},
        "4": {"class_type": "ToonGenSaveWAV", "inputs": {"audio": ["3", 0], "filename_prefix": "toongen/cache"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "6": {"class_type": "ToonGenUnloadTTS", "inputs": {"value": ["5", 0], "audio": ["1", 0],
                                                           "unload_comfy_models": False, "empty_cuda_cache": True}},
        "7": {"class_type": "TestMemoryProbe", "inputs": {"value": ["6", 0]}},
        "8": {"class_type": "LatentUpscale", "inputs": {"samples": ["7", 0], "upscale_method": "nearest-exact",
                                                        "width": 128, "height": 128, "crop": "disabled"}},
        "9": {"class_type": "SaveLatent", "inputs": {"samples": ["8", 0], "filename_prefix": "latents/cache"}},
    }


def with_speech_beside(graph: dict, text: str) -> dict:
    """The clip graph plus a Speak → Save WAV branch that is not linked to Unload: queued once, only that speech
    runs (the clip nodes are cached) and it leaves its TTS model loaded — as a speech-only run would. (A separate
    speech-only workflow does the same, but ComfyUI's classic cache, 0.3.75's default, keeps the outputs of the
    last prompt only, so the clip graph would then re-run whole anyway.)"""
    return {**copy.deepcopy(graph),
            "10": {**graph["1"], "inputs": {**graph["1"]["inputs"], "text": text}},
            "11": {"class_type": "ToonGenSaveWAV", "inputs": {"audio": ["10", 0], "filename_prefix": "toongen/beside"}}}


def run(comfy, graph: dict) -> tuple[set[str], set[str], dict]:
    """Queue the graph; → (nodes that executed, nodes answered from the cache, history entry)."""
    messages, entry = comfy.run_watching(graph, timeout=300)
    assert entry["status"]["status_str"] == "success", entry["status"]
    executed = {m["data"]["node"] for m in messages if m["type"] == "executing" and m["data"].get("node")}
    cached = {node for m in messages if m["type"] == "execution_cached" for node in m["data"]["nodes"]}
    return executed, cached, entry


def probe_snapshot(entry: dict) -> dict:
    return entry["outputs"]["7"]["memory"][0]


def assert_nothing_loaded(snapshot: dict) -> None:
    assert {k: snapshot[k] for k in ("loaded", "live_objects", "comfy_managed")} == {"loaded": [], "live_objects": 0, "comfy_managed": []}, snapshot


def test_unload_runs_only_when_there_is_something_to_free(comfy, torch_kokoro_in_comfy):
    text = f"Plumbus number {uuid.uuid4().hex[:6]}: everyone has one."  # new text: speech really runs
    graph = clip_graph(text)

    executed, _, entry = run(comfy, graph)
    assert EVERY_NODE <= executed
    assert entry["outputs"]["6"]["text"] != ["unloaded 0 TTS model(s)"]  # the speech model was loaded, then freed
    assert_nothing_loaded(probe_snapshot(entry))

    # The same graph again: ComfyUI's cache answers for every node, Unload and everything after it included.
    executed, cached, _ = run(comfy, graph)
    assert executed == set() and cached == EVERY_NODE

    # Only a mix setting changes: the mix → loudness → WAV path runs; not the speech, not the chain after Unload.
    remixed = copy.deepcopy(graph)
    remixed["2"]["inputs"]["mix_ratio"] = 0.5
    executed, _, _ = run(comfy, remixed)
    assert executed == AUDIO_PATH

    # New text: speech and Unload run, and the node after Unload starts with no TTS model loaded anywhere.
    retexted = copy.deepcopy(remixed)
    retexted["1"]["inputs"]["text"] = text.replace("everyone", "everybody")
    executed, _, entry = run(comfy, retexted)
    assert {"1", "6"} | AFTER_UNLOAD | AUDIO_PATH <= executed
    assert entry["outputs"]["6"]["text"] != ["unloaded 0 TTS model(s)"]
    assert_nothing_loaded(probe_snapshot(entry))


def test_models_left_by_a_speech_only_run_are_freed_before_the_node_after_unload(comfy, torch_kokoro_in_comfy):
    graph = clip_graph(f"Get schwifty {uuid.uuid4().hex[:6]}.")
    run(comfy, graph)
    assert run(comfy, graph)[0] == set()

    executed, _, _ = run(comfy, with_speech_beside(graph, f"Only talking {uuid.uuid4().hex[:6]}."))
    assert executed == {"10", "11"}
    state = comfy.get_json("/toongen/models")
    assert state["loaded"] and state["comfy_managed"], state

    # The clip graph, unchanged: the speech stays cached, but Unload and the chain after it run (the memory state
    # changed), and the node after Unload starts with the model freed.
    executed, cached, entry = run(comfy, graph)
    assert executed == {"6"} | AFTER_UNLOAD and {"1", *AUDIO_PATH} <= cached
    assert entry["outputs"]["6"]["text"] != ["unloaded 0 TTS model(s)"]
    assert_nothing_loaded(probe_snapshot(entry))

    # Nothing is loaded any more: the next queue of the same graph is answered from the cache again.
    assert run(comfy, graph)[0] == set()


def test_a_music_file_replaced_under_the_same_name_is_loaded_again(comfy):
    from ..nodes.audio.files import save_wav_pcm16

    path = comfy.base_dir / "input" / f"bgm_{uuid.uuid4().hex[:6]}.wav"
    save_wav_pcm16(path, tone(2.0, amplitude=0.1), 24000)
    graph = {"1": {"class_type": "ToonGenLoadBGM", "inputs": {"name": f"input/{path.name}"}},
             "2": {"class_type": "ToonGenSaveWAV", "inputs": {"audio": ["1", 0], "filename_prefix": "toongen/bgm"}}}
    assert run(comfy, graph)[0] == {"1", "2"}
    assert run(comfy, graph)[0] == set()  # unchanged file: answered from the cache

    save_wav_pcm16(path, speech_like(3.0), 24000)  # new content (and size) under the same name
    assert run(comfy, graph)[0] == {"1", "2"}
