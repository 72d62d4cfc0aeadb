"""Signal helpers on [channels, samples] float32 tensors: gain, resampling, channel layout, fades, limiting.

Tensors come in and go out; the work runs on numpy views of the same memory (soxr, scipy), in float32. An input
is never written to: a result that differs from its input gets its own memory.
"""
from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Callable, Iterable, Iterator, TypeVar

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view

from .contract import AudioInputError

# ITU-R BS.775 down-mix weights for 5.1 (L, R, C, LFE, Ls, Rs) → stereo; LFE is dropped as usual.
_SURROUND_51_TO_STEREO = torch.tensor([
    [1.0, 0.0, 0.7071, 0.0, 0.7071, 0.0],
    [0.0, 1.0, 0.7071, 0.0, 0.0, 0.7071],
])
# Input samples a cut must keep beyond what the output needs, so soxr's filter sees real signal at the last output
# sample (its HQ filter reaches a few hundred input samples; 1024 leaves it untouched to float32 precision).
RESAMPLE_MARGIN = 1024
# True peak: the interpolator of scipy's resample_poly (Kaiser-windowed sinc, β = 5, 10 input samples each side).
_TRUE_PEAK_HALF_TAPS = 10
_CANDIDATE_BLOCK = 32  # samples per block when looking for where a true peak may exceed a level (> 2 × 10 taps)
_SCAN_CHUNK = 1 << 18  # samples per step of a whole-clip scan (a multiple of _CANDIDATE_BLOCK)


_PARALLEL_MIN_SAMPLES = 1 << 16  # below this a thread hand-off costs more than it saves
_channel_pool: ThreadPoolExecutor | None = None
T = TypeVar("T")


def for_each_channel(fn: Callable[[int], T], channels: int, samples: int) -> list[T]:
    """[fn(0), …, fn(channels - 1)], on worker threads for long multi-channel clips: scipy's filters and soxr
    release the GIL, so the channels of a stereo clip run on two cores."""
    global _channel_pool
    if channels == 1 or samples < _PARALLEL_MIN_SAMPLES or (os.cpu_count() or 1) < 2:
        return [fn(channel) for channel in range(channels)]
    if _channel_pool is None:
        _channel_pool = ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 2), thread_name_prefix="toongen-dsp")
    return list(_channel_pool.map(fn, range(channels)))


def db_to_gain(db: float) -> float:
    return 10.0 ** (db / 20.0)


def gain_to_db(gain: float) -> float:
    return 20.0 * math.log10(max(gain, 1e-12))


def as_array(waveform: torch.Tensor) -> np.ndarray:
    """A float32 numpy view of a CPU tensor (a copy only when the tensor is not float32 on the CPU)."""
    return waveform.detach().to("cpu", torch.float32).numpy()


def input_samples_for(output_samples: int, from_rate: int, to_rate: int) -> int:
    """How many input samples at `from_rate` produce `output_samples` at `to_rate` after resampling, with the
    margin the resampler's filter needs at the cut."""
    if from_rate == to_rate:
        return output_samples
    return math.ceil(output_samples * from_rate / to_rate) + RESAMPLE_MARGIN


def resample(waveform: torch.Tensor, from_rate: int, to_rate: int) -> torch.Tensor:
    """Band-limited resampling with soxr (HQ), channel by channel; a no-op when the rates match. Output length is
    round(samples × to_rate / from_rate). Needs no torchaudio."""
    if from_rate == to_rate:
        return waveform
    import soxr

    x = as_array(waveform)
    if x.ndim == 1:
        return torch.from_numpy(soxr.resample(np.ascontiguousarray(x), from_rate, to_rate))
    channels = for_each_channel(lambda c: soxr.resample(np.ascontiguousarray(x[c]), from_rate, to_rate), *x.shape)
    if len(channels) == 1:
        return torch.from_numpy(channels[0][None])
    out = torch.empty((len(channels), channels[0].shape[0]))
    for row, channel in zip(out.numpy(), channels):
        row[:] = channel
    return out


def conform_channels(waveform: torch.Tensor, channels: int) -> torch.Tensor:
    """Up- or down-mix to `channels` (1 or 2). 5.1 folds to stereo with ITU weights; anything else averages."""
    have = waveform.shape[0]
    if channels not in (1, 2):
        raise AudioInputError(f"output channels must be 1 (mono) or 2 (stereo), got {channels}.")
    if have == channels:
        return waveform
    if have == 6 and channels == 2:
        stereo = _SURROUND_51_TO_STEREO @ waveform
        return stereo / _SURROUND_51_TO_STEREO.sum(dim=1, keepdim=True).max()
    mono = waveform.mean(dim=0, keepdim=True)
    return mono.expand(channels, -1).clone() if channels == 2 else mono


def conform_for_mixing(waveform: torch.Tensor, sample_rate: int, to_rate: int, channels: int) -> np.ndarray:
    """→ float32 [1 or `channels`, samples] at `to_rate` to be added into a `channels`-channel track: a mono
    result stays one row (numpy broadcasts it to every channel), so nothing is up-mixed in memory. Channels are
    folded before resampling, so a down-mix resamples fewer channels. May be a view of the input: never write
    into it."""
    have = waveform.shape[0]
    if have not in (1, channels):
        waveform = conform_channels(waveform, 2) if (have, channels) == (6, 2) else waveform.mean(dim=0, keepdim=True)
    return as_array(resample(waveform, sample_rate, to_rate))


def conform(waveform: torch.Tensor, sample_rate: int, to_rate: int, channels: int) -> torch.Tensor:
    """Resample to `to_rate` and up-/down-mix to `channels` (1 or 2)."""
    if channels not in (1, 2):
        raise AudioInputError(f"output channels must be 1 (mono) or 2 (stereo), got {channels}.")
    mixed = conform_for_mixing(waveform, sample_rate, to_rate, channels)
    if mixed.shape[0] != channels:
        mixed = np.repeat(mixed, channels, axis=0)
    return torch.from_numpy(mixed)


def fit_length(waveform: torch.Tensor, samples: int) -> torch.Tensor:
    """Cut or pad with silence at the end to exactly `samples`."""
    have = waveform.shape[-1]
    if have >= samples:
        return waveform[..., :samples]
    return torch.nn.functional.pad(waveform, (0, samples - have))


def fade_ramp(samples: int) -> np.ndarray:
    """A raised-cosine fade-in of `samples` samples (0 → 1); reversed, a fade-out."""
    return (0.5 - 0.5 * np.cos(np.linspace(0.0, math.pi, samples))).astype(np.float32)


def fade_in_place(gain: np.ndarray, sample_rate: int, fade_in_s: float, fade_out_s: float) -> None:
    """Multiply raised-cosine fades into the last axis of `gain` (each clamped to its length)."""
    total = gain.shape[-1]
    fade_in = min(total, int(round(fade_in_s * sample_rate)))
    fade_out = min(total, int(round(fade_out_s * sample_rate)))
    if fade_in > 0:
        gain[..., :fade_in] *= fade_ramp(fade_in)
    if fade_out > 0:
        gain[..., total - fade_out:] *= fade_ramp(fade_out)[::-1]


def apply_fades(waveform: torch.Tensor, sample_rate: int, fade_in_s: float, fade_out_s: float) -> torch.Tensor:
    """Raised-cosine fade-in at the start and fade-out at the end (each clamped to the clip length)."""
    out = as_array(waveform).copy()
    fade_in_place(out, sample_rate, fade_in_s, fade_out_s)
    return torch.from_numpy(out)


# --- true peak ------------------------------------------------------------------------------------------------

@lru_cache(maxsize=8)
def _interpolator(oversample: int) -> tuple[np.ndarray, float, float, float]:
    """The true-peak interpolator and three bounds on what it can make of a window of samples.

    weights [21, oversample]: x(n + p/oversample) = x[n-10 : n+11] @ weights[:, p], exactly what
    scipy.signal.resample_poly(x, oversample, 1) computes. Bounds on |x(n + p/oversample)|:
    - `spread` × the largest |sample| in the window (the largest absolute column sum);
    - `pair` × max(|x[n]|, |x[n+1]|) + `bend` × the largest |second difference| in the window: each column is
      a·δ0 + b·δ1 (same sum and first moment) plus a remainder that annihilates straight lines and is therefore
      a second-difference filter v (Σ|v| = bend). On smooth (band-limited, not too bright) audio this bound is
      barely above the sample peak, so few samples need the interpolator at all.
    """
    from scipy.signal import firwin

    half = _TRUE_PEAK_HALF_TAPS * oversample
    taps = firwin(2 * half + 1, 1.0 / oversample, window=("kaiser", 5.0)) * oversample
    offsets = np.arange(-_TRUE_PEAK_HALF_TAPS, _TRUE_PEAK_HALF_TAPS + 1)
    weights = np.zeros((offsets.size, oversample))
    for phase in range(oversample):
        index = phase + half - oversample * offsets
        inside = (index >= 0) & (index <= 2 * half)
        weights[inside, phase] = taps[index[inside]]
    pair, bend = 0.0, 0.0
    centre = _TRUE_PEAK_HALF_TAPS
    for column in weights.T:
        second = float(offsets @ column)
        first = float(column.sum()) - second
        rest = column.copy()
        rest[centre] -= first
        rest[centre + 1] -= second
        # rest[d] = v[d-1] - 2 v[d] + v[d+1]: v is rest summed twice (its ends come out zero)
        pair = max(pair, abs(first) + abs(second))
        bend = max(bend, float(np.abs(np.cumsum(np.cumsum(rest))).sum()))
    return weights.astype(np.float32), float(np.abs(weights).sum(axis=0).max()), pair, bend


def _block_windows(x: np.ndarray, blocks: np.ndarray) -> np.ndarray:
    """[channels, len(blocks), block + 20]: each block's samples with the 10 before and after (zeros beyond the
    ends, as resample_poly assumes)."""
    total, half = x.shape[-1], _TRUE_PEAK_HALF_TAPS
    index = blocks[:, None] * _CANDIDATE_BLOCK + np.arange(-half, _CANDIDATE_BLOCK + half)
    windows = x[:, np.clip(index, 0, total - 1)]
    if index[0, 0] < 0 or index[-1, -1] >= total:
        windows *= (index >= 0) & (index < total)
    return windows


def _windows_true_peaks(windows: np.ndarray, oversample: int) -> np.ndarray:
    """[blocks, block]: for each sample n, the max over channels and phases p of |x(n + p/oversample)|."""
    weights = _interpolator(oversample)[0]
    out = np.empty(windows.shape[1:2] + (_CANDIDATE_BLOCK,), np.float32)
    chunk = 2048  # blocks per step: bounded temporaries however long the clip
    for first in range(0, windows.shape[1], chunk):
        part = windows[:, first:first + chunk]
        taps = np.ascontiguousarray(sliding_window_view(part, 2 * _TRUE_PEAK_HALF_TAPS + 1, axis=-1)
                                    [:, :, :_CANDIDATE_BLOCK])
        out[first:first + part.shape[1]] = np.abs(taps @ weights).max(axis=(0, 3))
    return out


def true_peak_candidates(x: np.ndarray, level: float, oversample: int) -> tuple[np.ndarray, np.ndarray]:
    """(positions, peaks) where the `oversample`× interpolated signal may exceed `level`, with its exact peak at
    each position (over channels and the phases from n up to n + 1). Everywhere else it provably stays ≤ level
    (the bounds of `_interpolator`), so only the blocks of 32 samples around samples above level / spread are
    looked at, and of those only the ones the smooth-signal bound cannot clear are interpolated."""
    _, spread, pair, bend = _interpolator(oversample)
    total, size, half = x.shape[-1], _CANDIDATE_BLOCK, _TRUE_PEAK_HALF_TAPS
    threshold = np.float32(level / spread)
    hot = []
    for start in range(0, total, _SCAN_CHUNK):  # bounded temporaries, however long the clip
        part = x[:, start:start + _SCAN_CHUNK]
        above = np.abs(part[0]) > threshold
        for row in part[1:]:
            above |= np.abs(row) > threshold
        hot.append((np.flatnonzero(above) + start) // size)
    hot = np.concatenate(hot)  # sorted
    if hot.size == 0:
        return np.empty(0, np.int64), np.empty(0, np.float32)
    hot = hot[np.concatenate([[True], hot[1:] != hot[:-1]])]
    # A window reaches 10 samples into the neighbouring blocks.
    blocks = np.unique(np.concatenate([hot - 1, hot, hot + 1]))
    blocks = blocks[(blocks >= 0) & (blocks * size < total)]
    windows = _block_windows(x, blocks)
    bends = np.abs(windows[..., 2:] + windows[..., :-2] - 2 * windows[..., 1:-1]).max(axis=(0, 2))
    pairs = np.abs(windows[..., half:half + size + 1]).max(axis=(0, 2))
    keep = pair * pairs + bend * bends > level
    if not keep.any():
        return np.empty(0, np.int64), np.empty(0, np.float32)
    blocks, windows = blocks[keep], windows[:, keep]
    positions = (blocks[:, None] * size + np.arange(size)).ravel()
    inside = positions < total
    return positions[inside], _windows_true_peaks(windows, oversample).ravel()[inside]


def _largest_sample(x: np.ndarray) -> float:
    """max |x| by two read-only reductions (no temporary)."""
    return max(float(x.max()), -float(x.min()))


def sample_peak_envelope(x: np.ndarray) -> np.ndarray:
    """Per-sample max over channels of |x| (float32, a new array)."""
    out = np.abs(x[0])
    for row in x[1:]:
        np.maximum(out, np.abs(row), out=out)
    return out


def peak_envelope(waveform: torch.Tensor, sample_rate: int, oversample: int = 1) -> torch.Tensor:
    """Per-sample peak over channels; with `oversample` > 1 the inter-sample (true) peak of BS.1770, i.e. the
    largest |x| from sample n up to n + 1 on the oversampled signal. Computes every sample (see max_true_peak
    for the fast maximum)."""
    x = as_array(waveform)
    peaks = sample_peak_envelope(x)
    if oversample <= 1:
        return torch.from_numpy(peaks)
    blocks = np.arange(-(-x.shape[-1] // _CANDIDATE_BLOCK))
    interpolated = _windows_true_peaks(_block_windows(x, blocks), oversample).ravel()[: x.shape[-1]]
    return torch.from_numpy(np.maximum(peaks, interpolated))


def max_true_peak(x: np.ndarray, oversample: int) -> float:
    """The largest true peak (linear), interpolating only where it can exceed the largest sample."""
    highest = _largest_sample(x)
    _, candidates = true_peak_candidates(x, highest, oversample)
    return max(highest, float(candidates.max())) if candidates.size else highest


# --- limiter --------------------------------------------------------------------------------------------------

def _release(held: np.ndarray, coeff: float) -> np.ndarray:
    """Instant attack, exponential release: y[n] = min(x[n], 1 - (1 - y[n-1]) * coeff), without a loop.

    The reduction r[n] = 1 - y[n] obeys r[n] = max(r[n-1] * coeff, 1 - x[n]), so r[n] = max_k (1 - x[k]) *
    coeff^(n-k): in logs a running maximum of log(1 - x[k]) - k log(coeff), shifted back by n log(coeff).
    (float64 throughout: k log(coeff) grows with the clip's length.)
    """
    shift = np.arange(held.shape[0], dtype=np.float64)
    shift *= math.log(coeff)
    running = held.astype(np.float64)
    np.subtract(1.0, running, out=running)
    with np.errstate(divide="ignore"):
        np.log(running, out=running)
    running -= shift
    np.maximum.accumulate(running, out=running)
    running += shift
    np.exp(running, out=running)
    np.subtract(1.0, running, out=running)
    return running.astype(np.float32)


def limiter_gain(x: np.ndarray, sample_rate: int, ceiling: float, oversample: int = 1, lookahead_ms: float = 5.0,
                 release_ms: float = 80.0) -> Iterator[tuple[int, np.ndarray]]:
    """The look-ahead limiter's gain as (start sample, gain curve) runs, in order; none when nothing exceeds the
    ceiling. A run may be applied to `x` before the next is asked for (each reads only its own samples).

    Works on 1 ms blocks: each block's needed gain is held over the look-ahead, released exponentially, averaged
    over the look-ahead so a step becomes a ramp that has finished when the peak arrives, then interpolated back
    to samples. Gain curves exist only where the gain is below 1 (in float32), so the cost outside limited
    passages is the peak scan alone.
    """
    total = x.shape[-1]
    highest = _largest_sample(x)
    positions = values = None
    if oversample > 1 and highest * _interpolator(oversample)[1] > ceiling:
        positions, values = true_peak_candidates(x, ceiling, oversample)
        if values.size:
            highest = max(highest, float(values.max()))
    if highest <= ceiling:
        return
    if positions is None:
        positions, values = np.empty(0, np.int64), np.empty(0, np.float32)

    def peaks(start: int, end: int) -> np.ndarray:
        """Per-sample peaks of start..end-1, true peaks where they were computed."""
        found = sample_peak_envelope(x[:, start:end])
        inside = slice(*np.searchsorted(positions, [start, end]))
        found[positions[inside] - start] = np.maximum(found[positions[inside] - start], values[inside])
        return found

    block = max(1, sample_rate // 1000)
    blocks = -(-total // block)
    block_peaks = np.empty(blocks, np.float32)
    chunk = block * -(-_SCAN_CHUNK // block)
    for start in range(0, total, chunk):  # bounded temporaries, however long the clip
        found = peaks(start, min(total, start + chunk))
        padded = np.zeros(-(-found.shape[0] // block) * block, np.float32)
        padded[: found.shape[0]] = found
        block_peaks[start // block: start // block + padded.shape[0] // block] = padded.reshape(-1, block).max(axis=1)
    # The gain each block needs, held over the look-ahead (and one block back).
    lookahead = max(2, int(round(lookahead_ms)))
    needed = np.ones(blocks + lookahead + 1, np.float32)
    np.maximum(block_peaks, 1e-12, out=block_peaks)
    np.divide(np.float32(ceiling), block_peaks, out=needed[1:blocks + 1])
    np.minimum(needed, 1.0, out=needed)
    del block_peaks
    held = sliding_window_view(needed, lookahead + 2).min(axis=1)
    del needed
    released = _release(held, math.exp(-1.0 / max(1.0, release_ms)))
    sums = np.zeros(blocks + lookahead, np.float64)
    np.cumsum(released, out=sums[1:blocks + 1])
    sums[blocks + 1:] = sums[blocks] + np.arange(1, lookahead)  # past the end the gain is 1
    del released
    averaged = sums[lookahead:] - sums[:-lookahead]
    del sums
    averaged /= lookahead
    ramped = np.minimum(averaged, held).astype(np.float32)
    del averaged, held
    # Samples whose interpolation touches a block below 1: its own blocks ± one.
    below = ramped < 1.0
    touched = below.copy()
    touched[1:] |= below[:-1]
    touched[:-1] |= below[1:]
    edges = np.flatnonzero(np.diff(np.concatenate([[0], touched.astype(np.int8), [0]])))
    for first_block, end_block in zip(edges[::2], edges[1::2]):
        run_end = min(total, end_block * block)
        for start in range(first_block * block, run_end, _SCAN_CHUNK):  # bounded temporaries per step
            end = min(run_end, start + _SCAN_CHUNK)
            where = (np.arange(start, end, dtype=np.float32) + 0.5) / block - 0.5  # in blocks, from block centres
            left = np.clip(np.floor(where), 0, blocks - 1).astype(np.int64)
            where -= left
            np.clip(where, 0.0, 1.0, out=where)  # now the fraction of the way to the next block
            gain = ramped[left] * (1 - where) + ramped[np.minimum(left + 1, blocks - 1)] * where
            np.minimum(gain, np.minimum(ceiling / np.maximum(peaks(start, end), 1e-12), 1.0), out=gain)
            yield start, gain


def apply_gain_runs(x: np.ndarray, runs: Iterable[tuple[int, np.ndarray]]) -> None:
    """Multiply each (start, gain curve) into `x`, in place."""
    for start, gain in runs:
        x[:, start:start + gain.shape[0]] *= gain


def limit_peaks(
    waveform: torch.Tensor,
    sample_rate: int,
    ceiling: float,
    oversample: int = 1,
    lookahead_ms: float = 5.0,
    release_ms: float = 80.0,
) -> torch.Tensor:
    """Look-ahead peak limiter: the gain rides down smoothly before a peak instead of clipping it.

    With `oversample` > 1 peaks are measured on the oversampled signal (true peak), where they can exceed the
    ceiling. Returns the input itself when nothing exceeds the ceiling.
    """
    out = None
    for start, gain in limiter_gain(as_array(waveform), sample_rate, ceiling, oversample, lookahead_ms, release_ms):
        if out is None:  # audio lives in tensors; numpy only views it
            out = waveform.detach().to("cpu", torch.float32, copy=True)
        out.numpy()[:, start:start + gain.shape[0]] *= gain
    return waveform if out is None else out
