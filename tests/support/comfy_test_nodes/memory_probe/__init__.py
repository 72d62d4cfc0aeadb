"""Test-only ComfyUI custom node, linked into the test server's custom_nodes/ by tests/conftest.py (never shipped).

TestMemoryProbe passes its input through and records, inside its own execution — that is, at the moment the node
runs, not when a websocket message arrives later — which ToonGen models are loaded: ToonGen's model cache, the
engines still alive (weak references) and the TTS models in ComfyUI's loaded-model list. It also makes, on every
TTS model in that list, the calls ComfyUI's memory manager makes on registered models (those this ComfyUI has:
0.33 added is_dynamic(), model_patches_models() …) and records each answer or error. The record is the node's UI
output, so the test reads it from /history.

For workflows the tests run node for node (the shipped clip workflows, where no node may be added), the same record is
taken without a node: every sampling (`comfy.sample.sample`, which core KSampler calls) records the sampled model's
class and the snapshot at its start, and every AdvancedLivePortrait run records its command and a digest of each
output frame. GET /toongen_test/probe returns both lists; POST /toongen_test/probe/reset empties them. The hooks are
put in place on the first /prompt, when every custom node has loaded.
"""
import hashlib
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
        return {"ui": {"memory": [toongen_snapshot()]}, "result": (value,)}


def toongen_snapshot() -> dict:
    model_cache = _toongen_module(".nodes.runtime.model_cache")
    residency = _toongen_module(".nodes.runtime.residency")
    return {
        "loaded": [list(map(str, key)) for key in model_cache.loaded_keys()],
        "live_objects": model_cache.live_count(),
        "comfy_managed": [list(map(str, key)) for key in residency.comfy_managed_keys()],
        "patcher_calls": _patcher_calls(residency),
    }


RECORDS = {"samplings": [], "liveportrait": []}


def _record_samplings() -> None:
    import comfy.sample

    sample = comfy.sample.sample

    def recorded(model, *args, **kwargs):
        RECORDS["samplings"].append({"model": type(model.model).__name__, **toongen_snapshot()})
        return sample(model, *args, **kwargs)

    comfy.sample.sample = recorded


def _record_liveportrait() -> None:
    import nodes

    alp = nodes.NODE_CLASS_MAPPINGS.get("AdvancedLivePortrait")
    if alp is None:
        return
    run = alp.run

    def recorded(self, *args, **kwargs):
        result = run(self, *args, **kwargs)
        images = result[0]
        RECORDS["liveportrait"].append({
            "command": kwargs.get("command"),
            "frames": [hashlib.sha256(frame.numpy().tobytes()).hexdigest() for frame in images]
            if images is not None else []})
        return result

    alp.run = recorded


def _install_hooks_once(json_data):
    global _hooks_installed
    if not _hooks_installed:
        _hooks_installed = True
        _record_samplings()
        _record_liveportrait()
    return json_data


_hooks_installed = False


def _routes() -> None:
    from aiohttp import web
    from server import PromptServer

    server = PromptServer.instance
    server.add_on_prompt_handler(_install_hooks_once)

    @server.routes.get("/toongen_test/probe")
    async def probe_records(request):
        return web.json_response(RECORDS)

    @server.routes.post("/toongen_test/probe/reset")
    async def probe_reset(request):
        for records in RECORDS.values():
            records.clear()
        return web.json_response({})


_routes()

NODE_CLASS_MAPPINGS = {"TestMemoryProbe": TestMemoryProbe}
