"""Signal helpers on [channels, samples] float32 tensors: gain, resampling, channel layout, fades, limiting."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .audio_contract import AudioInputError

# ITU-R BS.775 down-mix weights for 5.1 (L, R, C, LFE, Ls, Rs) → stereo; LFE is dropped as usual.
_SURROUND_51_TO_STEREO = torch.tensor([
    [1.0, 0.0, 0.7071, 0.0, 0.7071, 0.0],
    [0.0, 1.0, 0.7071, 0.0, 0.0, 0.7071],
])


def db_to_gain(db: float) -> float:
    return 10.0 ** (db / 20.0)


def gain_to_db(gain: float) -> float:
    return 20.0 * math.log10(max(gain, 1e-12))


def resample(waveform: torch.Tensor, from_rate: int, to_rate: int) -> torch.Tensor:
    """Band-limited (windowed-sinc) resampling; a no-op when the rates match."""
    if from_rate == to_rate:
        return waveform
    import torchaudio.functional as AF  # ComfyUI ships torchaudio; imported here so the pack loads without it

    return AF.resample(waveform, from_rate, to_rate)


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


def conform(waveform: torch.Tensor, sample_rate: int, to_rate: int, channels: int) -> torch.Tensor:
    return resample(conform_channels(waveform, channels), sample_rate, to_rate)


def fit_length(waveform: torch.Tensor, samples: int) -> torch.Tensor:
    """Cut or pad with silence at the end to exactly `samples`."""
    have = waveform.shape[-1]
    if have >= samples:
        return waveform[..., :samples]
    return F.pad(waveform, (0, samples - have))


def apply_fades(waveform: torch.Tensor, sample_rate: int, fade_in_s: float, fade_out_s: float) -> torch.Tensor:
    """Raised-cosine fade-in at the start and fade-out at the end (each clamped to the clip length)."""
    out = waveform.clone()
    total = out.shape[-1]
    for seconds, at_start in ((fade_in_s, True), (fade_out_s, False)):
        n = min(total, int(round(seconds * sample_rate)))
        if n <= 0:
            continue
        ramp = 0.5 - 0.5 * torch.cos(torch.linspace(0.0, math.pi, n))
        if at_start:
            out[..., :n] *= ramp
        else:
            out[..., total - n:] *= ramp.flip(0)
    return out


def _sliding_min(values: torch.Tensor, before: int, after: int) -> torch.Tensor:
    """min(values[i - before : i + after + 1]) for each i, same length."""
    padded = F.pad(values.view(1, 1, -1), (before, after), value=float("inf"))
    return -F.max_pool1d(-padded, before + after + 1, stride=1).view(-1)


def _release(gain: torch.Tensor, coeff: float) -> torch.Tensor:
    """Instant attack, exponential release: y[n] = min(x[n], 1 - (1 - y[n-1]) * coeff)."""
    values = gain.tolist()
    reduction = 0.0
    for i, value in enumerate(values):
        reduction = max(reduction * coeff, 1.0 - value)
        values[i] = 1.0 - reduction
    return torch.tensor(values, dtype=gain.dtype)


def peak_envelope(waveform: torch.Tensor, sample_rate: int, oversample: int = 1) -> torch.Tensor:
    """Per-sample peak over channels; with `oversample` > 1 the inter-sample (true) peak of BS.1770."""
    sample_peaks = waveform.abs().amax(dim=0)
    if oversample <= 1:
        return sample_peaks
    from scipy.signal import resample_poly  # polyphase FIR: several times faster than a sinc resampler here

    probe = torch.from_numpy(resample_poly(waveform.numpy(), oversample, 1, axis=-1)).abs().amax(dim=0).float()
    probe = F.pad(probe, (0, (-probe.shape[0]) % oversample)).view(-1, oversample).amax(dim=1)
    return torch.maximum(fit_length(probe.view(1, -1), waveform.shape[-1]).view(-1), sample_peaks)


def limit_peaks(
    waveform: torch.Tensor,
    sample_rate: int,
    ceiling: float,
    oversample: int = 1,
    lookahead_ms: float = 5.0,
    release_ms: float = 80.0,
) -> torch.Tensor:
    """Look-ahead peak limiter: the gain rides down smoothly before a peak instead of clipping it.

    Works on 1 ms blocks (fast on long clips), then interpolates the gain back to samples. With `oversample` > 1
    peaks are measured on an oversampled copy (true peak). Returns the input unchanged when nothing exceeds the
    ceiling.
    """
    peaks = peak_envelope(waveform, sample_rate, oversample)
    if float(peaks.max()) <= ceiling:
        return waveform
    total = peaks.shape[0]
    block = max(1, sample_rate // 1000)
    blocks = -(-total // block)
    block_peaks = F.pad(peaks, (0, blocks * block - total)).view(blocks, block).amax(dim=1)
    needed = torch.clamp(ceiling / torch.clamp(block_peaks, min=1e-12), max=1.0)
    lookahead = max(2, int(round(lookahead_ms)))
    held = _sliding_min(needed, 1, lookahead)
    released = _release(held, math.exp(-1.0 / max(1.0, release_ms)))
    # Average over the look-ahead so each step becomes a ramp that has finished when the peak arrives.
    kernel = torch.full((1, 1, lookahead), 1.0 / lookahead)
    ramped = F.conv1d(F.pad(released.view(1, 1, -1), (0, lookahead - 1), value=1.0), kernel).view(-1)
    ramped = torch.minimum(ramped, held)
    positions = (torch.arange(total, dtype=torch.float32) + 0.5) / block - 0.5
    left = positions.floor().clamp(0, blocks - 1).long()
    right = (left + 1).clamp(max=blocks - 1)
    frac = (positions - left.float()).clamp(0.0, 1.0)
    gain = ramped[left] * (1 - frac) + ramped[right] * frac
    gain = torch.minimum(gain, torch.clamp(ceiling / torch.clamp(peaks, min=1e-12), max=1.0))
    return waveform * gain
