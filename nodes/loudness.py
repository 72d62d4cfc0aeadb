"""Integrated loudness (ITU-R BS.1770-4 / EBU R128, measured with pyloudnorm) and true-peak-safe normalization."""
from __future__ import annotations

import logging
import math

import torch

from .audio_contract import AudioInputError
from .dsp import db_to_gain, gain_to_db, limit_peaks, peak_envelope

log = logging.getLogger("ToonGen")

GATING_BLOCK_S = 0.4  # BS.1770 measures 400 ms blocks; shorter clips are tiled up to one block
TRUE_PEAK_OVERSAMPLE = 4


def integrated_loudness(waveform: torch.Tensor, sample_rate: int) -> float:
    """LUFS of a [channels, samples] clip; -inf for digital silence."""
    import pyloudnorm  # light, but only the loudness path needs it

    samples = waveform.shape[-1]
    block = int(math.ceil(GATING_BLOCK_S * sample_rate)) + 1
    if samples < block:
        waveform = waveform.repeat(1, -(-block // samples))
    meter = pyloudnorm.Meter(sample_rate)
    return float(meter.integrated_loudness(waveform.T.double().numpy()))


def true_peak_db(waveform: torch.Tensor, sample_rate: int) -> float:
    return gain_to_db(float(peak_envelope(waveform, sample_rate, TRUE_PEAK_OVERSAMPLE).max()))


def normalize_loudness(
    waveform: torch.Tensor,
    sample_rate: int,
    target_lufs: float = -16.0,
    true_peak_ceiling_db: float = -1.0,
) -> tuple[torch.Tensor, float, float]:
    """Scale to `target_lufs` integrated loudness, then hold true peaks under the ceiling with a look-ahead
    limiter (not a clipper). Returns (audio, loudness before, loudness after). Silence is returned unchanged."""
    if not -70.0 <= target_lufs <= 0.0:
        raise AudioInputError(f"target loudness {target_lufs} LUFS is outside -70..0 (web video uses -16, broadcast -23).")
    if true_peak_ceiling_db > 0.0:
        raise AudioInputError(f"true-peak ceiling {true_peak_ceiling_db} dBTP must be ≤ 0 (-1 dBTP is the usual).")
    before = integrated_loudness(waveform, sample_rate)
    if not math.isfinite(before):
        log.warning("ToonGen loudness: the audio is silent (below the -70 LUFS gate); left unchanged.")
        return waveform, before, before
    ceiling = db_to_gain(true_peak_ceiling_db)
    # Loudness scales exactly with gain, so one measurement sets the gain; only when the limiter then took some
    # level off the peaks is the result measured again and made up (at most twice).
    measured = before
    out = waveform
    for _ in range(3):
        scaled = out * db_to_gain(target_lufs - measured)
        out = limit_peaks(scaled, sample_rate, ceiling, oversample=TRUE_PEAK_OVERSAMPLE)
        if out is scaled:
            return out, before, target_lufs
        measured = integrated_loudness(out, sample_rate)
        if abs(measured - target_lufs) <= 0.1:
            break
    return out, before, measured
