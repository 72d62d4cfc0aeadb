"""The ComfyExtension ComfyUI's loader gets from the pack's `comfy_entrypoint` (imports ComfyUI's API)."""
from __future__ import annotations

from comfy_api.latest import ComfyExtension, io

from ..runtime.comfy_paths import register_model_folders
from .audio import AUDIO_NODES
from .captions import CAPTION_NODES
from .dialogue import DIALOGUE_NODES
from .memory import MEMORY_NODES, register_residency_and_routes
from .mouth import LIPSYNC_NODES
from .scenario import SCENARIO_NODES
from .speech import SPEECH_NODES, install_interrupt_hooks


def register_with_comfyui() -> None:
    """The pack's global set-up: model folders, residency under ComfyUI's memory manager, GET /toongen/models,
    Cancel reaching long model calls. Idempotent."""
    register_model_folders()
    register_residency_and_routes()
    install_interrupt_hooks()


class ToonGenExtension(ComfyExtension):
    async def on_load(self) -> None:
        # Newer ComfyUI (0.33 here) awaits on_load before get_node_list: global set-up belongs here.
        register_with_comfyui()

    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        register_with_comfyui()  # ComfyUI 0.3.75 never awaits on_load
        return [*AUDIO_NODES, *SPEECH_NODES, *DIALOGUE_NODES, *CAPTION_NODES, *SCENARIO_NODES, *MEMORY_NODES, *LIPSYNC_NODES]
