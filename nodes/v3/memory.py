"""V3 node class for ToonGen/memory, and a read-only diagnostics route (GET /toongen/models)."""
from __future__ import annotations

from comfy_api.latest import io

from ..runtime import model_cache
from ..runtime.residency import comfy_managed_keys, make_resident, unload_fingerprint, unload_tts_models


class UnloadTTSModels(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ToonGenUnloadTTS",
            display_name="Unload TTS Models (ToonGen)",
            category="ToonGen/memory",
            description="Frees the speech models before the image models run. Wire it into the data path "
                        "(TTS audio → Unload → …, and e.g. EmptyLatentImage → Unload → KSampler): a link is the only "
                        "order ComfyUI guarantees. Passes its input through unchanged. It runs when its inputs change "
                        "(new speech) or when TTS models are loaded as the prompt starts; otherwise ComfyUI's cache "
                        "answers for it and nothing after it runs again.",
            inputs=[
                io.AnyType.Input("value", tooltip="Anything (latent, audio, …); returned unchanged."),
                io.Audio.Input("audio", optional=True, tooltip="Link the speech here so this runs after it."),
                io.Boolean.Input("unload_comfy_models", default=False,
                                 tooltip="Also unload ComfyUI's own models (like the 'Unload models' button) when "
                                         "this node runs. Loaded ComfyUI models alone do not make it run again."),
                io.Boolean.Input("empty_cuda_cache", default=True, tooltip="Return freed GPU memory to the driver."),
            ],
            outputs=[io.AnyType.Output(display_name="value"), io.Int.Output(display_name="models_unloaded")],
            not_idempotent=True,
        )

    @classmethod
    def fingerprint_inputs(cls, **_) -> int:
        # Changes only when TTS models are loaded as a prompt starts (so this node and what follows it run and
        # free them); with nothing to free it stays the same and ComfyUI's cache answers. See comfy_residency.
        return unload_fingerprint()

    @classmethod
    def execute(cls, value, unload_comfy_models: bool, empty_cuda_cache: bool, audio: dict | None = None) -> io.NodeOutput:
        count = unload_tts_models(unload_comfy_models, empty_cuda_cache)
        return io.NodeOutput(value, count, ui={"text": [f"unloaded {count} TTS model(s)"]})


def register_residency_and_routes() -> None:
    """Inside ComfyUI: route every model-cache use through ComfyUI's memory manager and add GET /toongen/models."""
    model_cache.on_use = make_resident
    try:
        from aiohttp import web
        from server import PromptServer
    except ImportError:  # ComfyUI without its server (scripts): nothing to route
        return
    if getattr(register_residency_and_routes, "done", False):
        return
    register_residency_and_routes.done = True

    @PromptServer.instance.routes.get("/toongen/models")
    async def toongen_models(request):
        return web.json_response({
            "loaded": [list(map(str, key)) for key in model_cache.loaded_keys()],
            "comfy_managed": [list(map(str, key)) for key in comfy_managed_keys()],
            "live_objects": model_cache.live_count(),
            "loads_since_start": sum(model_cache.load_counts.values()),
        })


MEMORY_NODES = [UnloadTTSModels]
