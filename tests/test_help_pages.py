"""Every ToonGen node has a help page, nodes/web/docs/<node_id>.md (the pack's WEB_DIRECTORY is nodes/web), that a
real ComfyUI serves where the frontend's node help panel looks for it, and that the panel shows: checked in the
frontend each tested ComfyUI pins and in the newest comfyui-frontend-package (tests/bootstrap.sh unpacks it)."""
from __future__ import annotations

import os
import re
import urllib.parse
from pathlib import Path

import pytest

from .conftest import TOONGEN_NODE_IDS
from .support.comfy_server import ENV_ROOT, REPO, ComfyServer
from .support.frontend import CHROMIUM, open_editor

WEB = REPO / "nodes" / "web"
DOCS = WEB / "docs"
pytestmark = pytest.mark.real_server  # every tested ComfyUI, each with the frontend it pins

MARKDOWN_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def page_text(node_id: str) -> str:
    path = DOCS / f"{node_id}.md"
    assert path.is_file(), f"{node_id} has no help page: write nodes/web/docs/{node_id}.md"
    return path.read_text(encoding="utf-8")


def relative_targets(markdown: str) -> list[str]:
    """The links and images of a page that point into the repository (no URL scheme, no in-page anchor)."""
    targets = []
    for target in MARKDOWN_LINK.findall(markdown):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue
        targets.append(target.split("#")[0])
    return targets


def newest_frontend() -> Path | None:
    found = sorted((ENV_ROOT / "frontends").glob("1.58.*/static/index.html"),
                   key=lambda p: [int(x) for x in p.parent.parent.name.split(".")])
    return found[-1].parent if found else None


@pytest.fixture(scope="module")
def ours(comfy) -> dict[str, dict]:
    info = comfy.get_json("/object_info")
    return {name: spec for name, spec in info.items() if spec["python_module"].endswith(".comfyui-toongen")}


def test_every_registered_node_has_a_page_that_names_each_input_and_output(ours):
    assert sorted(ours) == sorted(TOONGEN_NODE_IDS)
    for node_id, spec in ours.items():
        text = page_text(node_id)
        assert text.startswith(f"# {spec['display_name']}\n"), f"{node_id}: the page's title is the node's name"
        names = [*spec["input"].get("required", {}), *spec["input"].get("optional", {}), *spec["output_name"]]
        unnamed = [name for name in names if f"`{name}`" not in text]
        assert not unnamed, f"{node_id}'s page never names {unnamed} (in backticks, as the node spells them)"
        for heading in ("## Inputs", "## Outputs", "## Example"):
            assert heading in text, f"{node_id}'s page has no '{heading}' section"


def test_links_and_pictures_of_the_pages_and_the_readme_resolve():
    pages = [*DOCS.rglob("*.md"), REPO / "README.md"]
    assert len(pages) > len(TOONGEN_NODE_IDS)
    broken = [f"{page.relative_to(REPO)} → {target}" for page in pages for target in relative_targets(page.read_text())
              if not (page.parent / urllib.parse.unquote(target)).exists()]
    assert not broken, broken


def test_the_readme_is_a_landing_page_that_links_every_node_page():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    for node_id in TOONGEN_NODE_IDS:
        assert f"(nodes/web/docs/{node_id}.md)" in readme, node_id


def test_the_server_serves_each_page_and_picture_where_the_frontend_looks(comfy, ours):
    """The frontend asks /extensions/<pack>/docs/<node_id>/<locale>.md, then /extensions/<pack>/docs/<node_id>.md,
    where <pack> is the node's python_module without its "custom_nodes." prefix."""
    for node_id, spec in ours.items():
        pack = spec["python_module"].split(".", 1)[1]
        base = f"/extensions/{urllib.parse.quote(pack)}/docs/"
        assert comfy._request(f"{base}{node_id}.md") == (DOCS / f"{node_id}.md").read_bytes()
        for target in relative_targets(page_text(node_id)):
            if (DOCS / target).resolve().is_relative_to(WEB):  # what lies outside the web folder is for GitHub readers
                assert comfy._request(base + target) == (DOCS / target).read_bytes(), target


FRONTENDS = ["pinned", "newest"]


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_the_frontends_help_panel_shows_each_page(frontend, tmp_path_factory):
    """Open each of our nodes' help the way that frontend shows it (show_help) and read the panel: our page rendered
    (its title, its Example section and its pictures loaded), not the frontend's fallback built from the tooltips."""
    if not CHROMIUM:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: .ci/run installs it with apt-get")
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    extra: tuple[str, ...] = ()
    if frontend == "newest":
        root = newest_frontend()
        assert root, f"no 1.58.x frontend in {ENV_ROOT / 'frontends'}: tests/bootstrap.sh downloads it from PyPI"
        extra = ("--front-end-root", str(root))
    server = ComfyServer(base_dir=tmp_path_factory.mktemp(f"help-{frontend}"), extra_args=extra)
    server.start(expect_nodes=TOONGEN_NODE_IDS)
    try:
        with open_editor(server) as page:
            page.wait_for_selector(".side-tool-bar-container", timeout=120_000)  # the workspace is up, not the splash
            version = page.evaluate("() => window.__COMFYUI_FRONTEND_VERSION__ || null")
            for node_id in TOONGEN_NODE_IDS:
                title = page_text(node_id).splitlines()[0].lstrip("# ").strip()
                shown = show_help(page, node_id, title)
                assert shown["h1"] == title, f"frontend {version}: {node_id}'s panel shows {shown}"
                assert "Example" in shown["h2"], f"frontend {version}: {node_id}'s panel shows {shown}"
                assert all(shown["images"]), f"frontend {version}: {node_id}'s pictures did not load: {shown}"
    finally:
        server.stop()


# How a user opens a node's help, per frontend: 1.49 and later show it in the right side panel's Info tab for the
# node selected on the canvas; older ones in the node library, through its node-help store (what the library's help
# button calls).
PLACE_NODE = """async (nodeId) => {
  const pinia = document.querySelector('#vue-app').__vue_app__.config.globalProperties.$pinia;
  if (!pinia._s.get('rightSidePanel')) {
    if (pinia._s.get('sidebarTab')?.activeSidebarTabId !== 'node-library')
      await window.app.extensionManager.command.execute('Workspace.ToggleSidebarTab.node-library');
    for (let i = 0; i < 50 && !pinia._s.get('nodeHelp'); i++) await new Promise(r => setTimeout(r, 100));
    pinia._s.get('nodeHelp').openHelp(pinia._s.get('nodeDef').nodeDefsByName[nodeId]);
    return {via: 'node library help'};
  }
  window.app.graph.clear();
  const node = LiteGraph.createNode(nodeId);
  window.app.graph.add(node);
  window.app.canvas.selectItems([node]);  // what a click on the node does (selectNode alone skips the panel's store)
  pinia._s.get('rightSidePanel').openPanel('info');
  return {via: 'right side panel, Info tab'};
}"""

READ_PANEL = """async (title) => {
  let seen = null;
  for (let i = 0; i < 300; i++) {
    await new Promise(r => setTimeout(r, 100));
    const content = document.querySelector('.node-help-content');
    const h1 = content && content.querySelector('h1');
    seen = content ? content.textContent.slice(0, 200) : 'no help panel';
    if (!h1 || h1.textContent.trim() !== title) continue;
    const images = [...content.querySelectorAll('img')];
    if (images.some(img => !img.complete)) continue;
    return {h1: h1.textContent.trim(), h2: [...content.querySelectorAll('h2')].map(h => h.textContent.trim()),
            images: images.map(img => img.naturalWidth > 0)};
  }
  return {h1: null, h2: [], images: [], seen};
}"""


def show_help(page, node_id: str, title: str) -> dict:
    placed = page.evaluate(PLACE_NODE, node_id)
    return {**placed, **page.evaluate(READ_PANEL, title)}
