"""Integrated loudness (ITU-R BS.1770-4 / EBU R128) and true-peak-safe normalization.

The meter: K-weighting as two biquads per channel (one scipy sosfilt pass), energies per 100 ms segment, 400 ms
gating blocks as sums of four segments (75 % overlap), the -70 LUFS absolute and -10 LU relative gates. The tests
check it against an independent meter written from the standard (tests/bs1770_meter.py).
"""
from __future__ import annotations

import logging
import math
from functools import lru_cache

import numpy as np
import torch

from .audio_contract import AudioInputError
from .dsp import as_array, db_to_gain, gain_to_db, for_each_channel, limiter_gain, max_true_peak

log = logging.getLogger("ToonGen")

GATING_BLOCK_S = 0.4  # BS.1770 measures 400 ms blocks; shorter clips are tiled up to one block
SEGMENTS_PER_BLOCK = 4  # 75 % overlap: a block is four 100 ms segments
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
TRUE_PEAK_OVERSAMPLE = 4
MIN_FILTER_RATE = 8000  # below this the K-weighting shelf (1.7 kHz) nears Nyquist: measure a 48 kHz copy instead
LOUDNESS_TOLERANCE_LU = 0.02  # normalization stops once within this of the target
_HIGHPASS_HZ, _HIGHPASS_Q = 38.13547087602444, 0.5003270373238773


def _highpass_a0(sample_rate: int) -> float:
    k = math.tan(math.pi * _HIGHPASS_HZ / sample_rate)
    return 1.0 + k / _HIGHPASS_Q + k * k


@lru_cache(maxsize=16)
def k_weighting(sample_rate: int) -> tuple[np.ndarray, int]:
    """BS.1770's K-weighting (high shelf + high pass) as second-order sections at `sample_rate`, from the
    analogue prototypes (libebur128's formulas: at 48 kHz they give the standard's published coefficients),
    and how many samples its impulse response takes to fall below 1e-7."""
    k = math.tan(math.pi * 1681.974450955533 / sample_rate)
    q = 0.7071752369554196
    vh = 10.0 ** (3.999843853973347 / 20.0)
    vb = vh ** 0.4996667741545416
    a0 = 1.0 + k / q + k * k
    shelf = [(vh + vb * k / q + k * k) / a0, 2.0 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0,
             1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    k = math.tan(math.pi * _HIGHPASS_HZ / sample_rate)
    a0 = _highpass_a0(sample_rate)
    # The standard's 48 kHz high pass has the numerator [1, -2, 1], i.e. a pass-band gain of a0(48 kHz) (+0.04 dB)
    # that its -0.691 constant assumes: keep that gain at every rate, or 24 kHz clips read 0.04 LU loud.
    gain = _highpass_a0(48000) / a0
    highpass = [gain, -2.0 * gain, gain, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / _HIGHPASS_Q + k * k) / a0]
    sos = np.array([shelf, highpass])
    slowest = max(abs(root) for section in sos for root in np.roots(section[3:]))
    return sos, int(math.ceil(math.log(1e-7) / math.log(slowest)))


def channel_weights(channels: int) -> np.ndarray:
    """BS.1770 channel weights: 1.0, surrounds 1.41; in 5.1 (L R C LFE Ls Rs) the LFE is left out."""
    if channels == 6:
        return np.array([1.0, 1.0, 1.0, 0.0, 1.41, 1.41], np.float32)
    if channels == 5:
        return np.array([1.0, 1.0, 1.0, 1.41, 1.41], np.float32)
    return np.ones(channels, np.float32)


class LoudnessMeter:
    """The K-weighted signal and its segment energies, kept so that a gain or a local change (the limiter's)
    re-measures without filtering the whole clip again."""

    def __init__(self, x: np.ndarray, sample_rate: int):
        self.incremental = sample_rate >= MIN_FILTER_RATE
        if not self.incremental:
            from .dsp import resample

            x, sample_rate = as_array(resample(torch.from_numpy(x), sample_rate, 48000)), 48000
        block = int(math.ceil(GATING_BLOCK_S * sample_rate)) + 1
        if x.shape[-1] < block:  # a short clip is measured as if looped to one block
            x = np.tile(x, (1, -(-block // x.shape[-1])))
            self.incremental = False
        self.sos, self.tail = k_weighting(sample_rate)
        self.weighted = np.empty(x.shape, np.float32)

        def filter_row(row: int) -> None:
            self.weighted[row] = self._filter(x[row])

        for_each_channel(filter_row, *x.shape)
        self.weights = channel_weights(x.shape[0])
        step = GATING_BLOCK_S / SEGMENTS_PER_BLOCK * sample_rate
        self.edges = np.round(np.arange(int(x.shape[-1] // step) + 1) * step).astype(np.int64)
        self.energy = self._segment_energy(0, len(self.edges) - 1)
        self.scale = 1.0  # the measured signal is scale × weighted

    def _filter(self, signal: np.ndarray) -> np.ndarray:
        """K-weighting from a zero state: one pass of two biquads (float32)."""
        from scipy.signal import sosfilt

        return sosfilt(self.sos.astype(np.float32), signal, axis=-1)

    def _segment_energy(self, first: int, last: int) -> np.ndarray:
        """Channel-weighted sums of squares of segments first..last-1."""
        lo, hi = self.edges[first], self.edges[last]
        part = self.weighted[:, lo:hi]
        if np.all(self.weights == 1.0):
            squares = np.einsum("cn,cn->n", part, part)
        else:
            squares = np.einsum("c,cn,cn->n", self.weights, part, part)
        return np.add.reduceat(squares, self.edges[first:last] - lo, dtype=np.float64)

    def loudness(self) -> float:
        """Integrated loudness (LUFS) of the measured signal; -inf below the absolute gate."""
        if self.energy.shape[0] < SEGMENTS_PER_BLOCK:
            return -math.inf
        sums = np.convolve(self.energy, np.ones(SEGMENTS_PER_BLOCK), mode="valid")
        lengths = self.edges[SEGMENTS_PER_BLOCK:] - self.edges[:-SEGMENTS_PER_BLOCK]
        power = sums / lengths * self.scale ** 2
        with np.errstate(divide="ignore"):
            block_lufs = -0.691 + 10.0 * np.log10(power)
        loud = power[block_lufs > ABSOLUTE_GATE_LUFS]
        if loud.size == 0:
            return -math.inf
        relative_gate = -0.691 + 10.0 * math.log10(loud.mean()) + RELATIVE_GATE_LU
        gated = power[(block_lufs > ABSOLUTE_GATE_LUFS) & (block_lufs > relative_gate)]
        return -0.691 + 10.0 * math.log10(gated.mean())

    def add(self, start: int, change: np.ndarray) -> None:
        """The measured signal gained `change` ([channels, n]) from sample `start` on (an incremental meter only):
        its K-weighted response (zero state before `start`, run until it has died away) is added in."""
        end = min(self.weighted.shape[-1], start + change.shape[-1] + self.tail)
        padded = np.zeros((change.shape[0], end - start), np.float32)
        padded[:, :change.shape[-1]] = change[:, :end - start]
        self.weighted[:, start:end] += self._filter(padded) / np.float32(self.scale)
        first = max(0, int(np.searchsorted(self.edges, start, side="right")) - 1)
        last = min(len(self.edges) - 1, int(np.searchsorted(self.edges, end, side="left")))
        if last > first:
            self.energy[first:last] = self._segment_energy(first, last)


def integrated_loudness(waveform: torch.Tensor, sample_rate: int) -> float:
    """LUFS of a [channels, samples] clip; -inf for digital silence."""
    return LoudnessMeter(as_array(waveform), sample_rate).loudness()


def true_peak_db(waveform: torch.Tensor, sample_rate: int) -> float:
    return gain_to_db(max_true_peak(as_array(waveform), TRUE_PEAK_OVERSAMPLE))


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
    x = as_array(waveform)
    meter = LoudnessMeter(x, sample_rate)
    before = meter.loudness()
    if not math.isfinite(before):
        log.warning("ToonGen loudness: the audio is silent (below the -70 LUFS gate); left unchanged.")
        return waveform, before, before
    ceiling = db_to_gain(true_peak_ceiling_db)
    # Loudness scales with gain (the gates are re-applied to the scaled block powers), so one measurement sets the
    # gain. Only where the limiter then took level off peaks is the meter updated — locally — and the loss made up.
    gain = db_to_gain(target_lufs - before)
    result = torch.empty(x.shape)  # the result lives in a tensor; numpy works on a view of it
    out = result.numpy()
    np.multiply(x, np.float32(gain), out=out)
    meter.scale = gain
    measured = meter.loudness()
    for attempt in range(4):
        limited = False
        for start, curve in limiter_gain(out, sample_rate, ceiling, TRUE_PEAK_OVERSAMPLE):
            part = out[:, start:start + curve.shape[0]]
            if meter.incremental:
                meter.add(start, part * (curve - np.float32(1.0)))
            part *= curve
            limited = True
        if not limited:
            break
        if not meter.incremental:
            meter = LoudnessMeter(out, sample_rate)
        measured = meter.loudness()
        if abs(measured - target_lufs) <= LOUDNESS_TOLERANCE_LU or attempt == 3:
            break  # the last step is always the limiter's, so the ceiling holds
        makeup = db_to_gain(target_lufs - measured)
        out *= np.float32(makeup)
        meter.scale *= makeup
    return result, before, measured
