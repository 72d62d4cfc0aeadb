"""ToonGen — speech, music and sound effects as ComfyUI nodes (V3 API).

ComfyUI calls `comfy_entrypoint`. Nothing ComfyUI-specific is imported at module level, so this package also
imports cleanly outside ComfyUI (pytest imports it as the repo root package). Never add NODE_CLASS_MAPPINGS here:
ComfyUI would then load the pack as V1 and ignore the entrypoint.
"""


async def comfy_entrypoint():
    from .nodes.extension import ToonGenExtension

    return ToonGenExtension()
