"""ToonGen's workflows: the files ComfyUI lists as templates, their API twins (api/), the generator that writes
both from one description (build.py) and the render command (render.py)."""
