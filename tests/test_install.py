"""Installing the pack the way users do: install.py (which ComfyUI Manager and comfy-cli run after requirements.txt)
puts f5-tts in without its training stack, the real ComfyUI Manager CLI installs the pack from a git URL, and F5
says what to install when torchaudio is missing."""
from __future__ import annotations

import functools
import http.server
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import threading
import venv
from pathlib import Path

import pytest

from ..nodes.speech.torchaudio_support import matching_torchaudio, torchaudio_install_command

REPO = Path(__file__).resolve().parent.parent
TESTS = REPO / "tests" / "support"  # pack_loader
TRAINING_STACK = ("wandb", "gradio", "datasets", "bitsandbytes", "accelerate", "torchcodec")


def run_install(python: str | Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, **env}
    return subprocess.run([str(python), str(REPO / "install.py"), *args], capture_output=True, text=True,
                          env=environment, timeout=600)


def test_install_script_is_idempotent_and_leaves_an_installed_f5_tts_alone(tmp_path):
    for _ in range(2):
        result = run_install(sys.executable, str(tmp_path / "models"))
        assert result.returncode == 0, result.stderr
    assert "f5-tts 1.1.22 is installed; leaving it as it is." in result.stdout
    assert "installing" not in result.stdout
    for sub in ("tts/kokoro", "tts/f5-tts", "tts/voices"):
        assert (tmp_path / "models" / sub).is_dir()
    assert "exists" in result.stdout and "kokoro-v1_0.pth" in result.stdout
    source = (REPO / "install.py").read_text()
    assert "urllib" not in source and "requests" not in source and "hf_hub" not in source  # downloads nothing


def test_install_script_and_f5_engine_name_the_same_f5_tts_release():
    from ..nodes.speech.f5 import F5_TTS_REQUIREMENT, LEAN_INSTALL

    spec = importlib.util.spec_from_file_location("toongen_install", REPO / "install.py")
    install = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(install)
    assert install.F5_TTS_REQUIREMENT == F5_TTS_REQUIREMENT and f"--no-deps {F5_TTS_REQUIREMENT}" in LEAN_INSTALL


def python_without_f5(tmp_path: Path) -> Path:
    """A fresh venv that sees the test environment's packages except f5-tts — a ComfyUI Python with ToonGen's
    requirements installed and install.py not yet run. The packages come through a .pth file pointing at a folder of
    links to them; pip installs into the fresh venv's own site-packages."""
    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(env)
    python = env / "bin" / "python"
    own_site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                   capture_output=True, text=True, check=True).stdout.strip())
    overlay = tmp_path / "test-env-packages"
    overlay.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not re.match(r"f5_tts\b", entry.name):
            (overlay / entry.name).symlink_to(entry)
    (own_site / "zz_test_env_packages.pth").write_text(f"{overlay}\n")
    return python


def own_packages(python: Path) -> set[str]:
    """Distributions installed into this venv itself (not seen through the overlay)."""
    code = ("import importlib.metadata as m, sysconfig; site = sysconfig.get_paths()['purelib']\n"
            "print('\\n'.join(sorted(d.metadata['Name'].lower() for d in m.distributions(path=[site]))))")
    return set(subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout.split())


LEAN_IMPORT_PROBE = """
import importlib.metadata, json, sys
sys.path.insert(0, sys.argv[1])
from pack_loader import load_pack; load_pack()
from toongen.nodes.speech.f5 import import_f5_inference
utils_infer, dit = import_f5_inference()
print(json.dumps({"f5_tts": importlib.metadata.distribution("f5-tts").locate_file("").as_posix(),
                  "loaded": sorted(m for m in %r if m in sys.modules), "cfm": utils_infer.CFM.__name__}))
""" % (TRAINING_STACK,)


def lean_import(python: Path, tests_dir: Path) -> dict:
    result = subprocess.run([python, "-c", LEAN_IMPORT_PROBE, str(tests_dir)], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_manual_install_puts_f5_tts_in_without_its_training_stack(tmp_path):
    """The README's manual steps after `pip install -r requirements.txt`: `python install.py`."""
    python = python_without_f5(tmp_path)
    assert importlib.util.find_spec("f5_tts") is not None  # the test environment has it; the fresh venv must not
    assert subprocess.run([python, "-c", "import f5_tts"], capture_output=True).returncode != 0
    numpy_before = subprocess.run([python, "-c", "import numpy; print(numpy.__version__)"], capture_output=True,
                                  text=True, check=True).stdout

    opted_out = run_install(python, str(tmp_path / "models"), TOONGEN_INSTALL_F5="0")
    assert "TOONGEN_INSTALL_F5=0: not installing f5-tts" in opted_out.stdout and own_packages(python) == set()

    first = run_install(python, str(tmp_path / "models"))
    assert first.returncode == 0, first.stderr
    assert "installing f5-tts==1.1.22 for voice cloning, without its training stack" in first.stdout
    assert "--no-deps f5-tts==1.1.22" in first.stdout and "f5-tts 1.1.22 installed." in first.stdout
    assert own_packages(python) == {"f5-tts"}  # nothing of its own dependency list came along
    again = run_install(python, str(tmp_path / "models"))
    assert "f5-tts 1.1.22 is installed; leaving it as it is." in again.stdout
    probe = lean_import(python, TESTS)
    assert probe["f5_tts"].startswith(str(python.parent.parent)) and probe["loaded"] == [] and probe["cfm"] == "CFM"
    assert subprocess.run([python, "-c", "import numpy; print(numpy.__version__)"], capture_output=True, text=True,
                          check=True).stdout == numpy_before


def serve_checkout_over_git_http(tmp_path: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """This working tree (tracked and new files, as they are now) as a git repository behind a plain HTTP server —
    git's "dumb" protocol, which git clone and ComfyUI Manager take like any remote URL."""
    work = tmp_path / "snapshot"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        if (REPO / name).is_file():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, work / name)
    git = ["git", "-c", "user.name=ToonGen test", "-c", "user.email=test@toongen.invalid"]
    subprocess.run([*git, "init", "-q"], cwd=work, check=True)
    subprocess.run([*git, "add", "-A"], cwd=work, check=True)
    subprocess.run([*git, "commit", "-qm", "snapshot"], cwd=work, check=True)
    served = tmp_path / "served"
    served.mkdir()
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(served / "comfyui-toongen.git")], check=True)
    subprocess.run(["git", "update-server-info"], cwd=served / "comfyui-toongen.git", check=True)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/comfyui-toongen.git"


@pytest.mark.slow
def test_comfyui_manager_cli_installs_the_pack_and_f5_tts_from_a_git_url(tmp_path):
    """The real ComfyUI Manager 4.3 CLI (cm-cli, what `comfy node install` runs) installs this checkout into a
    throwaway ComfyUI: it clones the repository, pip-installs requirements.txt line by line, runs install.py."""
    from .support.comfy_server import comfy_dir

    python = python_without_f5(tmp_path)
    pip = subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                          "comfyui-manager==4.3"], capture_output=True, text=True, timeout=600)
    assert pip.returncode == 0, pip.stderr[-3000:]
    comfy = tmp_path / "ComfyUI"
    shutil.copytree(comfy_dir(), comfy, ignore=shutil.ignore_patterns("custom_nodes", "user", "models", "output",
                                                                       "input", "temp", "__pycache__"))
    (comfy / "custom_nodes").mkdir()
    (comfy / "user" / "__manager").mkdir(parents=True)
    # Manager's pip mode: its uv mode would not see the packages the fresh venv gets through the .pth overlay and
    # would download a second torch; in a real ComfyUI Python they are in site-packages, where uv sees them.
    (comfy / "user" / "__manager" / "config.ini").write_text("[default]\nuse_uv = False\n")
    server, url = serve_checkout_over_git_http(tmp_path)
    try:
        result = subprocess.run([python.parent / "cm-cli", "install", url, "--mode", "local"], capture_output=True,
                                text=True, timeout=1200, env={**os.environ, "COMFYUI_PATH": str(comfy)})
    finally:
        server.shutdown()
    log = result.stdout + result.stderr
    assert result.returncode == 0 and "[INSTALLED]" in log, log[-4000:]
    pack = comfy / "custom_nodes" / "comfyui-toongen"
    assert (pack / "install.py").is_file() and (pack / "nodes" / "runtime" / "downloads.py").is_file()
    assert "'install.py']" in log and "ToonGen install: installing f5-tts==1.1.22" in log
    assert "ToonGen install: f5-tts 1.1.22 installed." in log
    assert all((comfy / "models" / "tts" / sub).is_dir() for sub in ("kokoro", "f5-tts", "voices"))
    assert own_packages(python) & {"f5-tts", *TRAINING_STACK} == {"f5-tts"}
    probe = lean_import(python, pack / "tests" / "support")  # the installed copy's own code
    assert probe["f5_tts"].startswith(str(python.parent.parent)) and probe["loaded"] == []


@pytest.mark.parametrize("torch_version, requirement, index", [
    ("2.13.0+cpu", "torchaudio==2.13.0", "https://download.pytorch.org/whl/cpu"),
    ("2.5.1+cu124", "torchaudio==2.5.1", "https://download.pytorch.org/whl/cu124"),
    ("2.6.0+rocm6.2.4", "torchaudio==2.6.0", "https://download.pytorch.org/whl/rocm6.2.4"),
    ("2.7.1+xpu", "torchaudio==2.7.1", "https://download.pytorch.org/whl/xpu"),
    ("2.9.1", "torchaudio==2.9.1", None),            # PyPI's own build (CUDA on Linux, CPU elsewhere)
    ("2.0.1+cu118", "torchaudio==2.0.2", "https://download.pytorch.org/whl/cu118"),
    ("1.13.1+cu117", "torchaudio==0.13.1", "https://download.pytorch.org/whl/cu117"),
    ("2.10.0.dev20251201+cu128", "--pre torchaudio", "https://download.pytorch.org/whl/nightly/cu128"),
    ("2.8.0a0+gitabc123", None, None),               # a source build: nothing published matches it
])
def test_torchaudio_matching_the_installed_torch_build(torch_version, requirement, index):
    assert matching_torchaudio(torch_version) == (requirement, index)
    command = torchaudio_install_command(torch_version, python="/comfy/python")
    if requirement is None:
        assert command is None
    else:
        assert command == f"/comfy/python -m pip install --no-deps {requirement}" + (f" --index-url {index}" if index else "")


TORCHAUDIO_BLOCKED = """
import json, sys
sys.modules["torchaudio"] = None  # as if ComfyUI >= 0.38 had not installed it
sys.path.insert(0, sys.argv[1])
from pack_loader import load_pack; load_pack()
from pathlib import Path
from toongen.nodes.speech.kokoro import EngineUnavailableError
from toongen.nodes.speech.pipeline import choose_engine
from toongen.nodes.speech.engines import f5_problem
from toongen.nodes.speech.f5 import import_f5_inference
from toongen.nodes.voices.library import list_voice_references
problem = f5_problem(Path(sys.argv[2]))
auto = choose_engine("auto", "deadpan_narrator", list_voice_references(), problem)
try:
    choose_engine("f5_tts", "deadpan_narrator", list_voice_references(), problem)
    explicit = None
except RuntimeError as exc:
    explicit = str(exc)
try:
    import_f5_inference()
    engine_error = None
except EngineUnavailableError as exc:
    engine_error = str(exc)
print(json.dumps({"problem": problem, "auto": [auto.engine, auto.reason], "explicit": explicit,
                  "engine_error": engine_error}))
"""


def test_without_torchaudio_f5_names_the_matching_install_command_and_auto_falls_back(tmp_path):
    import torch

    from .support.tiny_models import build_f5

    folder = build_f5(tmp_path / "f5-tts")  # weights present: torchaudio is the only thing missing
    result = subprocess.run([sys.executable, "-c", TORCHAUDIO_BLOCKED, str(TESTS), str(folder)], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    command = torchaudio_install_command(torch.__version__)
    release, _, label = torch.__version__.partition("+")
    assert command.startswith(f"{sys.executable} -m pip install --no-deps torchaudio=={release}")
    assert label == "" or command.endswith(f"--index-url https://download.pytorch.org/whl/{label}")
    assert "torchaudio is not installed" in outcome["problem"] and command in outcome["problem"]
    assert outcome["auto"][0] == "kokoro" and command in outcome["auto"][1]
    assert outcome["explicit"].startswith("engine f5_tts cannot run: F5-TTS needs torchaudio") and command in outcome["explicit"]
    assert command in outcome["engine_error"]


def test_a_torchaudio_that_does_not_fit_this_torch_is_reported_as_such(tmp_path):
    fake = tmp_path / "fake" / "torchaudio"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise OSError('libtorchaudio.so: undefined symbol: _ZN3c10')\n")
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[2])\n"
             "from pack_loader import load_pack; load_pack()\n"
             "from toongen.nodes.speech.torchaudio_support import torchaudio_problem; print(torchaudio_problem())")
    result = subprocess.run([sys.executable, "-c", probe, str(TESTS), str(tmp_path / "fake")], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "torchaudio is installed but does not import (OSError: libtorchaudio.so: undefined symbol" in result.stdout
    assert "pip install --no-deps torchaudio==" in result.stdout
