"""The real ComfyUI frontend in headless Chromium, for the graph-editor and help-page tests and for
`python -m workflows.redraw` (which measures node sizes, rewrites the workflows and redraws their thumbnails).

The video packs are not installed in the test server; so that the frontend still builds their nodes (and computes
their sizes from their widgets, as it does for a user who has them), the server gets *interface stand-ins*: nodes
generated from the /object_info those packs really served (workflows/sources/object_info_full.json), same names,
inputs, widgets and outputs, that refuse to run. No code of those packs is involved.
"""
from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

from .comfy_server import ComfyServer

REPO = Path(__file__).resolve().parents[2]
SOURCES = REPO / "workflows" / "sources"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
STAND_IN_PACK = "interface_stand_ins"

STAND_IN_CODE = '''"""Interface stand-ins for tests: nodes with the real /object_info of packs that are not installed."""
import json
import pathlib

_INTERFACES = json.loads((pathlib.Path(__file__).parent / "interfaces.json").read_text())


def _stand_in(name, info):
    def run(self, **_):
        raise RuntimeError(f"{name} is an interface stand-in for tests: install the real pack to run it")
    return type(name, (), {
        "INPUT_TYPES": classmethod(lambda cls: info["input"]), "RETURN_TYPES": tuple(info["output"]),
        "RETURN_NAMES": tuple(info.get("output_name") or info["output"]), "OUTPUT_NODE": info.get("output_node", False),
        "FUNCTION": "run", "CATEGORY": info.get("category", "stand-ins"), "run": run})


NODE_CLASS_MAPPINGS = {name: _stand_in(name, info) for name, info in _INTERFACES.items()}
NODE_DISPLAY_NAME_MAPPINGS = {name: info.get("display_name", name) for name, info in _INTERFACES.items()}
WEB_DIRECTORY = "./web"
'''

# VideoHelperSuite saves widgets_values as a dict keyed by widget name and its own script reads it back; the
# stand-ins have no such script, so this one maps the dict onto the widgets by name.
STAND_IN_JS = """import { app } from "../../scripts/app.js";
app.registerExtension({
  name: "toongen.tests.interface_stand_ins",
  beforeRegisterNodeDef(nodeType, nodeData) {
    if (!nodeData.name.startsWith("VHS_")) return;
    const configure = nodeType.prototype.configure;
    nodeType.prototype.configure = function (info) {
      if (info.widgets_values && !Array.isArray(info.widgets_values)) {
        const kv = info.widgets_values;
        info = { ...info, widgets_values: (this.widgets || []).map((w) => kv[w.name]) };
      }
      return configure.call(this, info);
    };
  },
});
"""

# Node geometry as the frontend holds it after loading (pos/size after its own resize, the size it computes, the
# rectangle with the title bar), groups, and every link as the points it is drawn through.
GEOMETRY_JS = """() => {
  const g = window.app.graph;
  const ctx = document.createElement("canvas").getContext("2d");
  const textWidth = (text, px) => { ctx.font = `${px}px ${LiteGraph.NODE_FONT}`; return ctx.measureText(String(text)).width; };
  // the width at which the frontend draws the title and every widget's label and value without truncating them
  const untruncated = n => Math.ceil(Math.max(textWidth(n.title, LiteGraph.NODE_TEXT_SIZE) + 70,
      ...(n.widgets || []).filter(w => !w.element && w._displayValue !== undefined).map(w =>
          textWidth(w.displayName ?? w.label ?? w.name, LiteGraph.NODE_SUBTEXT_SIZE)
          + textWidth(w._displayValue, LiteGraph.NODE_SUBTEXT_SIZE) + 100)));
  const nodes = g._nodes.map(n => ({id: n.id, type: n.type, title: n.title, pos: [...n.pos], size: [...n.size],
      computed: [...n.computeSize()], untruncated: untruncated(n), rect: [...n.boundingRect],
      known: !!(n.constructor && n.constructor.nodeData), errors: !!n.has_errors,
      linked_inputs: (n.inputs || []).filter(i => i.link != null).length}));
  const groups = g._groups.map(gr => ({title: gr.title, rect: [...gr._bounding], color: gr.color}));
  const links = [];
  for (const link of g._links.values()) {
    const origin = g.getNodeById(link.origin_id), target = g.getNodeById(link.target_id);
    const points = [origin.getConnectionPos(false, link.origin_slot)];
    const via = [];
    for (let id = link.parentId; id != null; id = g.reroutes.get(id)?.parentId) via.unshift(id);
    for (const id of via) points.push([...g.reroutes.get(id).pos]);
    points.push(target.getConnectionPos(true, link.target_slot));
    links.push({id: link.id, origin: link.origin_id, target: link.target_id, via, points});
  }
  return {nodes, groups, links, reroutes: g.reroutes.size};
}"""


def stand_in_interfaces() -> dict:
    """The real /object_info entries of the custom-pack nodes our workflows use (ours excepted)."""
    dump = json.loads((SOURCES / "object_info_full.json").read_text())
    used = set()
    for path in (REPO / "workflows").glob("*.json"):
        used |= {n["type"] for n in json.loads(path.read_text())["nodes"]}
    return {t: dump[t] for t in sorted(used)
            if t in dump and dump[t]["python_module"].startswith("custom_nodes.") and not t.startswith("ToonGen")}


def start_server(base_dir: Path) -> ComfyServer:
    """A ComfyUI with ToonGen and interface stand-ins for the video packs' nodes used by our workflows."""
    pack = base_dir / "custom_nodes" / STAND_IN_PACK
    (pack / "web").mkdir(parents=True)
    (pack / "__init__.py").write_text(STAND_IN_CODE)
    (pack / "web" / "stand_ins.js").write_text(STAND_IN_JS)
    (pack / "interfaces.json").write_text(json.dumps(stand_in_interfaces()))
    return ComfyServer(base_dir=base_dir).start(expect_nodes=("ToonGenSpeak", "ExpressionEditor", "VHS_VideoCombine"))


@contextlib.contextmanager
def open_editor(server: ComfyServer, viewport=(1600, 1000)):
    """The graph editor of `server` in headless Chromium; yields the playwright page."""
    from playwright.sync_api import sync_playwright

    server.post_json("/settings/Comfy.TutorialCompleted", True)  # no first-run template browser over the canvas
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run", "--disable-sync"])
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            page.goto(server.url, timeout=120_000)
            page.wait_for_function("() => window.app && window.app.graph && window.app.canvas", timeout=120_000)
            yield page
        finally:
            browser.close()


def load(page, workflow: dict) -> dict:
    """Load a UI workflow the way a user opens one; returns the frontend's geometry of it."""
    page.evaluate("(wf) => window.app.loadGraphData(wf)", workflow)
    page.wait_for_timeout(800)
    for _ in range(3):
        page.keyboard.press("Escape")  # close the missing-models dialog
    return page.evaluate(GEOMETRY_JS)


def canvas_only(page) -> None:
    """Hide the editor's menus, panels and canvas statistics so a screenshot shows only the graph."""
    page.add_style_tag(content=".splitter-overlay-root, .p-toast, .p-dialog-mask {display: none !important}")
    page.evaluate("() => { window.app.canvas.show_info = false; }")


def show(page, rect: list[float], scale: float, size: tuple[int, int], margin: int = 20) -> None:
    """Resize the window to `size` and put `rect` (graph coordinates) at its top-left corner at `scale`."""
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.evaluate("([x, y, s, m]) => { const c = window.app.canvas; c.ds.scale = s;"
                  " c.ds.offset = [m / s - x, m / s - y]; c.setDirty(true, true); c.draw(true, true); }",
                  [rect[0], rect[1], scale, margin])
    page.wait_for_timeout(400)


def screenshot_groups(page, geometry: dict, folder: Path, stem: str) -> list[Path]:
    """One 100 %-zoom screenshot per group."""
    folder.mkdir(parents=True, exist_ok=True)
    shots = []
    for i, group in enumerate(geometry["groups"]):
        x, y, w, h = group["rect"]
        show(page, group["rect"], 1.0, (int(w) + 40, int(h) + 40))
        path = folder / f"{stem}.{i}.png"
        page.screenshot(path=str(path))
        shots.append(path)
    return shots


THUMBNAIL_JS = """([title, chips]) => {
  const card = document.createElement("div");
  card.id = "toongen-thumbnail";
  card.style.cssText = "position:fixed;left:0;top:0;width:100%;padding:28px 24px 0;box-sizing:border-box;"
    + "font-family:Arial,sans-serif;color:#eee;z-index:99999;pointer-events:none";
  const h = document.createElement("div");
  h.textContent = title;
  h.style.cssText = "font-size:34px;font-weight:bold;line-height:1.15;margin-bottom:18px";
  card.appendChild(h);
  for (const [text, color] of chips) {
    const chip = document.createElement("span");
    chip.textContent = text;
    chip.style.cssText = `display:inline-block;margin:0 6px 8px 0;padding:4px 9px;border-radius:6px;`
      + `font-size:15px;background:${color};color:#111`;
    card.appendChild(chip);
  }
  document.body.appendChild(card);
}"""


def thumbnail(page, geometry: dict, title: str, path: Path, size=(512, 512)) -> None:
    """The template browser's picture of a workflow (a JPEG beside it, same stem): its title and stages over
    the whole graph as the editor draws it."""
    rects = [g["rect"] for g in geometry["groups"]]
    x0, y0 = min(r[0] for r in rects), min(r[1] for r in rects)
    x1, y1 = max(r[0] + r[2] for r in rects), max(r[1] + r[3] for r in rects)
    margin = 16
    scale = (size[0] - 2 * margin) / (x1 - x0)
    top = y0 - (size[1] * 0.62 - margin) / scale   # the graph in the lower part, under the title
    show(page, [x0, top], scale, size, margin)
    chips = [(g["title"], g["color"]) for g in geometry["groups"] if g["title"][:1].isdigit()]
    page.evaluate(THUMBNAIL_JS, [title, chips])
    page.screenshot(path=str(path), type="jpeg", quality=85)
    page.evaluate("() => document.getElementById('toongen-thumbnail').remove()")


def _bezier(a, b, leave: bool, arrive: bool, steps: int = 16) -> list[tuple[float, float]]:
    """A link segment as litegraph draws it: a spline leaving an output to the right (`leave`) and arriving at an
    input from the left (`arrive`); at a reroute the segment points straight at the next point."""
    d = 0.25 * ((b[0] - a[0]) ** 2 + (b[1] - a[1]) ** 2) ** 0.5
    p1, p2 = (a[0] + (d if leave else 0), a[1]), (b[0] - (d if arrive else 0), b[1])
    points = []
    for i in range(steps + 1):
        t = i / steps
        u = 1 - t
        points.append((u ** 3 * a[0] + 3 * u * u * t * p1[0] + 3 * u * t * t * p2[0] + t ** 3 * b[0],
                       u ** 3 * a[1] + 3 * u * u * t * p1[1] + 3 * u * t * t * p2[1] + t ** 3 * b[1]))
    return points


def link_paths(geometry: dict) -> dict[int, list[tuple[float, float]]]:
    paths = {}
    for link in geometry["links"]:
        points = link["points"]
        path: list[tuple[float, float]] = []
        for k, (a, b) in enumerate(zip(points, points[1:])):
            path.extend(_bezier(a, b, leave=k == 0, arrive=k == len(points) - 2)[(1 if path else 0):])
        paths[link["id"]] = path
    return paths


def _cross(p, q, r, s) -> bool:
    def orient(a, b, c):
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
    return (orient(p, q, r) * orient(p, q, s) < 0) and (orient(r, s, p) * orient(r, s, q) < 0)


def link_crossings(geometry: dict) -> list[tuple[int, int]]:
    """Pairs of links whose drawn paths cross (links from the same output, or sharing reroutes, fan out from a
    common stem and do not count)."""
    paths, links = link_paths(geometry), {link["id"]: link for link in geometry["links"]}
    crossings = []
    ids = sorted(paths)
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            la, lb = links[a], links[b]
            if (la["origin"], la["points"][0]) == (lb["origin"], lb["points"][0]) or set(la["via"]) & set(lb["via"]):
                continue
            if any(_cross(p, q, r, s) for p, q in zip(paths[a], paths[a][1:]) for r, s in zip(paths[b], paths[b][1:])):
                crossings.append((a, b))
    return crossings


def links_under_nodes(geometry: dict, margin: float = 4) -> list[tuple[int, int]]:
    """(link, node) where a link's drawn path passes over a node it does not connect."""
    hits = []
    paths = link_paths(geometry)
    for link in geometry["links"]:
        for node in geometry["nodes"]:
            if node["id"] in (link["origin"], link["target"]):
                continue
            x, y, w, h = node["rect"]
            inside = [p for p in paths[link["id"]]
                      if x + margin < p[0] < x + w - margin and y + margin < p[1] < y + h - margin]
            if inside:
                hits.append((link["id"], node["id"]))
    return hits


def measured_sizes(geometry: dict) -> dict[str, list[int]]:
    """The size the frontend computes for each node, widened where it would truncate a title or widget text."""
    return {str(n["id"]): [int(max(n["computed"][0], n["untruncated"]) + 0.999), int(n["computed"][1] + 0.999)]
            for n in geometry["nodes"]}
