"""ToonGen's workflows: the files ComfyUI lists as templates, their API twins (api/), the generator that writes
both from one description (build.py, with its measured inputs in sources/), the rewriter that measures them in the
real frontend and redraws their thumbnails (redraw.py) and the render command (render.py; on a Ray cluster,
render_cluster.py)."""
