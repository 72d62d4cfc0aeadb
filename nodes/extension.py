"""The ComfyExtension ComfyUI's loader gets from the pack's `comfy_entrypoint` (imports ComfyUI's API)."""
from __future__ import annotations

from comfy_api.latest import ComfyExtension, io

from .comfy_audio import AUDIO_NODES
from .comfy_lipsync import LIPSYNC_NODES
from .comfy_memory import MEMORY_NODES, register_residency_and_routes
from .comfy_paths import register_model_folders
from .comfy_scenario import SCENARIO_NODES
from .comfy_speech import SPEECH_NODES, install_interrupt_hooks


class ToonGenExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        register_model_folders()
        register_residency_and_routes()
        install_interrupt_hooks()
        return [*AUDIO_NODES, *SPEECH_NODES, *SCENARIO_NODES, *MEMORY_NODES, *LIPSYNC_NODES]
