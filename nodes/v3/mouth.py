"""V3 node classes for ToonGen/animation: speech → AdvancedLivePortrait mouth command (shapes, or loudness)."""
from __future__ import annotations

from comfy_api.latest import io

from ..audio.contract import read_audio
from ..audio.frames import DEFAULT_FPS
from ..library.assets import check_choice
from ..mouth.aligner import GUIDE_SPEED, GUIDE_VOICES
from ..mouth.dope_sheet import render_dope_sheet
from ..mouth.lipsync import MAX_FPS, MIN_FPS, LipSettings, lip_command, mouth_track, rest_until
from ..mouth.shapes import DEFAULT_TRANSITION_FRAMES
from ..mouth.speakers import speaker_mouth_track
from ..speech.dialogue import speaker_by_order
from ..speech.timing import SpeechTiming, TimingError
from .speech import NO_STYLE, Timing, speak_with_kokoro, style_options

EVERYONE = "(everyone)"


def speaker_options() -> list[str]:
    """Whose mouth: everyone, a speaker by the order they first speak (any script), or a voice style by name."""
    return [EVERYONE, *speaker_by_order(), *(style for style in style_options() if style != NO_STYLE)]


class LipCommand(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ToonGenLipCommand",
            display_name="Speech → Mouth Command (ToonGen)",
            category="ToonGen/animation",
            description="Turns the clean voice (before music) into AdvancedLivePortrait's `command` (lines "
                        "idx=change:keep; 0 = closed, 1..K = the ExpressionEditor chain's mouths) and its frame count.",
            inputs=[
                io.Audio.Input("voice", tooltip="The clean speech, not the mix: music would open the mouth."),
                io.Float.Input("fps", default=DEFAULT_FPS, min=1.0, max=120.0, step=1.0, tooltip="Video frame rate."),
                io.Int.Input("open_levels", default=3, min=1, max=10,
                             tooltip="How many mouth-open ExpressionEditors are chained (motion_link order)."),
                io.Float.Input("silence_db", default=-35.0, min=-80.0, max=-5.0, step=1.0,
                               tooltip="Frames quieter than this (vs the loudest) close the mouth."),
                io.Float.Input("hysteresis_db", default=3.0, min=0.0, max=20.0, step=0.5,
                               tooltip="How far a level must cross a boundary to change the mouth (no flicker)."),
                io.Int.Input("transition_frames", default=2, min=1, max=12,
                             tooltip="Frames each mouth change takes (`change` of each line)."),
            ],
            outputs=[io.String.Output(display_name="command"), io.Int.Output(display_name="frame_count")],
        )

    @classmethod
    def execute(cls, voice: dict, fps: float, open_levels: int, silence_db: float, hysteresis_db: float,
                transition_frames: int) -> io.NodeOutput:
        waveform, rate = read_audio(voice, "voice")
        settings = LipSettings(open_levels, silence_db, hysteresis_db, transition_frames=transition_frames)
        command, frames = lip_command(waveform, rate, fps, settings)
        return io.NodeOutput(command, frames)


def as_timing(value) -> SpeechTiming | None:
    """The timing input: a SpeechTiming from our speech nodes (None from F5), or its JSON/dict form."""
    if value is None or isinstance(value, SpeechTiming):
        return value
    if isinstance(value, dict):
        return SpeechTiming.from_dict(value)
    if isinstance(value, str):
        return SpeechTiming.from_json(value) if value.strip() else None
    raise TimingError(f"timing must come from a ToonGen speech node, got {type(value).__name__}.")


def _guide(voice: str):
    """One of the aligner's guides: the embedded Kokoro voice speaking the text (through the speech disk cache)."""
    return lambda text: speak_with_kokoro(text, voice, GUIDE_SPEED)


GUIDES = [_guide(voice) for voice in GUIDE_VOICES]


class MouthShapes(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ToonGenMouthShapes",
            display_name="Mouth Shapes (ToonGen)",
            category="ToonGen/animation",
            description="Lip-sync that forms words: the clean voice → one mouth shape per video frame (A closed "
                        "M B P, B teeth, C open, D wide, E round, F pucker, G F/V, H L, X rest) and "
                        "AdvancedLivePortrait's `command` for 8 ExpressionEditors chained A…H (assets/mouth_shapes.json). "
                        "Timed by the speech node's timing; without it, the text is aligned to the audio; without "
                        "text (or when it does not match), loudness. Link frame_count from Clip Length so the "
                        "command lasts as long as the clip.",
            inputs=[
                io.Audio.Input("voice", tooltip="The clean speech, not the mix: music would open the mouth."),
                io.Float.Input("fps", default=DEFAULT_FPS, min=MIN_FPS, max=MAX_FPS, step=1.0,
                               tooltip="Video frame rate."),
                Timing.Input("timing", optional=True,
                             tooltip="The speech node's timing output: when each phoneme is spoken."),
                io.String.Input("text", multiline=True, default="", optional=True,
                                tooltip="What the voice says, for audio without timing (F5-TTS, recordings): it "
                                        "is aligned to the audio. Ignored when timing is linked."),
                io.Int.Input("transition_frames", default=DEFAULT_TRANSITION_FRAMES, min=1, max=6, optional=True,
                             tooltip="Frames each mouth change eases over (`change` of each command line; shapes "
                                     "already start a frame early)."),
                io.Int.Input("frame_count", optional=True, force_input=True, min=1, max=100000,
                             tooltip="The clip's length from Clip Length: the command lasts exactly this many "
                                     "frames, the mouth resting (X) after the voice. Unlinked: the voice's length."),
                io.Combo.Input("speaker", options=speaker_options(), default=EVERYONE, optional=True,
                               tooltip="With Script / Dialogue's timing: whose mouth this is (speaker 1 = whoever "
                                       "speaks first, or a voice style). It forms the words of that character's "
                                       f"lines and rests (X) through everyone else's. {EVERYONE}: every line moves it."),
            ],
            outputs=[io.String.Output(display_name="command"), io.Int.Output(display_name="frame_count"),
                     io.String.Output(display_name="shapes"), io.Image.Output(display_name="dope_sheet")],
        )

    @classmethod
    def validate_inputs(cls, speaker: str = EVERYONE) -> bool | str:
        return check_choice(speaker, speaker_options(), "speaker")

    @classmethod
    def execute(cls, voice: dict, fps: float, timing=None, text: str | None = None,
                transition_frames: int = DEFAULT_TRANSITION_FRAMES, frame_count: int | None = None,
                speaker: str = EVERYONE) -> io.NodeOutput:
        waveform, rate = read_audio(voice, "voice")
        spoken = as_timing(timing)
        if speaker != EVERYONE:
            if spoken is None or not spoken.lines:
                raise TimingError(f"speaker {speaker!r} needs a dialogue's timing: link Script / Dialogue's timing "
                                  f"output, or set speaker to {EVERYONE}.")
            result = speaker_mouth_track(waveform, rate, fps, spoken, speaker, transition_frames)
        else:
            result = mouth_track(waveform, rate, fps, spoken, text, GUIDES, transition_frames)
        if frame_count is not None:
            result = rest_until(result, frame_count, transition_frames)
        words = result.timing.words if result.timing is not None else ()
        sheet = render_dope_sheet(waveform, rate, result.shapes, fps, words, f"mouth shapes — {result.source}")
        shown = [f"source: {result.source}", *([f"warning: {result.warning}"] if result.warning else []),
                 result.shapes]
        return io.NodeOutput(result.command, result.frames, result.shapes, sheet, ui={"text": shown})


LIPSYNC_NODES = [LipCommand, MouthShapes]
