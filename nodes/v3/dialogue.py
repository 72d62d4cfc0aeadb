"""V3 node classes for dialogue: Script / Dialogue (several characters in one voice track, each line spoken under
Speak's rules) and Speaker Stem (one character's lines, silence elsewhere). Thin wrappers over nodes/speech/script.py,
nodes/speech/dialogue.py and nodes/audio/stems.py."""
from __future__ import annotations

from comfy_api.latest import io

from ..audio.contract import make_audio, read_audio
from ..audio.stems import speaker_stem
from ..library.assets import check_choice
from ..mouth.aligner import align
from ..runtime.comfy_paths import user_voice_dirs
from ..speech.cache import file_digest
from ..speech.dialogue import check_speaker, engines_summary, line_spans, speak_dialogue, speaker_by_order
from ..speech.pipeline import ENGINES
from ..speech.script import EXAMPLE, Script, ScriptError, ScriptLine, parse_script
from ..speech.timing import SpeechTiming, Utterance
from ..voices.library import list_voice_styles
from .mouth import GUIDES, as_timing
from .speech import (NO_STYLE, F5Settings, Timing, f5_inputs, kokoro_voice_options, progress_and_interrupt,
                     speak_style, speech_outputs, speed_input, style_options, style_problem, text_problem)

CATEGORY = "ToonGen/speech"


def known_styles() -> list[str]:
    return [style for style in style_options() if style != NO_STYLE]


def _script_problem(script: str, engine: str) -> str | None:
    """What keeps the script from being spoken, found before anything is: its syntax, its styles' files, and text
    the engine cannot read (named by line)."""
    try:
        parsed = parse_script(script, known_styles())
    except ScriptError as exc:
        return str(exc)
    styles = list_voice_styles(user_voice_dirs())
    for name in parsed.speakers:
        problem = style_problem(styles[name]) if name in styles else None
        if problem:
            return problem
    for line in parsed.lines:
        problem = text_problem(line.text, allow_han=engine != "kokoro")
        if problem:
            return f"line {line.line_number}: {problem}"
    return None


def _speak_line(line: ScriptLine, engine: str, speed: float, seed: int, f5: F5Settings) -> tuple[Utterance, str]:
    """One line under Speak's rules (clone with F5 when it can, else the style's recipe), through its per-line disk
    cache; a clone, which has no timing of its own, is aligned to its text here."""
    speech, engine_used = speak_style(line.text, engine, line.speaker, kokoro_voice_options()[0], speed, seed, f5)
    if speech.timing is None:
        alignment = align(speech.samples.numpy(), speech.sample_rate, line.text, GUIDES)
        if alignment.usable:  # else the dialogue estimates its words
            speech = Utterance(speech.samples, speech.sample_rate, alignment.timing)
    return speech, engine_used


class ScriptDialogue(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ToonGenScript",
            display_name="Script / Dialogue (ToonGen)",
            category=CATEGORY,
            description="Several characters in one voice track: one line per utterance, `[voice_style] text` (a "
                        "line without a tag keeps the last speaker), `[pause 0.8]` on its own line for seconds of "
                        "silence. Each line is spoken under Speak's rules and cached on its own; the lines are "
                        "joined with natural gaps. The timing says who speaks each word (Mouth Shapes, Captions, "
                        "Speaker Stem).",
            inputs=[
                io.String.Input("script", multiline=True, default=EXAMPLE,
                                tooltip="[voice_style] text, one line per utterance; [pause seconds] (0–10) on a "
                                        "line of its own; at most 8 speakers."),
                io.Combo.Input("engine", options=list(ENGINES), default="auto",
                               tooltip="As Speak, for every line: auto clones with F5-TTS when it can, else the "
                                       "style's recipe; f5_tts: clone or fail; kokoro: the offline voices only."),
                speed_input(),
                io.Int.Input("seed", default=0, min=0, max=2**31 - 1, control_after_generate=True,
                             tooltip="Seed for F5-TTS sampling (the offline voices are deterministic)."),
                *f5_inputs(optional=True),
            ],
            outputs=[io.Audio.Output(display_name="voice"),
                     Timing.Output(display_name="timing",
                                   tooltip="When each phoneme and word is spoken, and who speaks each line."),
                     io.String.Output(display_name="speakers"), io.String.Output(display_name="engine_used")],
        )

    @classmethod
    def validate_inputs(cls, engine: str, script: str | None = None) -> bool | str:
        verdict = check_choice(engine, list(ENGINES), "engine")
        if verdict is not True or not isinstance(script, str):  # a linked script is checked when it runs
            return verdict
        return _script_problem(script, engine) or True

    @classmethod
    def fingerprint_inputs(cls, script: str = "", **_) -> str:
        """Re-run when a speaking style's reference clip or recipe changes on disk; never raises."""
        try:
            styles = list_voice_styles(user_voice_dirs())
            speakers = parse_script(script, known_styles()).speakers
            files = [f for name in speakers if name in styles
                     for f in (styles[name].reference, styles[name].recipe_file) if f is not None and f.is_file()]
            return "|".join(file_digest(f) for f in files)
        except Exception:
            return ""

    @classmethod
    def execute(cls, script: str, engine: str, speed: float, seed: int, nfe_steps: int = 32,
                cfg_strength: float = 2.0, cross_fade_s: float = 0.15) -> io.NodeOutput:
        problem = _script_problem(script, engine)
        if problem:
            raise ScriptError(problem)
        parsed: Script = parse_script(script, known_styles())
        f5 = F5Settings(nfe_steps, cfg_strength, cross_fade_s)
        engines_used: list[str] = []

        def speak_line(line: ScriptLine) -> Utterance:
            speech, used = _speak_line(line, engine, speed, seed, f5)
            engines_used.append(used)
            return speech

        dialogue = speak_dialogue(parsed, speak_line, on_line=progress_and_interrupt)
        audio, timing = speech_outputs(dialogue)
        speakers = ", ".join(parsed.speakers)
        engine_used = engines_summary(parsed.lines, engines_used)
        return io.NodeOutput(audio, timing, speakers, engine_used, ui={"text": [speakers, engine_used]})


class SpeakerStem(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ToonGenSpeakerStem",
            display_name="Speaker Stem (ToonGen)",
            category=CATEGORY,
            description="One character's lines of a dialogue, silence elsewhere, the same length as the voice: the "
                        "per-person audio multi-character talking-head models take. The stems of all speakers add "
                        "up to the voice.",
            inputs=[
                io.Audio.Input("voice", tooltip="Script / Dialogue's voice (before music)."),
                Timing.Input("timing", tooltip="Script / Dialogue's timing: who speaks when."),
                io.Combo.Input("speaker", options=[*speaker_by_order(), *known_styles()], default="speaker 1",
                               tooltip="Whose lines to keep: speaker 1 = whoever speaks first in the script, "
                                       "speaker 2 the next, …; or a voice style by name."),
            ],
            outputs=[io.Audio.Output(display_name="stem")],
        )

    @classmethod
    def execute(cls, voice: dict, timing, speaker: str) -> io.NodeOutput:
        waveform, rate = read_audio(voice, "voice")
        dialogue: SpeechTiming | None = as_timing(timing)
        if dialogue is None:
            raise ValueError("timing is empty; link the timing output of Script / Dialogue.")
        name = check_speaker(dialogue, speaker)
        return io.NodeOutput(make_audio(speaker_stem(waveform, rate, line_spans(dialogue), name), rate))


DIALOGUE_NODES = [ScriptDialogue, SpeakerStem]
