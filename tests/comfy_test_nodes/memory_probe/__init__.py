"""Test-only ComfyUI custom node, linked into the test server's custom_nodes/ by tests/conftest.py (never shipped).

TestMemoryProbe passes its input through and records, inside its own execution — that is, at the moment the node
runs, not when a websocket message arrives later — which ToonGen models are loaded: ToonGen's model cache, the
engines still alive (weak references) and the TTS models in ComfyUI's loaded-model list. The record is the node's
UI output, so the test reads it from /history.
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
        }
        return {"ui": {"memory": [snapshot]}, "result": (value,)}


NODE_CLASS_MAPPINGS = {"TestMemoryProbe": TestMemoryProbe}
