"""Test-only ComfyUI custom node, linked into the test server's custom_nodes/ by tests/conftest.py (never shipped).

TestMemoryProbe passes its input through and records, inside its own execution — that is, at the moment the node
runs, not when a websocket message arrives later — which ToonGen models are loaded: ToonGen's model cache, the
engines still alive (weak references) and the TTS models in ComfyUI's loaded-model list. It also makes, on every
TTS model in that list, the calls ComfyUI's memory manager makes on registered models (those this ComfyUI has:
0.33 added is_dynamic(), model_patches_models() …) and records each answer or error. The record is the node's UI
output, so the test reads it from /history.
"""
import sys


class AnyType(str):
    """Matches every socket type (the usual pattern for pass-through nodes)."""

    def __ne__(self, other):
        return False


ANY = AnyType("*")


def _toongen_module(suffix: str):
    # ComfyUI imports the pack under its folder path, so find ToonGen's modules by their dotted suffix.
    for name, module in list(sys.modules.items()):
        if name.endswith(suffix) and "toongen" in name.lower():
            return module
    raise RuntimeError(f"ToonGen's {suffix} is not loaded in this server")


# What comfy.model_management calls on a registered model while loading, evicting and accounting (ComfyUI 0.3.75
# and 0.33.0), on the patcher and on its LoadedModel record. Read-only calls only.
PATCHER_CALLS = ("is_dynamic", "model_patches_models", "model_size", "loaded_size", "current_loaded_device",
                 "model_dtype", "lowvram_patch_counter", "loaded_ram_size", "pinned_memory_size")
LOADED_MODEL_CALLS = ("model_memory", "model_loaded_memory", "model_offloaded_memory")


def _patcher_calls(residency) -> list:
    import comfy.model_management as mm

    records = []
    for loaded in list(mm.current_loaded_models):
        patcher = loaded.model
        if not isinstance(patcher, residency.TTSModelPatcher):
            continue
        answers = {}
        for target, names in ((patcher, PATCHER_CALLS), (loaded, LOADED_MODEL_CALLS)):
            for name in names:
                if not hasattr(target, name):
                    continue  # not in this ComfyUI
                try:
                    answers[name] = repr(getattr(target, name)())
                except Exception as exc:  # noqa: BLE001 - the record says what failed
                    answers[name] = f"ERROR {type(exc).__name__}: {exc}"
        records.append(answers)
    return records


class TestMemoryProbe:
    CATEGORY = "testing"
    RETURN_TYPES = (ANY,)
    RETURN_NAMES = ("value",)
    FUNCTION = "probe"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": (ANY, {})}}

    def probe(self, value):
        model_cache = _toongen_module(".nodes.model_cache")
        residency = _toongen_module(".nodes.comfy_residency")
        snapshot = {
            "loaded": [list(map(str, key)) for key in model_cache.loaded_keys()],
            "live_objects": model_cache.live_count(),
            "comfy_managed": [list(map(str, key)) for key in residency.comfy_managed_keys()],
            "patcher_calls": _patcher_calls(residency),
        }
        return {"ui": {"memory": [snapshot]}, "result": (value,)}


NODE_CLASS_MAPPINGS = {"TestMemoryProbe": TestMemoryProbe}
