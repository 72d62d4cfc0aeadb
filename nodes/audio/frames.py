"""Audio length → video frame count for AnimateDiff/VHS, and the padding that makes the two agree."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .contract import AudioInputError
from .dsp import fit_length

DEFAULT_FPS = 24.0
DEFAULT_MIN_FRAMES = 16  # AnimateDiff's context window


def frame_count(samples: int, sample_rate: int, fps: float = DEFAULT_FPS, min_frames: int = DEFAULT_MIN_FRAMES,
                multiple_of: int = 1) -> int:
    """max(min_frames, ceil(duration × fps)), rounded up to a multiple of `multiple_of`."""
    if not (math.isfinite(fps) and fps > 0):
        raise AudioInputError(f"fps must be a positive number, got {fps}.")
    if min_frames < 1 or multiple_of < 1:
        raise AudioInputError("min_frames and multiple_of must be ≥ 1.")
    # Samples × fps / rate, computed so that an exact frame boundary (10 s at 24 fps) does not round up to 241.
    exact = samples * fps / sample_rate
    frames = math.ceil(exact - 1e-9 * max(1.0, exact))
    frames = max(min_frames, frames)
    return -(-frames // multiple_of) * multiple_of


def pad_to_frames(waveform: torch.Tensor, sample_rate: int, frames: int, fps: float) -> torch.Tensor:
    """Pad with silence so the clip lasts exactly frames / fps seconds (VHS then neither cuts nor pads it)."""
    return fit_length(waveform, int(round(frames * sample_rate / fps)))


MAX_TAIL_S = 30.0


@dataclass(frozen=True)
class ClipLength:
    frames: int        # the video's frame count: ALP's command, AnimateDiff's batch, VHS's frames
    fps: float
    mix_tail_s: float  # what the mix adds after the voice so the soundtrack lasts exactly frames / fps

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps


def clip_length(voice_samples: int, sample_rate: int, fps: float = DEFAULT_FPS, tail_s: float = 0.0,
                min_frames: int = DEFAULT_MIN_FRAMES, multiple_of: int = 1) -> ClipLength:
    """The one length of a clip, from the clean voice: voice + `tail_s`, in whole frames, at least `min_frames`.
    Everything that has a length (mouth command, frames, mix) takes it from here, so none is cut or runs short."""
    if not (math.isfinite(tail_s) and 0.0 <= tail_s <= MAX_TAIL_S):
        raise AudioInputError(f"tail_s must be between 0 and {MAX_TAIL_S:g} seconds, got {tail_s}.")
    frames = frame_count(voice_samples + int(round(tail_s * sample_rate)), sample_rate, fps, min_frames, multiple_of)
    return ClipLength(frames, float(fps), max(0.0, frames / fps - voice_samples / sample_rate))
