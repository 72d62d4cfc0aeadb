"""The ComfyUI frontend served by the test ComfyUI opens each UI workflow in headless Chromium with none of our node
types missing (the video packs are not installed in the test server, so only theirs may be). Screenshots are kept
in tests/artifacts/."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
UI_WORKFLOWS = sorted((REPO / "workflows").glob("*.ui.json"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser_page(comfy):
    if not CHROMIUM:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: .ci/run installs it with apt-get")
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    comfy._request("/settings/Comfy.TutorialCompleted", True)  # no first-run template browser over the canvas

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(comfy.url, timeout=90_000)
        page.wait_for_function("() => window.app && window.app.graph", timeout=90_000)
        yield page
        browser.close()


@pytest.mark.parametrize("path", UI_WORKFLOWS, ids=[p.name for p in UI_WORKFLOWS])
def test_frontend_opens_the_workflow_with_all_our_nodes(browser_page, path):
    workflow = json.loads(path.read_text())
    browser_page.evaluate("(wf) => window.app.loadGraphData(wf)", workflow)
    browser_page.wait_for_timeout(1000)
    nodes = browser_page.evaluate(
        "() => window.app.graph._nodes.map(n => ({type: n.type, known: !!(n.constructor && n.constructor.nodeData),"
        " errors: !!n.has_errors, links: (n.inputs || []).filter(i => i.link != null).length}))")
    ARTIFACTS.mkdir(exist_ok=True)
    for _ in range(3):
        browser_page.keyboard.press("Escape")  # close the missing-nodes dialog for the screenshot
    browser_page.evaluate("() => { const c = window.app.canvas; c.ds.offset = [90, 160]; c.ds.scale = 0.5;"
                          " c.setDirty(true, true); }")
    browser_page.wait_for_timeout(300)
    browser_page.screenshot(path=str(ARTIFACTS / f"{path.stem}.png"))
    assert sorted(n["type"] for n in nodes) == sorted(n["type"] for n in workflow["nodes"])
    ours = [n for n in nodes if n["type"].startswith("ToonGen")]
    assert ours and all(n["known"] and not n["errors"] for n in ours), ours
    missing = {n["type"] for n in nodes if not n["known"]}
    assert not any(t.startswith("ToonGen") for t in missing)
    assert sum(n["links"] for n in nodes) == len(workflow["links"])
