"""Run by ComfyUI Manager and comfy-cli after they install requirements.txt; safe to run by hand, any number of times,
with ComfyUI's Python: `python custom_nodes/comfyui-toongen/install.py`.

1. Installs the `f5-tts` package (voice cloning) when it is missing, with the running interpreter and `--no-deps`:
   its own dependency list pulls a training and web-UI stack (gradio, wandb, datasets, bitsandbytes, torchcodec, an
   exact numpy pin) that inference never imports and that breaks ComfyUI hosts; what inference imports is in
   requirements.txt. An f5-tts that is already there (any version) is left alone. Opt out: TOONGEN_INSTALL_F5=0.
2. Says whether torchaudio (F5's mel spectrogram; ComfyUI no longer installs it) imports, and if not, the install
   command that matches this torch. It never installs torch or torchaudio itself.
3. Creates ComfyUI's model folders for ToonGen (models/tts/{kokoro,f5-tts,voices}) and prints what goes where.
   Model files are downloaded on first use, not here.

A step that fails is reported with the command to run by hand; the script still ends with 0, because the pack
loads and speaks (Kokoro) without F5.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

PACK_DIR = Path(__file__).resolve().parent
F5_TTS_REQUIREMENT = "f5-tts==1.1.22"  # the release ToonGen's lean import is tested with (nodes/speech/f5.py)
INSTALL_F5_ENV = "TOONGEN_INSTALL_F5"
MODEL_FOLDERS = {
    "tts/kokoro": "Kokoro-82M original weights (optional; the embedded voices need nothing): config.json, "
                  "kokoro-v1_0.pth, voices/<voice>.pt from huggingface.co/hexgrad/Kokoro-82M",
    "tts/f5-tts": "F5-TTS v1 Base: F5TTS_v1_Base/model_1250000.safetensors and F5TTS_v1_Base/vocab.txt from "
                  "huggingface.co/SWivid/F5-TTS, vocos-mel-24khz/{config.yaml,pytorch_model.bin} from "
                  "huggingface.co/charactr/vocos-mel-24khz",
    "tts/voices": "your own voice styles: <style>.wav (5–10 s of clean speech) + <style>.txt (its exact words)",
}


def say(message: str) -> None:
    print(f"ToonGen install: {message}", flush=True)


def installed_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def installer_command() -> list[str] | None:
    """pip of the running interpreter; uv aimed at it where pip is absent (uv-made venvs); None when neither."""
    embedded = ["-s"] if "python_embeded" in sys.executable else []  # ComfyUI portable: ignore the user site
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, *embedded, "-m", "pip", "install", "--disable-pip-version-check"]
    uv = shutil.which("uv")
    return [uv, "pip", "install", "--python", sys.executable] if uv else None


def ensure_f5_tts(run=subprocess.run) -> bool:
    """Step 1. True when f5-tts is importable afterwards (or was already)."""
    version = installed_version("f5-tts")
    if version is not None and importlib.util.find_spec("f5_tts") is not None:
        say(f"f5-tts {version} is installed; leaving it as it is.")
        return True
    by_hand = f"{sys.executable} -m pip install --no-deps {F5_TTS_REQUIREMENT}"
    if os.environ.get(INSTALL_F5_ENV, "").strip().lower() in ("0", "false", "no", "off"):
        say(f"{INSTALL_F5_ENV}=0: not installing f5-tts; voice cloning stays off until you run: {by_hand}")
        return False
    command = installer_command()
    if command is None:
        say(f"neither pip nor uv is available to this Python; install f5-tts yourself: {by_hand}")
        return False
    command += ["--no-deps", F5_TTS_REQUIREMENT]
    say(f"installing {F5_TTS_REQUIREMENT} for voice cloning, without its training stack: {' '.join(command)}")
    result = run(command)
    importlib.invalidate_caches()
    if result.returncode != 0 or importlib.util.find_spec("f5_tts") is None:
        say(f"could not install f5-tts (exit {result.returncode}); the pack works without it (Kokoro voices). "
            f"Retry by hand: {by_hand}")
        return False
    say(f"f5-tts {installed_version('f5-tts')} installed.")
    return True


def report_torchaudio() -> None:
    """Step 2, with the same check and message the nodes use (nodes/speech/torchaudio_support.py, loaded by path)."""
    spec = importlib.util.spec_from_file_location("toongen_torchaudio_support", PACK_DIR / "nodes" / "speech" / "torchaudio_support.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        problem = module.torchaudio_problem()
    except ImportError as exc:  # no torch at all: not inside a ComfyUI environment
        say(f"cannot check torchaudio ({exc}); run this with ComfyUI's Python.")
        return
    say(problem if problem else "torchaudio imports (F5-TTS can use it).")


def comfyui_root(pack_dir: Path = PACK_DIR) -> Path | None:
    """The ComfyUI folder this pack sits in (…/ComfyUI/custom_nodes/<pack>), or None when it is elsewhere."""
    candidate = pack_dir.parent.parent
    if pack_dir.parent.name == "custom_nodes" and (candidate / "folder_paths.py").is_file():
        return candidate
    return None


def create_model_folders(models_dir: Path | None = None) -> None:
    """Step 3."""
    if models_dir is None:
        root = comfyui_root()
        if root is None:
            say("not inside ComfyUI/custom_nodes; create models/tts/{kokoro,f5-tts,voices} in your ComfyUI folder "
                "(or map 'tts' in extra_model_paths.yaml).")
            return
        models_dir = Path(os.environ.get("TOONGEN_MODELS_DIR", root / "models"))
    for sub, what in MODEL_FOLDERS.items():
        folder = models_dir / sub
        existed = folder.is_dir()
        folder.mkdir(parents=True, exist_ok=True)
        say(f"{'exists ' if existed else 'created'} {folder}\n         put here: {what}")
    say("the embedded Kokoro voices (jf_alpha, jm_kumo, …) need no downloads. Missing Kokoro / F5-TTS / Vocos files "
        "are downloaded from the Hugging Face Hub on first use (HF_HUB_OFFLINE=1 or TOONGEN_ALLOW_DOWNLOAD=0 turn "
        "that off; the error then lists the files).")


def main(models_dir: Path | None = None) -> int:
    ensure_f5_tts()
    report_torchaudio()
    create_model_folders(models_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else None))
