"""A recipe's sound shaping on mono speech (1-D float32 tensors): pitch with formants, formants alone, a character
effect, loudness. Every step keeps the speech's timing true: only the pitch shift changes the duration, and then
the timing is scaled with it.

The effects are kept mild enough that an F5-TTS clone of a reference made with them still sounds like speech (F5
copies whatever is in its reference: a harsh effect there comes back on every line).
"""
from __future__ import annotations

import math

import torch

from ..audio.dsp import resample
from ..audio.loudness import normalize_loudness
from ..speech.timing import Utterance
from .recipes import Recipe

N_FFT = 1024
HOP = 256


def shift_pitch(speech: Utterance, factor: float) -> Utterance:
    """Pitch and formants × `factor` by resampling (the clip plays `factor` times faster); the timing is scaled to
    the new length. Engines speak `factor` times slower first, so the tempo comes out as asked."""
    if factor == 1.0 or speech.samples.numel() == 0:
        return speech
    rate = speech.sample_rate
    samples = resample(speech.samples.unsqueeze(0), int(round(rate * factor)), rate).reshape(-1)
    timing = speech.timing.scaled(samples.shape[0] / speech.samples.shape[0]) if speech.timing else None
    return Utterance(samples, rate, timing)


def _stft(samples: torch.Tensor) -> torch.Tensor:
    return torch.stft(samples, N_FFT, HOP, window=torch.hann_window(N_FFT), return_complex=True)


def _istft(spectrum: torch.Tensor, length: int) -> torch.Tensor:
    return torch.istft(spectrum, N_FFT, HOP, window=torch.hann_window(N_FFT), length=length)


def spectral_envelope(magnitude: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Per-frame spectral envelope (bins × frames) by cepstral smoothing: the quefrencies below 2 ms (above 500 Hz
    of pitch) carry the vocal tract, the rest the harmonics."""
    cepstrum = torch.fft.irfft(magnitude.clamp_min(1e-7).log(), n=N_FFT, dim=0)
    keep = int(sample_rate * 0.002)
    lifter = torch.zeros(N_FFT, 1)
    lifter[:keep] = 1.0
    lifter[N_FFT - keep + 1:] = 1.0
    return torch.fft.rfft(cepstrum * lifter, dim=0).real.exp()


def _warp_bins(values: torch.Tensor, factor: float) -> torch.Tensor:
    """values(bin / factor) by linear interpolation along the frequency axis (factor > 1 moves features up)."""
    bins = values.shape[0]
    source = (torch.arange(bins, dtype=torch.float32) / factor).clamp(max=bins - 1)
    low = source.floor().long()
    high = (low + 1).clamp(max=bins - 1)
    frac = (source - low.float()).unsqueeze(1)
    return values[low] * (1 - frac) + values[high] * frac


def shift_formants(samples: torch.Tensor, sample_rate: int, factor: float) -> torch.Tensor:
    """Move the spectral envelope (formants: the size of the vocal tract) by `factor`, keeping the pitch, the
    harmonics and the length."""
    if factor == 1.0 or samples.numel() < N_FFT:
        return samples
    spectrum = _stft(samples)
    envelope = spectral_envelope(spectrum.abs(), sample_rate)
    gain = (_warp_bins(envelope, factor) / envelope).clamp(max=8.0)
    return _istft(spectrum * gain, samples.shape[0])


def drive(samples: torch.Tensor, amount: float) -> torch.Tensor:
    """Soft saturation: a strained, shouting edge."""
    gain = 1.0 + 5.0 * amount
    peak = float(samples.abs().max()) or 1.0
    return torch.tanh(gain * samples / peak) / math.tanh(gain) * peak


def radio(samples: torch.Tensor, sample_rate: int, amount: float) -> torch.Tensor:
    """An old broadcast: the band narrowed to about 200–5000 Hz at amount 0 and 400–3400 Hz at 1, a little hiss."""
    from scipy.signal import butter, sosfiltfilt

    low, high = 200.0 + 200.0 * amount, 5000.0 - 1600.0 * amount
    sos = butter(4, [low, high], btype="bandpass", fs=sample_rate, output="sos")
    filtered = torch.from_numpy(sosfiltfilt(sos, samples.double().numpy()).copy()).float()
    hiss = torch.randn(samples.shape, generator=torch.Generator().manual_seed(7)) * 0.003 * amount
    return drive(filtered, 0.3 * amount) + hiss * float(filtered.abs().max())


def robot(samples: torch.Tensor, amount: float) -> torch.Tensor:
    """Phase-vocoder robot: every frame's phases zeroed, so the voice buzzes on one flat pitch (24000 / 256 ≈ 94 Hz
    at 24 kHz), mixed with the dry voice by `amount`."""
    spectrum = _stft(samples)
    flat = _istft(spectrum.abs().to(torch.complex64), samples.shape[0])
    flat = flat * (samples.norm() / flat.norm().clamp_min(1e-9))
    return (1 - amount) * samples + amount * flat


def whisper(samples: torch.Tensor, sample_rate: int, amount: float) -> torch.Tensor:
    """Breath instead of voice: noise shaped by the speech's spectral envelope frame by frame (the words stay, the
    pitch goes), mixed with the dry voice by `amount`."""
    spectrum = _stft(samples)
    envelope = spectral_envelope(spectrum.abs(), sample_rate)
    generator = torch.Generator().manual_seed(11)
    phase = torch.rand(spectrum.shape, generator=generator) * (2 * math.pi)
    noise = _istft(envelope * torch.polar(torch.ones_like(phase), phase), samples.shape[0])
    noise = noise * (samples.norm() / noise.norm().clamp_min(1e-9))
    return (1 - amount) * samples + amount * noise


def wobble(samples: torch.Tensor, sample_rate: int, amount: float) -> torch.Tensor:
    """A nervous, shaky voice: irregular vibrato (a delay line swept by a wandering 5–8 Hz wave, ±1 ms at amount 1,
    so nothing moves by more than a millisecond) and a little tremolo."""
    n = samples.shape[0]
    t = torch.arange(n, dtype=torch.float64) / sample_rate
    generator = torch.Generator().manual_seed(5)
    phases = torch.rand(2, generator=generator).double() * 2 * math.pi
    sweep = 0.6 * torch.sin(2 * math.pi * 5.3 * t + phases[0]) + 0.4 * torch.sin(2 * math.pi * 7.9 * t + phases[1])
    delay = (1 + sweep) * 0.001 * amount * sample_rate  # samples, ≥ 0
    position = (torch.arange(n, dtype=torch.float64) - delay).clamp(0, n - 1)
    low = position.floor().long()
    high = (low + 1).clamp(max=n - 1)
    frac = (position - low.double()).float()
    shaken = samples[low] * (1 - frac) + samples[high] * frac
    return shaken * (1 - 0.12 * amount * (0.5 + 0.5 * sweep.float()))


def apply_effect(samples: torch.Tensor, sample_rate: int, effect: str, amount: float) -> torch.Tensor:
    if effect == "none" or amount <= 0 or samples.numel() == 0:
        return samples
    if effect == "drive":
        return drive(samples, amount)
    if effect == "radio":
        return radio(samples, sample_rate, amount)
    if effect == "robot":
        return robot(samples, amount)
    if effect == "whisper":
        return whisper(samples, sample_rate, amount)
    if effect == "wobble":
        return wobble(samples, sample_rate, amount)
    raise ValueError(f"unknown effect {effect!r}")


def shape_speech(speech: Utterance, recipe: Recipe) -> Utterance:
    """Everything a recipe does after the engine spoke (at speed / pitch): pitch, formants, effect, loudness."""
    speech = shift_pitch(speech, recipe.pitch)
    samples = shift_formants(speech.samples, speech.sample_rate, recipe.formant)
    samples = apply_effect(samples, speech.sample_rate, recipe.effect, recipe.effect_amount)
    if recipe.loudness is not None and samples.numel():
        samples = normalize_loudness(samples.unsqueeze(0), speech.sample_rate, recipe.loudness, -1.0)[0].reshape(-1)
    return Utterance(samples.float().contiguous(), speech.sample_rate, speech.timing)
