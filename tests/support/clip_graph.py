"""Running the shipped clip workflows for real on a CPU (tests and bench-clip; no pytest in here).

A clip server is a real ComfyUI (0.33.0) with ToonGen, VideoHelperSuite, AdvancedLivePortrait, AnimateDiff-Evolved
and ComfyUI-GGUF in its custom_nodes/ (unpacked by tests/bootstrap.sh from ../shared/upstream), the test probe pack,
and the random-weight model files of tests/support/clip_models.py linked into its models/. The shipped API twins run node for
node: `cpu_widgets` changes widget values only (small frames, few steps, a low frame rate), never a node or a link.
"""
from __future__ import annotations

import copy
import json
import os
import tempfile
from pathlib import Path

from .comfy_server import ENV_ROOT, PROBE_PACK, REPO, ComfyServer, comfyui_version

CLIP_COMFYUI_VERSION = "0.33.0"
PACKS_DIR = ENV_ROOT / "custom-nodes"
# The packs the executed clip workflows use; the NF4 loader is not among them (README: why NF4 is not run).
CLIP_PACKS = ("ComfyUI-VideoHelperSuite", "ComfyUI-AdvancedLivePortrait", "ComfyUI-AnimateDiff-Evolved", "ComfyUI-GGUF")
API_DIR = REPO / "workflows" / "api"
EXECUTED_WORKFLOWS = ("toongen_clip_flux_gguf", "toongen_clip_flux_fp8")
VARIANT = {"toongen_clip_flux_gguf": "gguf", "toongen_clip_flux_fp8": "fp8"}

# The shortest scenario line (about 5 s of speech): at 2 fps it is shorter than AnimateDiff's 16 frames, so the clip
# shows the short-line rule (16 frames: the voice, then music and a resting mouth) and LivePortrait renders 16.
CPU_SCENARIO = "interdimensional_ad_1"
CPU_FPS = 2.0
CPU_WIDGETS = {
    "4": {"width": 64, "height": 64},        # Flux latent 8×8
    "5": {"steps": 2},                       # Flux schnell sampler
    "7": {"width": 64, "height": 64},        # the face LivePortrait animates
    "21": {"steps": 2},                      # AnimateDiff sampler (denoise 0.35 of 2 steps)
}


def clip_unavailable() -> str:
    """Why the clip workflows cannot run here, or '' when they can."""
    version = comfyui_version()
    if version != CLIP_COMFYUI_VERSION:
        return f"the clip workflows run on ComfyUI {CLIP_COMFYUI_VERSION} (this is {version})"
    missing = [p for p in CLIP_PACKS if not (PACKS_DIR / p / "__init__.py").is_file()]
    if missing:
        return (f"the video packs {missing} are not unpacked: tests/bootstrap.sh unpacks them from "
                "../shared/upstream, which lacks them here")
    return ""


def load_api_workflow(name: str) -> dict:
    return json.loads((API_DIR / f"{name}.json").read_text())


def node_of(graph: dict, class_type: str) -> str:
    (node_id,) = [k for k, n in graph.items() if n["class_type"] == class_type]
    return node_id


def set_widgets(graph: dict, values: dict[str, dict]) -> dict:
    """A copy of `graph` with widget values changed; refuses to touch a link or a node that is not there."""
    graph = copy.deepcopy(graph)
    for node_id, inputs in values.items():
        node = graph[node_id]
        for name, value in inputs.items():
            old = node["inputs"].get(name)
            if name not in node["inputs"] or isinstance(old, list):
                raise ValueError(f"node {node_id} ({node['class_type']}): {name!r} is not a widget value here")
            node["inputs"][name] = value
    return graph


def cpu_widgets(graph: dict, scenario: str = CPU_SCENARIO, fps: float = CPU_FPS) -> dict:
    """The CPU widget values: small frames, two sampler steps, `scenario`'s line at `fps` (Clip Length's fps, which
    Mouth Shapes and Video Combine take from it)."""
    values = {**CPU_WIDGETS, node_of(graph, "ToonGenScenario"): {"scenario": scenario},
              node_of(graph, "ToonGenClipLength"): {"fps": fps}}
    return set_widgets(graph, values)


# The dialogue clip (toongen_dialogue_clip: two faces, two LivePortraits sharing the eight editors) at about the cost
# of one clip above: two short lines (≈ 4 s with the tail) at 2 fps, Clip Length's minimum lowered to 8 frames, so
# the clip has 9 frames and LivePortrait renders 8 editors + 2 × 9 frames (26; a 16-frame clip: 24), each face 3 of
# them speaking. Flux draws 128×64, cut into two 64×64 faces.
DIALOGUE_WORKFLOW = "toongen_dialogue_clip"
DIALOGUE_SPEAKERS = ("excited_host", "manic_salesman")  # left face, right face
DIALOGUE_CPU_SCRIPT = "[excited_host] Hello there, my friend!\n[manic_salesman] Buy my fake doors!"
DIALOGUE_MIN_FRAMES = 8
DIALOGUE_CPU_WIDGETS = {
    "4": {"width": 128, "height": 64},                                # Flux latent 16×8: both characters
    "5": {"steps": 2},
    "7": {"width": 64, "height": 64, "x": 0},                         # the left face
    "8": {"width": 64, "height": 64, "x": 64},                        # the right face
    "21": {"steps": 2},
}


def dialogue_cpu_widgets(graph: dict, script: str = DIALOGUE_CPU_SCRIPT, fps: float = CPU_FPS) -> dict:
    """The dialogue clip's CPU widget values (widget values only, as `cpu_widgets`)."""
    values = {**DIALOGUE_CPU_WIDGETS, node_of(graph, "ToonGenScript"): {"script": script},
              node_of(graph, "ToonGenClipLength"): {"fps": fps, "min_frames": DIALOGUE_MIN_FRAMES}}
    return set_widgets(graph, values)


def link_models(base_dir: Path, models_root: Path) -> None:
    """Each model folder of the generated tree, linked into a server's models/."""
    for folder in sorted(p for p in models_root.iterdir() if p.is_dir()):
        link = base_dir / "models" / folder.name
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(folder, target_is_directory=True)


def clip_server(base_dir: Path, models_root: Path) -> ComfyServer:
    """A started clip server (see the module text); the caller stops it."""
    link_models(base_dir, models_root)
    yolo_config = base_dir / "yolo-config"  # ultralytics writes its settings there instead of the home folder
    yolo_config.mkdir(parents=True, exist_ok=True)
    server = ComfyServer(base_dir=base_dir, custom_nodes=(PROBE_PACK, *(PACKS_DIR / p for p in CLIP_PACKS)),
                         env={"YOLO_CONFIG_DIR": str(yolo_config), "YOLO_OFFLINE": "1"})
    return server.start(expect_nodes=("ToonGenClipLength", "AdvancedLivePortrait", "ADE_UseEvolvedSampling",
                                      "UnetLoaderGGUF", "VHS_VideoCombine"), timeout=300)


def ensure_models(variants: tuple[str, ...]) -> Path:
    """The generated model tree (tests/support/clip_models.py), written once in a process of its own (it imports ComfyUI's
    model code) and reused while the generator's version is unchanged."""
    import subprocess
    import sys

    from .clip_models import default_root

    command = [sys.executable, "-m", "tests.support.clip_models", *sum((["--variant", v] for v in variants), [])]
    subprocess.run(command, cwd=REPO, check=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return default_root()


def first_clip_run(server: ComfyServer, graph: dict, timeout: float) -> dict:
    """One run of a clip graph followed over the websocket, the probe reset before it: its messages, its history
    entry and what the probe recorded; any execution error fails the test with the server's log."""
    server.post_json("/toongen_test/probe/reset", {})
    messages, entry = server.run_watching(graph, timeout=timeout)
    errors = [m for m in messages if m.get("type") == "execution_error"]
    assert not errors, f"execution error: {errors[0]['data']}\n{server.log_tail()}"
    assert entry["status"]["status_str"] == "success", entry["status"]
    return {"messages": messages, "entry": entry, "probe": server.get_json("/toongen_test/probe")}


def executed_nodes(messages: list[dict]) -> tuple[set[str], set[str]]:
    """(executed, cached) node ids from a prompt's websocket messages."""
    executed, cached = set(), set()
    for message in messages:
        kind, data = message.get("type"), message.get("data", {})
        if kind == "executing" and data.get("node") is not None:
            executed.add(str(data["node"]))
        elif kind == "execution_cached":
            cached.update(map(str, data.get("nodes", [])))
    return executed, cached


def scratch_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))
