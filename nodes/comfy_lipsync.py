"""V3 node class for ToonGen/animation: speech → AdvancedLivePortrait mouth command."""
from __future__ import annotations

from comfy_api.latest import io

from .audio_contract import read_audio
from .frames import DEFAULT_FPS
from .lipsync import LipSettings, lip_command


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


LIPSYNC_NODES = [LipCommand]
