"""V3 node classes for captions: Captions (the voice's timing → SRT and WebVTT, saved into output/) and Burn
Captions (drawn onto the video's frames). Thin wrappers over nodes/captions."""
from __future__ import annotations

import folder_paths
from comfy_api.latest import io

from ..audio.frames import DEFAULT_FPS
from ..captions.burn import BACKGROUNDS, MAX_FPS, MIN_FPS, CaptionStyle, burn_captions
from ..captions.cues import Cue, cues_from_timing
from ..captions.formats import to_srt, to_vtt, write_captions
from ..speech.timing import TimingError
from .mouth import as_timing
from .speech import Timing

CATEGORY = "ToonGen/captions"


def _cues(timing, speaker_names: bool) -> list[Cue]:
    spoken = as_timing(timing)
    if spoken is None:
        raise TimingError("timing is empty: F5-TTS speaks without timing. Link the timing of Script / Dialogue "
                          "(which aligns clones to their text) or of an offline voice.")
    return cues_from_timing(spoken, speaker_names=speaker_names)


def _speaker_names_input() -> io.Boolean.Input:
    return io.Boolean.Input("speaker_names", default=False,
                            tooltip="Open each cue of a dialogue with the speaker's name (Excited Host: …).")


class Captions(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ToonGenCaptions",
            display_name="Captions (ToonGen)",
            category=CATEGORY,
            description="Subtitles timed by the voice itself: words grouped into cues of at most 2 lines of 42 "
                        "characters, a new cue at every change of speaker and at pauses, each at least a second on "
                        "screen when the silence allows. Saves <prefix>.srt and .vtt into the output folder.",
            inputs=[
                Timing.Input("timing", tooltip="The timing of Voice, Speak (offline voices) or Script / Dialogue."),
                _speaker_names_input(),
                io.String.Input("filename_prefix", default="toongen/captions",
                                tooltip="Sub-folder and file-name prefix inside ComfyUI's output folder."),
            ],
            outputs=[io.String.Output(display_name="srt"), io.String.Output(display_name="vtt")],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, timing, speaker_names: bool, filename_prefix: str) -> io.NodeOutput:
        cues = _cues(timing, speaker_names)
        srt, vtt = to_srt(cues), to_vtt(cues)
        folder, name, counter, subfolder, _ = folder_paths.get_save_image_path(
            filename_prefix, folder_paths.get_output_directory())
        srt_path, vtt_path = write_captions(folder, f"{name}_{counter:05}_", srt, vtt)
        shown = ["/".join(part for part in ("output", subfolder, path.name) if part) for path in (srt_path, vtt_path)]
        return io.NodeOutput(srt, vtt, ui={"text": [*shown, srt]})


class BurnCaptions(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ToonGenBurnCaptions",
            display_name="Burn Captions (ToonGen)",
            category=CATEGORY,
            description="Draws the captions onto the video's frames at its frame rate: white bold text near the "
                        "bottom, with a dark outline or on a translucent box, sized to the frame.",
            inputs=[
                io.Image.Input("images", tooltip="The video's frames (e.g. AdvancedLivePortrait's images)."),
                Timing.Input("timing", tooltip="The timing of the voice the video speaks."),
                io.Float.Input("fps", default=DEFAULT_FPS, min=MIN_FPS, max=MAX_FPS, step=1.0,
                               tooltip="The video's frame rate: frame i shows the cue on screen at i / fps."),
                io.Combo.Input("background", options=list(BACKGROUNDS), default="outline",
                               tooltip="outline: a dark edge around each letter; box: a translucent dark box."),
                _speaker_names_input(),
                io.Float.Input("text_height", default=CaptionStyle.text_height, min=0.02, max=0.15, step=0.005,
                               optional=True, tooltip="Letter size as a fraction of the frame's height (long lines "
                                                      "shrink to fit the width)."),
            ],
            outputs=[io.Image.Output(display_name="images")],
        )

    @classmethod
    def execute(cls, images, timing, fps: float, background: str, speaker_names: bool,
                text_height: float = CaptionStyle.text_height) -> io.NodeOutput:
        style = CaptionStyle(background=background, text_height=text_height)
        return io.NodeOutput(burn_captions(images, _cues(timing, speaker_names), fps, style))


CAPTION_NODES = [Captions, BurnCaptions]
