"""Speech from the offline voices (no ComfyUI imports): a named voice, or a voice style's recipe — the engine speaks
chunk by chunk, then the recipe's pitch, formants, effect and loudness shape the whole clip. Finished speech goes
through the disk cache, keyed by everything that changes the sound."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..runtime import model_cache
from ..runtime.downloads import downloads_allowed
from ..speech.cache import AudioCache
from ..speech.engines import KOKORO_HUB_VOICES, embedded_kokoro_voices, offline_source, offline_voices
from ..speech.kokoro import SAMPLE_RATE, KokoroBlend
from ..speech.pipeline import ChunkedSpeech, cached_speech
from ..speech.text_chunks import check_speakable, clean_text
from ..speech.timing import Utterance
from .effects import shape_speech
from .recipes import Recipe, check_voices

CHUNK_CHARS = 300  # ≈ 400 phonemes: inside Kokoro's 510-token context (and hibari's 400, Piper's clauses)
SPEED_RANGE = (0.5, 2.0)


def recipe_voice(recipe: Recipe) -> str | KokoroBlend:
    """What the engine is asked to speak with: the recipe's voice name, or its blend."""
    if recipe.voice:
        return recipe.voice
    return KokoroBlend(tuple((v, w) for half, v, w in recipe.blend if half == "timbre"),
                       tuple((v, w) for half, v, w in recipe.blend if half == "prosody"))


def check_recipe_voices(recipe: Recipe, kokoro_folder: Path, where: str = "recipe") -> None:
    """Recipe voices must be installed (or, with downloads on, be Kokoro-82M voices fetched on first use)."""
    available = [*offline_voices(kokoro_folder), *(KOKORO_HUB_VOICES if downloads_allowed() else ())]
    check_voices(recipe, available, embedded_kokoro_voices(), where)


def _engine_speech(text: str, voice, speed: float, british: bool, kokoro_folder: Path, device: str,
                   on_chunk: Callable[[int, int], None] | None) -> tuple[Callable[[], Utterance], dict]:
    source = offline_source(voice, kokoro_folder, device, british, progress=on_chunk)  # named, not loaded
    name = voice.name if isinstance(voice, KokoroBlend) else voice
    key = {"engine": source.engine_id, "model": source.identity, "voice": name,
           "speed": round(speed, 4), "text": text, "rate": SAMPLE_RATE, "british": british}

    def make() -> Utterance:
        engine = source.load()  # only on a cache miss
        engine.prepare(british)  # all loading done before the first progress message; from there Cancel stops it
        with model_cache.heap_released_after():
            return ChunkedSpeech(lambda chunk: engine.speak(chunk, voice, speed, british=british), SAMPLE_RATE,
                                 CHUNK_CHARS, on_chunk=on_chunk)(text)

    return make, key


def speak_voice(text: str, voice: str, speed: float = 1.0, *, british: bool = False, kokoro_folder: Path,
                device: str = "cpu", cache: AudioCache | None = None,
                on_chunk: Callable[[int, int], None] | None = None) -> Utterance:
    """`text` in one offline voice, as it is."""
    if not SPEED_RANGE[0] <= speed <= SPEED_RANGE[1]:
        raise ValueError(f"speed {speed} is outside {SPEED_RANGE[0]}..{SPEED_RANGE[1]}.")
    text = check_speakable(clean_text(text))
    make, key = _engine_speech(text, voice, speed, british, kokoro_folder, device, on_chunk)
    return cached_speech(cache, key, make)


def speak_recipe(text: str, recipe: Recipe, speed: float = 1.0, *, kokoro_folder: Path, device: str = "cpu",
                 cache: AudioCache | None = None, on_chunk: Callable[[int, int], None] | None = None) -> Utterance:
    """`text` as a voice style's recipe plays it. `speed` scales the recipe's own rate. The engine speaks
    (speed × recipe speed) / pitch fast, so after the pitch shift's resampling the tempo is as asked."""
    if not SPEED_RANGE[0] <= speed <= SPEED_RANGE[1]:
        raise ValueError(f"speed {speed} is outside {SPEED_RANGE[0]}..{SPEED_RANGE[1]}.")
    check_recipe_voices(recipe, kokoro_folder)
    text = check_speakable(clean_text(text))
    engine_speed = speed * recipe.speed / recipe.pitch
    make_raw, key = _engine_speech(text, recipe_voice(recipe), engine_speed, recipe.british, kokoro_folder, device,
                                   on_chunk)
    return cached_speech(cache, {**key, "recipe": recipe.key(), "shaped": 1},
                         lambda: shape_speech(make_raw(), recipe))
