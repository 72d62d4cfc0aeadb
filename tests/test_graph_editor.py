"""Every UI workflow in the real ComfyUI frontend (headless Chromium), opened as a user opens it: all nodes known
(ours from this checkout; the video packs' through interface stand-ins built from their real /object_info, see
tests/support/frontend.py), at the sizes the frontend computes, none overlapping, each inside its stage's group, few
crossing links and none drawn over a node; one 100 %-zoom screenshot per group in tests/artifacts/. The server
lists exactly the UI workflows as its templates."""
from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pytest

from ..workflows import build
from .support.frontend import (CHROMIUM, canvas_only, link_crossings, links_under_nodes, load, measured_sizes,
                               open_editor, screenshot_groups, start_server)

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
UI_WORKFLOWS = sorted((REPO / "workflows").glob("*.json"))
# The stages' inherent ones: the prompt over the Flux loaders, the command over the editors, and the voice, timing
# and script lanes from stage 1 to the mouth shapes in stage 5 crossing each other's stems (16 of 49 links) — and
# since the clip has one length, Clip Length's frame count and frame rate rising from below into Mouth Shapes, whose
# other inputs come from above (27 of 53; every other placement tried crossed more or ran a link over a node).
MAX_CROSSINGS = 28
# The dialogue clip feeds two Mouth Shapes, each from above (the voice and the timing on their lanes) and from the
# left (Clip Length's frame count and frame rate), so those stems cross twice as often; its two LivePortraits take
# their commands and the right face on lanes from below (37 of 60 links).
MAX_CROSSINGS_OF = {"toongen_dialogue_clip": 40}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("frontend"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def page(server):
    if not CHROMIUM:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: .ci/run installs it with apt-get")
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    with open_editor(server) as page:
        canvas_only(page)
        yield page


@pytest.fixture(scope="module")
def opened(page):
    """workflow stem → the frontend's geometry of it after loading"""
    shots = {}
    for path in UI_WORKFLOWS:
        geometry = load(page, json.loads(path.read_text()))
        geometry["registered"] = page.evaluate(
            "() => window.app.graph._nodes.map(n => n.type).filter(t => !(t in LiteGraph.registered_node_types))")
        geometry["screenshots"] = screenshot_groups(page, geometry, ARTIFACTS, path.stem)
        shots[path.stem] = geometry
    return shots


@pytest.mark.parametrize("path", UI_WORKFLOWS, ids=[p.stem for p in UI_WORKFLOWS])
def test_the_frontend_opens_it_with_every_node_known(opened, path):
    workflow, geometry = json.loads(path.read_text()), opened[path.stem]
    assert sorted(n["type"] for n in geometry["nodes"]) == sorted(n["type"] for n in workflow["nodes"])
    assert geometry["registered"] == []
    ours = [n for n in geometry["nodes"] if n["type"].startswith("ToonGen")]
    assert ours and all(n["known"] and not n["errors"] for n in ours), ours
    assert all(n["known"] for n in geometry["nodes"] if n["type"] not in ("MarkdownNote", "Note"))
    assert sum(n["linked_inputs"] for n in geometry["nodes"]) == len(workflow["links"])
    assert geometry["reroutes"] == len(workflow["extra"].get("reroutes", []))  # none dropped as invalid


@pytest.mark.parametrize("path", UI_WORKFLOWS, ids=[p.stem for p in UI_WORKFLOWS])
def test_nodes_have_the_frontends_sizes_do_not_overlap_and_sit_in_groups(opened, path):
    workflow, geometry = json.loads(path.read_text()), opened[path.stem]
    saved = {n["id"]: n for n in workflow["nodes"]}
    measured = json.loads(build.SIZES.read_text())[path.stem]
    assert measured_sizes(geometry) == {k: measured[k] for k in measured_sizes(geometry)}, \
        f"the frontend computes other sizes now: python -m workflows.redraw measures them again"
    for node in geometry["nodes"]:  # the file's sizes are what the frontend keeps: it had nothing to enlarge
        assert [round(v) for v in node["size"]] == saved[node["id"]]["size"], node["title"]
        assert [round(v) for v in node["pos"]] == saved[node["id"]]["pos"], node["title"]
    rects = {n["id"]: n["rect"] for n in geometry["nodes"]}
    overlaps = [(a, b) for a in rects for b in rects if a < b and _overlap(rects[a], rects[b])]
    assert not overlaps
    groups = [g["rect"] for g in geometry["groups"]]
    outside = [n["title"] for n in geometry["nodes"] if not any(_inside(n["rect"], g) for g in groups)]
    assert not outside
    assert not any(_overlap(a, b) for i, a in enumerate(groups) for b in groups[i + 1:])


@pytest.mark.parametrize("path", UI_WORKFLOWS, ids=[p.stem for p in UI_WORKFLOWS])
def test_links_cross_little_and_never_run_over_a_node(opened, path):
    geometry = opened[path.stem]
    titles = {n["id"]: n["title"] for n in geometry["nodes"]}
    links = {link["id"]: link for link in geometry["links"]}
    under = [(titles[links[link]["origin"]], titles[links[link]["target"]], titles[node])
             for link, node in links_under_nodes(geometry)]
    assert not under
    crossings = link_crossings(geometry)
    print(f"{path.stem}: {len(crossings)} crossing link pairs of {len(links)} links")
    assert len(crossings) <= MAX_CROSSINGS_OF.get(path.stem, MAX_CROSSINGS)


@pytest.mark.parametrize("path", UI_WORKFLOWS, ids=[p.stem for p in UI_WORKFLOWS])
def test_one_screenshot_per_stage_group_at_full_zoom(opened, path):
    geometry = opened[path.stem]
    shots = geometry["screenshots"]
    assert len(shots) == len(geometry["groups"]) and all(p.stat().st_size > 5000 for p in shots)
    from PIL import Image

    for shot, group in zip(shots, geometry["groups"]):
        assert Image.open(shot).size == (int(group["rect"][2]) + 40, int(group["rect"][3]) + 40)


def test_the_template_list_holds_exactly_the_ui_workflows(server):
    templates = {pack: sorted(names) for pack, names in server.get_json("/workflow_templates").items()}
    assert templates == {"comfyui-toongen": sorted(p.stem for p in UI_WORKFLOWS)}
    for path in UI_WORKFLOWS:  # what the template browser fetches: the workflow and its thumbnail
        base = f"{server.url}/api/workflow_templates/comfyui-toongen/{path.stem}"
        with urllib.request.urlopen(base + ".json", timeout=30) as response:
            assert json.loads(response.read()) == json.loads(path.read_text())
        with urllib.request.urlopen(base + ".jpg", timeout=30) as response:
            assert response.headers["Content-Type"] == "image/jpeg" and response.read()[:3] == b"\xff\xd8\xff"


def _overlap(a, b) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _inside(rect, group) -> bool:
    return (group[0] <= rect[0] and rect[0] + rect[2] <= group[0] + group[2]
            and group[1] <= rect[1] and rect[1] + rect[3] <= group[1] + group[3])
