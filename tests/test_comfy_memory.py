"""The Unload node and ComfyUI-managed residency, in a real ComfyUI: TTS models sit in ComfyUI's loaded-model list,
and the Unload node or POST /free releases them for good (weak references dead); the next run reloads."""
from __future__ import annotations

import time


def speak(text: str, unload: bool = False, **unload_options) -> dict:
    graph = {"1": {"class_type": "ToonGenKokoroTTS", "inputs": {"text": text, "voice": "af_heart", "speed": 1.0}}}
    if unload:
        graph["2"] = {"class_type": "ToonGenUnloadTTS", "inputs": {
            "value": ["1", 0], "audio": ["1", 0], "unload_comfy_models": False, "empty_cuda_cache": True,
            **unload_options}}
        graph["3"] = {"class_type": "ToonGenSaveWAV", "inputs": {"audio": ["2", 0], "filename_prefix": "toongen/mem"}}
    else:
        graph["3"] = {"class_type": "ToonGenSaveWAV", "inputs": {"audio": ["1", 0], "filename_prefix": "toongen/mem"}}
    return graph


def torch_kokoro_keys(state: dict, field: str) -> list:
    return [key for key in state[field] if key[0] == "kokoro-torch"]


def wait_for(comfy, condition, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        state = comfy.get_json("/toongen/models")
        if condition(state) or time.monotonic() > deadline:
            return state
        time.sleep(0.3)


def test_tts_models_are_in_comfys_loaded_list_and_the_unload_node_frees_them(comfy, torch_kokoro_in_comfy):
    comfy.run(speak("First line, loads the model."))
    state = comfy.get_json("/toongen/models")
    assert torch_kokoro_keys(state, "loaded") and torch_kokoro_keys(state, "comfy_managed")

    entry = comfy.run(speak("Second line, then unload.", unload=True))
    # Every cached TTS model goes (the embedded ONNX voice too, when earlier tests loaded it).
    assert entry["outputs"]["2"]["text"] == [f"unloaded {len(state['loaded'])} TTS model(s)"]
    state = comfy.get_json("/toongen/models")
    assert state["loaded"] == [] and state["comfy_managed"] == [] and state["live_objects"] == 0
    assert comfy.output_files(entry)  # the audio went on through the pass-through

    # Unloading with nothing loaded is harmless (an Unload node with no speech before it).
    idle = comfy.run({
        "1": {"class_type": "ToonGenLoadSFX", "inputs": {"name": "static_glitch"}},
        "2": {"class_type": "ToonGenUnloadTTS", "inputs": {"value": ["1", 0], "unload_comfy_models": False,
                                                           "empty_cuda_cache": True}},
        "3": {"class_type": "ToonGenSaveWAV", "inputs": {"audio": ["2", 0], "filename_prefix": "toongen/idle"}}})
    assert idle["outputs"]["2"]["text"] == ["unloaded 0 TTS model(s)"]

    comfy.run(speak("Third line: the model reloads transparently."))
    assert torch_kokoro_keys(comfy.get_json("/toongen/models"), "comfy_managed")


def test_post_free_releases_tts_models_too(comfy, torch_kokoro_in_comfy):
    comfy.run(speak("Load it once more."))
    assert torch_kokoro_keys(comfy.get_json("/toongen/models"), "loaded")
    comfy.post_json("/free", {"unload_models": True, "free_memory": True})
    comfy.run({"1": {"class_type": "ToonGenLoadSFX", "inputs": {"name": "static_glitch"}},
               "2": {"class_type": "PreviewAudio", "inputs": {"audio": ["1", 0]}}})  # /free acts between prompts
    state = wait_for(comfy, lambda s: not torch_kokoro_keys(s, "loaded"))
    assert not torch_kokoro_keys(state, "loaded") and not torch_kokoro_keys(state, "comfy_managed")
    comfy.run(speak("And it comes back after /free."))
    assert torch_kokoro_keys(comfy.get_json("/toongen/models"), "comfy_managed")


def test_comfys_memory_manager_calls_work_on_the_tts_models(comfy, torch_kokoro_in_comfy):
    """ComfyUI 0.33 asks every registered model is_dynamic(), model_patches_models() … while it loads and evicts
    (dynamic VRAM): the TTS patchers answer as classic, whole-loaded models with nothing patched in."""
    graph = speak("Registered with the memory manager.")
    graph["4"] = {"class_type": "TestMemoryProbe", "inputs": {"value": ["3", 0]}}
    graph["5"] = {"class_type": "PreviewAudio", "inputs": {"audio": ["4", 0]}}  # an output, so the probe runs
    record = comfy.run(graph)["outputs"]["4"]["memory"][0]
    calls = record["patcher_calls"]
    assert len(calls) >= len(torch_kokoro_keys(record, "comfy_managed")) >= 1  # one or more modules per engine
    for answers in calls:
        assert not [v for v in answers.values() if v.startswith("ERROR")], answers
        assert int(answers["model_size"]) > 0 and answers["loaded_size"] == answers["model_size"]  # loaded whole
        if "is_dynamic" in answers:  # ComfyUI 0.33 and later
            assert answers["is_dynamic"] == "False" and answers["model_patches_models"] == "[]"
