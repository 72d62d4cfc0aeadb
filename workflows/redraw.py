"""Measure every node of the shipped workflows as the real ComfyUI frontend computes it (headless Chromium), rewrite
the workflows with those sizes and redraw their thumbnails:

    python -m workflows.redraw        # from the repository root, with the test environment's Python

It starts a ComfyUI with the test harness (tests/support: the server, and interface stand-ins for the video packs'
nodes built from workflows/sources/object_info_full.json), so it needs the environment `bash tests/run.sh` builds and
Debian's chromium. `python workflows/build.py` alone rewrites the workflows from the sizes already measured.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.exit("run it as a module from the repository root: python -m workflows.redraw")

from tests.support.frontend import canvas_only, load, measured_sizes, open_editor, start_server, thumbnail

from . import build


def main() -> int:
    """Measure every node as the frontend computes it, rewrite the workflows with those sizes, redraw thumbnails."""
    with tempfile.TemporaryDirectory(prefix="toongen-frontend-") as tmp:
        server = start_server(Path(tmp))
        try:
            live = server.get_json("/object_info")
            sizes = json.loads(build.SIZES.read_text()) if build.SIZES.exists() else {}
            with open_editor(server) as page:
                files = build.render(live, sizes)  # sizes do not depend on positions: one pass measures them
                for name in build.WORKFLOWS:
                    sizes[name] = measured_sizes(load(page, files[build.HERE / f"{name}.json"]))
                build.SIZES.write_text(json.dumps(sizes, indent=1, sort_keys=True) + "\n")
                files = build.render(live, sizes)
                build.write(files)
                canvas_only(page)
                for name in build.WORKFLOWS:
                    workflow = files[build.HERE / f"{name}.json"]
                    note = next(n for n in workflow["nodes"] if n["type"] == "MarkdownNote")
                    title = note["widgets_values"][0].splitlines()[0].lstrip("# ")
                    thumbnail(page, load(page, workflow), title, build.HERE / f"{name}.jpg")
                    print(f"drew workflows/{name}.jpg")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.exit(main())
