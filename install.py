"""Run by ComfyUI Manager after it installs requirements.txt (and safe to run by hand, any number of times).

Creates ComfyUI's model folders for ToonGen and prints what goes where. It installs nothing and downloads nothing.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

PACK_DIR = Path(__file__).resolve().parent
MODEL_FOLDERS = {
    "tts/kokoro": "Kokoro-82M (optional; the embedded voices need nothing): config.json, kokoro-v1_0.pth, "
                  "voices/<voice>.pt from huggingface.co/hexgrad/Kokoro-82M",
    "tts/f5-tts": "F5-TTS v1 Base: F5TTS_v1_Base/model_1250000.safetensors and F5TTS_v1_Base/vocab.txt from "
                  "huggingface.co/SWivid/F5-TTS, vocos-mel-24khz/{config.yaml,pytorch_model.bin} from "
                  "huggingface.co/charactr/vocos-mel-24khz",
    "tts/voices": "your own voice styles: <style>.wav (5–10 s of clean speech) + <style>.txt (its exact words)",
}


def comfyui_root(pack_dir: Path = PACK_DIR) -> Path | None:
    """The ComfyUI folder this pack sits in (…/ComfyUI/custom_nodes/<pack>), or None when it is elsewhere."""
    candidate = pack_dir.parent.parent
    if pack_dir.parent.name == "custom_nodes" and (candidate / "folder_paths.py").is_file():
        return candidate
    return None


def main(models_dir: Path | None = None) -> int:
    if models_dir is None:
        root = comfyui_root()
        if root is None:
            print("ToonGen install: not inside ComfyUI/custom_nodes; create models/tts/{kokoro,f5-tts,voices} in your "
                  "ComfyUI folder (or map 'tts' in extra_model_paths.yaml).")
            return 0
        models_dir = Path(os.environ.get("TOONGEN_MODELS_DIR", root / "models"))
    for sub, what in MODEL_FOLDERS.items():
        folder = models_dir / sub
        existed = folder.is_dir()
        folder.mkdir(parents=True, exist_ok=True)
        print(f"ToonGen: {'exists ' if existed else 'created'} {folder}\n         put here: {what}")
    print("ToonGen: the embedded Kokoro voices (jf_alpha, jm_kumo, …) work with no downloads. "
          "Set TOONGEN_ALLOW_DOWNLOAD=1 to let missing Kokoro weights be fetched from the Hugging Face Hub on first use.")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else None))
