"""Integrated loudness (ITU-R BS.1770-4 / EBU R128) and true-peak-safe normalization.

The meter: K-weighting as two biquads per channel (one scipy sosfilt pass, in 4 s chunks), energies per 100 ms
segment, 400 ms gating blocks as sums of four segments (75 % overlap), the -70 LUFS absolute and -10 LU relative
gates. The tests check it against an independent meter written from the standard (tests/support/bs1770_meter.py).
"""
from __future__ import annotations

import logging
import math
from functools import lru_cache

import numpy as np
import torch

from .contract import AudioInputError
from .dsp import as_array, db_to_gain, for_each_channel, gain_to_db, limiter_gain, max_true_peak

log = logging.getLogger("ToonGen")

GATING_BLOCK_S = 0.4  # BS.1770 measures 400 ms blocks; shorter clips are tiled up to one block
SEGMENTS_PER_BLOCK = 4  # 75 % overlap: a block is four 100 ms segments
SEGMENTS_PER_CHUNK = 40  # the meter filters (and keeps its filter state) in 4 s chunks
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
    """Per-channel energies of the K-weighted signal in 100 ms segments, and the filter's state every few
    seconds: a gain or a local change (the limiter's) re-measures by filtering only the seconds it touched, and
    the K-weighted clip itself is never kept."""

    def __init__(self, x: np.ndarray, sample_rate: int):
        self.incremental = sample_rate >= MIN_FILTER_RATE  # (`update` re-filters from the stored states)
        if not self.incremental:
            from .dsp import resample

            x, sample_rate = as_array(resample(torch.from_numpy(x), sample_rate, 48000)), 48000
        block = int(math.ceil(GATING_BLOCK_S * sample_rate)) + 1
        if x.shape[-1] < block:  # a short clip is measured as if looped to one block
            x = np.tile(x, (1, -(-block // x.shape[-1])))
            self.incremental = False
        sos, self.tail = k_weighting(sample_rate)
        self.sos = sos.astype(np.float32)
        self.weights = channel_weights(x.shape[0])
        step = GATING_BLOCK_S / SEGMENTS_PER_BLOCK * sample_rate
        self.edges = np.round(np.arange(int(x.shape[-1] // step) + 1) * step).astype(np.int64)
        segments = len(self.edges) - 1
        self.chunks = -(-segments // SEGMENTS_PER_CHUNK)
        self.energy = np.zeros((x.shape[0], segments))
        self.states = np.zeros((self.chunks + 1, 2, x.shape[0], 2), np.float32)  # at each chunk's start
        for_each_channel(lambda channel: self._measure(x, range(self.chunks), channel), *x.shape)

    def _measure(self, x: np.ndarray, chunks: range, channel: int | slice = slice(None)) -> None:
        """Filter `chunks` (consecutive) from the stored state at the first one, storing energies and states."""
        from scipy.signal import sosfilt

        for chunk in chunks:
            first = chunk * SEGMENTS_PER_CHUNK
            edges = self.edges[first:min(first + SEGMENTS_PER_CHUNK, len(self.edges) - 1) + 1]
            part = x[channel, edges[0]:edges[-1]]
            weighted, self.states[chunk + 1, :, channel] = sosfilt(self.sos, part, axis=-1,
                                                                   zi=self.states[chunk, :, channel])
            weighted *= weighted
            self.energy[channel, first:first + len(edges) - 1] = np.add.reduceat(
                weighted, edges[:-1] - edges[0], axis=-1, dtype=np.float64)

    def loudness(self) -> float:
        """Integrated loudness (LUFS); -inf below the absolute gate."""
        if self.energy.shape[-1] < SEGMENTS_PER_BLOCK:
            return -math.inf
        sums = np.convolve(self.weights @ self.energy, np.ones(SEGMENTS_PER_BLOCK), mode="valid")
        power = sums / (self.edges[SEGMENTS_PER_BLOCK:] - self.edges[:-SEGMENTS_PER_BLOCK])
        with np.errstate(divide="ignore"):
            block_lufs = -0.691 + 10.0 * np.log10(power)
        loud = power[block_lufs > ABSOLUTE_GATE_LUFS]
        if loud.size == 0:
            return -math.inf
        relative_gate = -0.691 + 10.0 * math.log10(loud.mean()) + RELATIVE_GATE_LU
        gated = power[(block_lufs > ABSOLUTE_GATE_LUFS) & (block_lufs > relative_gate)]
        return -0.691 + 10.0 * math.log10(gated.mean())

    def scale(self, gain: float) -> None:
        """The signal was multiplied by `gain` (loudness scales exactly; the gates are re-applied)."""
        self.energy *= gain * gain
        self.states *= np.float32(gain)

    def update(self, x: np.ndarray, changed: list[tuple[int, int]]) -> None:
        """`x` changed in the sample ranges `changed` (in order): re-filter the chunks from each change until its
        effect on the K-weighted signal has died away (`tail`), in time order, so each starts from a true state."""
        starts = self.edges[::SEGMENTS_PER_CHUNK]
        touched = set()
        for start, end in changed:
            first = max(0, int(np.searchsorted(starts, start, side="right")) - 1)
            last = int(np.searchsorted(starts, min(end + self.tail, self.edges[-1]), side="left"))
            touched.update(range(first, min(last, self.chunks)))
        for chunk in sorted(touched):
            self._measure(x, range(chunk, chunk + 1))


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
    meter.scale(gain)
    measured = meter.loudness()
    for attempt in range(4):
        changed = []
        for start, curve in limiter_gain(out, sample_rate, ceiling, TRUE_PEAK_OVERSAMPLE):
            out[:, start:start + curve.shape[0]] *= curve
            changed.append((start, start + curve.shape[0]))
        if not changed:
            break
        if meter.incremental:
            meter.update(out, changed)
        else:
            meter = LoudnessMeter(out, sample_rate)
        measured = meter.loudness()
        if abs(measured - target_lufs) <= LOUDNESS_TOLERANCE_LU or attempt == 3:
            break  # the last step is always the limiter's, so the ceiling holds
        makeup = db_to_gain(target_lufs - measured)
        out *= np.float32(makeup)
        meter.scale(makeup)
    return result, before, measured
