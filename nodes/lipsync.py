"""Clean voice → mouth motion for PowerHouseMan's AdvancedLivePortrait `command` input.

The command has one line per segment, `idx=change:keep`: move toward expression `idx` (0 = the source face, k = the
k-th ExpressionEditor of the motion_link chain, here increasingly open mouths) over `change` frames (≥ 1), then hold
it `keep` frames. With animate_without_vid the video has Σ(change + keep) frames, which we make equal to
ceil(duration × fps) — the audio's frame count.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .audio_contract import AudioInputError
from .frames import frame_count


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
