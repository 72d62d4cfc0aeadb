"""Voice + background music + sound effects → one track (plain functions on [channels, samples] tensors)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .audio_contract import AudioInputError
from .dsp import apply_fades, conform, db_to_gain, fit_length, limit_peaks

DEFAULT_MIX_RATIO = 0.3
DEFAULT_SFX_GAIN = 0.6
OUTPUT_CEILING = 0.98  # sample-peak ceiling of the mixer's own limiter; loudness normalization sets its own


@dataclass(frozen=True)
class SfxEvent:
    """One sound effect placed at `time_s` seconds into the output, scaled by `gain` (linear)."""

    waveform: torch.Tensor
    sample_rate: int
    time_s: float
    gain: float = DEFAULT_SFX_GAIN


@dataclass(frozen=True)
class DuckingSettings:
    depth_db: float = 12.0      # how far the music dips while the voice speaks
    attack_ms: float = 30.0
    release_ms: float = 400.0
    hold_ms: float = 250.0       # stay ducked through the short gaps between syllables and words
    threshold_db: float = -40.0  # voice frames quieter than this (relative to the voice's loudest frame) are pauses


def loop_to_length(waveform: torch.Tensor, samples: int, sample_rate: int, crossfade_s: float = 0.25) -> torch.Tensor:
    """Repeat a clip to `samples` with an equal-power cross-fade at each seam, so the loop point has no click.

    The clip's tail is faded into its head once, which makes a loop body whose last sample leads straight into
    its first; the body is then tiled.
    """
    length = waveform.shape[-1]
    if length >= samples:
        return waveform[..., :samples]
    fade = min(int(crossfade_s * sample_rate), length // 2)
    body = waveform[..., : length - fade].clone()
    if fade > 0:
        t = torch.linspace(0.0, 1.0, fade + 2)[1:-1]
        fade_in, fade_out = torch.sin(t * math.pi / 2), torch.cos(t * math.pi / 2)
        body[..., :fade] = waveform[..., :fade] * fade_in + waveform[..., length - fade:] * fade_out
    repeats = -(-samples // body.shape[-1])
    return body.repeat(1, repeats)[..., :samples]


def voice_activity(voice: torch.Tensor, sample_rate: int, threshold_db: float, frame_ms: float = 10.0) -> torch.Tensor:
    """1.0 for 10 ms frames where the voice is active, else 0.0 (one value per frame)."""
    frame = max(1, int(sample_rate * frame_ms / 1000.0))
    mono = voice.mean(dim=0)
    frames = -(-mono.shape[0] // frame)
    power = F.pad(mono, (0, frames * frame - mono.shape[0])).view(frames, frame).pow(2).mean(dim=1)
    level_db = 10.0 * torch.log10(power + 1e-12)
    loudest = float(level_db.max())
    if loudest < -90.0:
        return torch.zeros(frames)
    return (level_db > loudest + threshold_db).float()


def ducking_gain(voice: torch.Tensor, sample_rate: int, samples: int, settings: DuckingSettings) -> torch.Tensor:
    """Per-sample gain for the music: 1 in pauses, depth_db below during speech, with attack/release ramps."""
    frame_ms = 10.0
    active = voice_activity(voice, sample_rate, settings.threshold_db, frame_ms)
    hold = int(settings.hold_ms / frame_ms)
    if hold > 0:  # a frame counts as speech if any frame in the last `hold` frames was speech
        active = F.max_pool1d(F.pad(active.view(1, 1, -1), (hold, 0)), hold + 1, stride=1).view(-1)
    active = active.tolist()
    floor = db_to_gain(-abs(settings.depth_db))
    attack = math.exp(-frame_ms / max(settings.attack_ms, 1e-3))
    release = math.exp(-frame_ms / max(settings.release_ms, 1e-3))
    gain, level = [], 1.0
    for is_active in active:
        target = floor if is_active else 1.0
        coeff = attack if target < level else release
        level = target + (level - target) * coeff
        gain.append(level)
    frame_gain = torch.tensor(gain, dtype=torch.float32)
    per_sample = F.interpolate(frame_gain.view(1, 1, -1), size=voice.shape[-1], mode="linear", align_corners=False)
    per_sample = per_sample.view(-1)
    if samples > per_sample.shape[0]:
        per_sample = F.pad(per_sample, (0, samples - per_sample.shape[0]), value=float(per_sample[-1]))
    return per_sample[:samples]


def place_sfx(track: torch.Tensor, sample_rate: int, events: list[SfxEvent]) -> torch.Tensor:
    """Add each event at its time; an event past the end of the track is an error, one that overruns is cut."""
    out = track.clone()
    total = out.shape[-1]
    for index, event in enumerate(events):
        if not math.isfinite(event.time_s) or event.time_s < 0:
            raise AudioInputError(f"sound effect #{index + 1}: time {event.time_s} s must be a finite number ≥ 0.")
        start = int(round(event.time_s * sample_rate))
        if start >= total:
            raise AudioInputError(
                f"sound effect #{index + 1} at {event.time_s:.2f} s starts after the track ends "
                f"({total / sample_rate:.2f} s); move it earlier or add a tail."
            )
        clip = conform(event.waveform, event.sample_rate, sample_rate, out.shape[0]) * event.gain
        end = min(total, start + clip.shape[-1])
        out[..., start:end] += clip[..., : end - start]
    return out


def mix_tracks(
    voice: torch.Tensor,
    voice_rate: int,
    *,
    bgm: torch.Tensor | None = None,
    bgm_rate: int | None = None,
    sfx: list[SfxEvent] = (),
    mix_ratio: float = DEFAULT_MIX_RATIO,
    loop_bgm: bool = True,
    ducking: DuckingSettings | None = DuckingSettings(),
    fade_in_s: float = 0.0,
    fade_out_s: float = 0.5,
    tail_s: float = 0.0,
    output_rate: int | None = None,
    output_channels: int = 2,
) -> tuple[torch.Tensor, int]:
    """Mix the voice with looped/trimmed music (at `mix_ratio` of the voice's gain, ducked under speech) and
    sound effects. The output lasts as long as the voice plus `tail_s`; peaks are limited, never clipped."""
    if not 0.0 <= mix_ratio <= 1.0:
        raise AudioInputError(f"mix_ratio {mix_ratio} is outside 0..1 (0.3 is the usual music level).")
    if tail_s < 0 or fade_in_s < 0 or fade_out_s < 0:
        raise AudioInputError("tail and fade lengths must be ≥ 0 seconds.")
    rate = output_rate or voice_rate
    voice_out = conform(voice, voice_rate, rate, output_channels)
    total = voice_out.shape[-1] + int(round(tail_s * rate))
    track = fit_length(voice_out, total)
    if bgm is not None and mix_ratio > 0:
        music = conform(bgm, bgm_rate or rate, rate, output_channels)
        music = loop_to_length(music, total, rate) if loop_bgm else fit_length(music, total)
        music = music * mix_ratio
        if ducking is not None and ducking.depth_db > 0:
            music = music * ducking_gain(voice_out, rate, total, ducking)
        music = apply_fades(music, rate, fade_in_s, fade_out_s)
        track = track + music
    if sfx:
        track = place_sfx(track, rate, list(sfx))
    return limit_peaks(track, rate, OUTPUT_CEILING), rate
