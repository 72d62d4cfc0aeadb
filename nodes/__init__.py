"""ToonGen's code. Plain modules (no ComfyUI import) hold the audio and model logic; `comfy_*` modules hold the
thin V3 node classes; `extension.py` lists them for ComfyUI."""
