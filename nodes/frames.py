"""Audio length → video frame count for AnimateDiff/VHS, and the padding that makes the two agree."""
from __future__ import annotations

import math

import torch

from .audio_contract import AudioInputError
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
