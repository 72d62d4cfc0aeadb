"""The ComfyUI AUDIO value: {"waveform": float32 CPU tensor [batch, channels, samples], "sample_rate": int}.

Every AUDIO the pack emits goes through `make_audio`; every AUDIO it receives goes through `read_audio`, which turns
the odd things other nodes hand over (int16 PCM, float64, a batch, a 1-D tensor) into one [channels, samples]
float32 tensor or raises an `AudioInputError` that says what is wrong and how to fix it.
"""
from __future__ import annotations

import math
from typing import Any

import torch

from ..runtime.output_memory import in_own_mapping

MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 384_000
MAX_CHANNELS = 32


class AudioInputError(ValueError):
    """Bad audio handed to a ToonGen function or node; the message names the problem and the fix."""


def _as_float32(waveform: torch.Tensor, what: str) -> torch.Tensor:
    if waveform.dtype == torch.int16:
        return waveform.to(torch.float32) / 32768.0
    if waveform.dtype == torch.int32:
        return waveform.to(torch.float32) / 2147483648.0
    if waveform.dtype == torch.uint8:
        return (waveform.to(torch.float32) - 128.0) / 128.0
    if not waveform.dtype.is_floating_point:
        raise AudioInputError(f"{what}: waveform dtype {waveform.dtype} is not audio; expected float32 or int16 PCM.")
    return waveform.to(torch.float32)


def check_sample_rate(sample_rate: Any, what: str = "audio") -> int:
    if isinstance(sample_rate, torch.Tensor) and sample_rate.numel() == 1:
        sample_rate = sample_rate.item()
    if isinstance(sample_rate, float) and sample_rate.is_integer():
        sample_rate = int(sample_rate)
    if not isinstance(sample_rate, int) or isinstance(sample_rate, bool):
        raise AudioInputError(f"{what}: sample_rate must be an int, got {sample_rate!r}.")
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise AudioInputError(
            f"{what}: sample rate {sample_rate} Hz is outside {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz; "
            "resample the source or check the loader that produced it."
        )
    return sample_rate


def _sum(waveform: torch.Tensor) -> float:
    if waveform.device.type == "cpu" and not waveform.requires_grad:
        return float(waveform.numpy().sum())  # numpy: one thread, no start-up cost on a busy CPU
    return float(waveform.sum())


def check_waveform(waveform: torch.Tensor, what: str = "audio") -> torch.Tensor:
    """Validate a [channels, samples] waveform: non-empty, a sane channel count, finite."""
    if waveform.dim() != 2:
        raise AudioInputError(f"{what}: expected [channels, samples], got shape {tuple(waveform.shape)}.")
    channels, samples = waveform.shape
    if samples == 0 or channels == 0:
        raise AudioInputError(f"{what}: the audio is empty (shape {tuple(waveform.shape)}); feed a clip with samples in it.")
    if channels > MAX_CHANNELS:
        raise AudioInputError(
            f"{what}: {channels} channels looks like [samples, channels] or [batch, samples]; "
            "AUDIO waveforms are [batch, channels, samples]."
        )
    # One sum (no temporary the size of the clip) answers for finite audio; only a non-finite sum needs a look.
    if not math.isfinite(_sum(waveform)) and not torch.isfinite(waveform).all():
        bad = int((~torch.isfinite(waveform)).sum())
        raise AudioInputError(
            f"{what}: {bad} NaN/Inf sample(s); the node upstream produced invalid audio "
            "(check its gain or model output) — ToonGen will not pass NaN on to the video."
        )
    return waveform


def read_audio(audio: Any, what: str = "audio") -> tuple[torch.Tensor, int]:
    """A ComfyUI AUDIO dict → ([channels, samples] float32 CPU tensor, sample_rate).

    A batch of several clips is joined in time, which is what VHS_VideoCombine does with it too.
    """
    if not isinstance(audio, dict) or "waveform" not in audio or "sample_rate" not in audio:
        raise AudioInputError(f"{what}: expected a ComfyUI AUDIO dict with 'waveform' and 'sample_rate', got {type(audio).__name__}.")
    waveform = audio["waveform"]
    if not isinstance(waveform, torch.Tensor):
        raise AudioInputError(f"{what}: 'waveform' must be a torch tensor, got {type(waveform).__name__}.")
    sample_rate = check_sample_rate(audio["sample_rate"], what)
    waveform = _as_float32(waveform.detach().cpu(), what)
    if waveform.dim() == 1:
        waveform = waveform.unsqueeze(0)
    elif waveform.dim() == 3:
        if waveform.shape[0] == 0:
            raise AudioInputError(f"{what}: the audio batch is empty; feed a clip with samples in it.")
        waveform = torch.cat(list(waveform), dim=-1) if waveform.shape[0] > 1 else waveform[0]
    return check_waveform(waveform, what), sample_rate


def make_audio(waveform: torch.Tensor, sample_rate: int) -> dict:
    """[channels, samples] → the AUDIO dict VHS_VideoCombine and SaveAudio accept (float32, CPU, batch 1). The
    waveform is a copy in its own memory mapping (ComfyUI's cache holds it; see output_memory)."""
    waveform = check_waveform(waveform.detach().to("cpu", torch.float32), "output audio")
    return {"waveform": in_own_mapping(waveform.unsqueeze(0)),
            "sample_rate": check_sample_rate(sample_rate, "output audio")}


def duration_seconds(audio: dict) -> float:
    waveform, sample_rate = read_audio(audio)
    return waveform.shape[-1] / sample_rate
