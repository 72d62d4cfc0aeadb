"""ToonGen — speech, music and sound effects as ComfyUI nodes (V3 API).

ComfyUI calls `comfy_entrypoint`. Nothing ComfyUI-specific is imported at module level, so this package also
imports cleanly outside ComfyUI (pytest imports it as the repo root package). Never add NODE_CLASS_MAPPINGS here:
ComfyUI would then load the pack as V1 and ignore the entrypoint. WEB_DIRECTORY is read for V1 and V3 packs alike:
ComfyUI serves it at /extensions/<pack folder>/, where the frontend's node help panel finds docs/<node_id>.md.
"""

WEB_DIRECTORY = "./nodes/web"


async def comfy_entrypoint():
    from .nodes.v3.extension import ToonGenExtension

    return ToonGenExtension()
