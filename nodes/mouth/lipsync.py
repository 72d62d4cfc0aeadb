"""Clean voice → mouth motion for PowerHouseMan's AdvancedLivePortrait `command` input.

The command has one line per segment, `idx=change:keep`: move toward expression `idx` (0 = the source face, k = the
k-th ExpressionEditor of the motion_link chain) over `change` frames (≥ 1), then hold it `keep` frames. With
animate_without_vid the video has Σ(change + keep) frames, which we make equal to ceil(duration × fps) — the audio's
frame count.

Two ways to move the mouth:
* `mouth_track` — mouth *shapes* that form words (A–H, X; nodes/mouth/shapes.py), timed by the engine that spoke
  (its phoneme timing), else by aligning the text to the audio (nodes/mouth/aligner.py), else by loudness.
* `lip_command` — loudness only: per-frame energy quantised to K increasingly open mouths (0 = closed).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from typing import Sequence

import torch
import torch.nn.functional as F

from ..audio.contract import AudioInputError, check_waveform
from ..audio.frames import frame_count
from ..speech.timing import SpeechTiming
from .aligner import Guide, align
from .shapes import DEFAULT_TRANSITION_FRAMES, REST, command_from_shapes, shapes_from_levels, shapes_from_timing

log = logging.getLogger("ToonGen")
MIN_FPS, MAX_FPS = 1.0, 120.0
TIMING_SLACK_S = 0.05  # timing may end this much after the audio (rounding of the engine's frames)


@dataclass(frozen=True)
class LipSettings:
    open_levels: int = 3          # K: ExpressionEditors in the chain, from slightly to fully open
    silence_db: float = -35.0     # frames quieter than this (relative to the loudest) close the mouth
    hysteresis_db: float = 3.0    # a level must pass a boundary by this much to change the mouth
    smoothing_frames: int = 2     # moving average over this many frames of energy
    transition_frames: int = 2    # `change` of each segment (clamped to the segment)


def frame_energy_db(waveform: torch.Tensor, sample_rate: int, fps: float, frames: int) -> torch.Tensor:
    """RMS level of each video frame's slice of the (mono-mixed) audio, in dB relative to the loudest frame."""
    mono = waveform.mean(dim=0)
    edges = [int(round(i * sample_rate / fps)) for i in range(frames + 1)]
    mono = F.pad(mono, (0, max(0, edges[-1] - mono.shape[0])))
    power = torch.stack([mono[a:b].pow(2).mean() if b > a else torch.tensor(0.0) for a, b in zip(edges, edges[1:])])
    level = 10 * torch.log10(power + 1e-12)
    return level - level.max()


def mouth_states(levels_db: torch.Tensor, settings: LipSettings) -> list[int]:
    """Per-frame expression index: 0 when silent, 1..K by loudness, with hysteresis against flicker."""
    if settings.smoothing_frames > 1:
        kernel = torch.full((1, 1, settings.smoothing_frames), 1.0 / settings.smoothing_frames)
        padded = F.pad(levels_db.view(1, 1, -1), (settings.smoothing_frames - 1, 0), mode="replicate")
        levels_db = F.conv1d(padded, kernel).view(-1)
    k = settings.open_levels
    step = -settings.silence_db / k  # the range silence_db..0 dB split into K equal bands

    def band(level: float) -> float:
        return 0.0 if level <= settings.silence_db else min(k, 1 + (level - settings.silence_db) / step)

    states, current = [], 0
    for level in levels_db.tolist():
        position = band(level)
        target = min(k, int(position)) if position > 0 else 0
        if target != current:
            # Switch only when the level is clearly inside the new band, not hovering at the boundary.
            boundary = settings.silence_db + (max(target, current) - 1) * step
            if abs(level - boundary) >= settings.hysteresis_db or abs(target - current) > 1:
                current = target
        states.append(current)
    return states


def command_from_states(states: list[int], transition_frames: int) -> str:
    """Run-length encode per-frame states into `idx=change:keep` lines; Σ(change + keep) == len(states)."""
    lines = []
    start = 0
    for i in range(1, len(states) + 1):
        if i == len(states) or states[i] != states[start]:
            length = i - start
            change = max(1, min(transition_frames, length))
            lines.append(f"{states[start]}={change}:{length - change}")
            start = i
    return "\n".join(lines)


def lip_command(waveform: torch.Tensor, sample_rate: int, fps: float, settings: LipSettings = LipSettings()) -> tuple[str, int]:
    """→ (AdvancedLivePortrait command, frame count = ceil(duration × fps))."""
    if settings.open_levels < 1:
        raise AudioInputError("open_levels must be ≥ 1 (the number of mouth-open ExpressionEditors in the chain).")
    frames = frame_count(waveform.shape[-1], sample_rate, fps, min_frames=1)
    if not math.isfinite(float(waveform.abs().max())):
        raise AudioInputError("the voice has NaN/Inf samples.")
    if float(waveform.abs().max()) < 1e-6:
        return command_from_states([0] * frames, settings.transition_frames), frames
    states = mouth_states(frame_energy_db(waveform, sample_rate, fps, frames), settings)
    return command_from_states(states, settings.transition_frames), frames


@dataclass(frozen=True)
class MouthTrack:
    shapes: str                         # one letter of A–H / X per video frame
    command: str                        # AdvancedLivePortrait's command for the A–H editor chain
    frames: int                         # = ceil(duration × fps) = len(shapes)
    source: str                         # what timed it: engine timing, aligner, loudness or silence
    warning: str = ""                   # why a better source was not used, when one was asked for
    timing: SpeechTiming | None = None  # the phoneme/word timing the shapes follow (None in loudness mode)


def rest_until(track: MouthTrack, frames: int, transition_frames: int = DEFAULT_TRANSITION_FRAMES) -> MouthTrack:
    """The track lengthened to the clip's `frames` (Clip Length's frame_count): the mouth rests (X) after the voice,
    through the clip's tail and up to its minimum length, so ALP makes exactly as many frames as the video has."""
    if frames < track.frames:
        raise AudioInputError(
            f"frame_count {frames} is shorter than the voice ({track.frames} frames at this fps): the clip would cut "
            "the speech. Link frame_count from Clip Length fed by this same voice, or leave it unlinked.")
    shapes = track.shapes + REST * (frames - track.frames)
    return replace(track, shapes=shapes, command=command_from_shapes(shapes, transition_frames), frames=frames)


def check_fps(fps: float) -> float:
    fps = float(fps)
    if not (math.isfinite(fps) and MIN_FPS <= fps <= MAX_FPS):
        raise AudioInputError(f"fps {fps} is outside {MIN_FPS:g}–{MAX_FPS:g}; use the video's frame rate (e.g. 24).")
    return fps


def _timing_problem(timing: SpeechTiming, seconds: float) -> str:
    if not timing.phonemes:
        return "the timing has no phonemes in it"
    end = max(s.end for s in timing.phonemes)
    if end > seconds + TIMING_SLACK_S:
        return (f"the timing runs to {end:.2f} s but the voice lasts {seconds:.2f} s (is it the timing of other "
                "audio, or was the voice cut?)")
    return ""


def loudness_shapes(waveform: torch.Tensor, sample_rate: int, fps: float, frames: int,
                    settings: LipSettings = LipSettings()) -> str:
    """The loudness mode as shapes: silence X, then B, C, D as the voice gets louder."""
    states = mouth_states(frame_energy_db(waveform, sample_rate, fps, frames), settings)
    return shapes_from_levels(states)


def mouth_track(waveform: torch.Tensor, sample_rate: int, fps: float, timing: SpeechTiming | None = None,
                text: str | None = None, guides: Sequence[Guide] = (),
                transition_frames: int = DEFAULT_TRANSITION_FRAMES) -> MouthTrack:
    """The mouth shapes of a clean voice ([channels, samples]): from the engine's `timing` when it fits the audio,
    else from `text` aligned onto the audio by the `guides` voices, else from loudness — with a warning that says why
    whenever a better source was given but could not be used. The frame count is always ceil(duration × fps)."""
    fps = check_fps(fps)
    waveform = check_waveform(waveform, "voice")
    frames = frame_count(waveform.shape[-1], sample_rate, fps, min_frames=1)
    seconds = waveform.shape[-1] / sample_rate

    def track(shapes: str, source: str, warning: str = "", used: SpeechTiming | None = None) -> MouthTrack:
        if warning:
            log.warning("ToonGen Mouth Shapes: %s", warning)
        return MouthTrack(shapes, command_from_shapes(shapes, transition_frames), frames, source, warning, used)

    if float(waveform.abs().max()) < 1e-6:
        return track(REST * frames, "silence")
    problems = []
    if timing is not None:
        problem = _timing_problem(timing, seconds)
        if not problem:
            return track(shapes_from_timing(timing, fps, frames), f"engine timing ({timing.source or 'unknown'})",
                         used=timing)
        problems.append(problem)
    if text is not None and text.strip():
        alignment = align(waveform.mean(dim=0).numpy(), sample_rate, text, guides) if guides else None
        if alignment is not None and alignment.usable:
            return track(shapes_from_timing(alignment.timing, fps, frames),
                         f"aligner (confidence {alignment.confidence:.2f})", "; ".join(problems), alignment.timing)
        problems.append(alignment.reason if alignment is not None else "no guide voice to align the text with")
    elif timing is None:
        problems.append("no timing and no text were given" if text is None else "the text is empty")
    warning = "; ".join(problems) + "; the mouth follows loudness only (link the speech node's timing, or the text)"
    return track(loudness_shapes(waveform, sample_rate, fps, frames), "loudness", warning)
