"""Voice + background music + sound effects → one track (plain functions on [channels, samples] tensors).

Cost follows the output, not the inputs: music is cut (or looped) to what the output needs before it is
resampled or re-channelled, and each effect only as far as it is heard. One float32 track is allocated; music,
voice and effects are added into it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .contract import AudioInputError
from .dsp import (apply_gain_runs, as_array, conform_for_mixing, db_to_gain, fade_in_place, input_samples_for,
                  limiter_gain)

DEFAULT_MIX_RATIO = 0.3
DEFAULT_SFX_GAIN = 0.6
OUTPUT_CEILING = 0.98  # sample-peak ceiling of the mixer's own limiter; loudness normalization sets its own
LOOP_CROSSFADE_S = 0.25


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


def _loop_body(x: np.ndarray, sample_rate: int, crossfade_s: float) -> np.ndarray:
    """The clip with its tail faded into its head (equal power): a body whose last sample leads straight into
    its first, to be repeated."""
    length = x.shape[-1]
    fade = min(int(crossfade_s * sample_rate), length // 2)
    body = x[:, : length - fade].copy()
    if fade > 0:
        t = np.linspace(0.0, 1.0, fade + 2)[1:-1]
        fade_in, fade_out = np.sin(t * math.pi / 2).astype(np.float32), np.cos(t * math.pi / 2).astype(np.float32)
        body[:, :fade] = x[:, :fade] * fade_in + x[:, length - fade:] * fade_out
    return body


def _tile_into(out: np.ndarray, body: np.ndarray, gain: np.ndarray | None = None) -> None:
    """Fill `out` with `body` repeated (times `gain` per sample, if given)."""
    period, total = body.shape[-1], out.shape[-1]
    for start in range(0, total, period):
        part = body[:, : total - start]
        target = out[:, start:start + part.shape[-1]]
        if gain is None:
            target[:] = part
        else:
            np.multiply(part, gain[start:start + part.shape[-1]], out=target)


def loop_to_length(waveform: torch.Tensor, samples: int, sample_rate: int,
                   crossfade_s: float = LOOP_CROSSFADE_S) -> torch.Tensor:
    """Repeat a clip to `samples` with an equal-power cross-fade at each seam, so the loop point has no click.
    A clip at least that long is cut (a view, nothing copied)."""
    if waveform.shape[-1] >= samples:
        return waveform[..., :samples]
    out = torch.empty((waveform.shape[0], samples))
    _tile_into(out.numpy(), _loop_body(as_array(waveform), sample_rate, crossfade_s))
    return out


def mix_length(voice_samples: int, voice_rate: int, output_rate: int | None, tail_s: float) -> int:
    """The mixer's output length in samples at the output rate (at most one sample over)."""
    rate = output_rate or voice_rate
    return math.ceil(voice_samples * rate / voice_rate) + int(round(tail_s * rate))


def music_samples_needed(output_samples: int, music_rate: int, output_rate: int) -> int:
    """How many samples of the music (at its own rate) an output of `output_samples` at `output_rate` uses: the
    rest of a longer track is never read (the loaders and the mixer node cut it before anything else)."""
    return input_samples_for(output_samples, music_rate, output_rate)


def voice_activity(voice: torch.Tensor, sample_rate: int, threshold_db: float, frame_ms: float = 10.0) -> torch.Tensor:
    """1.0 for 10 ms frames where the voice is active, else 0.0 (one value per frame)."""
    return torch.from_numpy(_voice_activity(as_array(voice), sample_rate, threshold_db, frame_ms))


def _voice_activity(voice: np.ndarray, sample_rate: int, threshold_db: float, frame_ms: float) -> np.ndarray:
    frame = max(1, int(sample_rate * frame_ms / 1000.0))
    mono = voice[0] if voice.shape[0] == 1 else voice.mean(axis=0)
    whole, rest = divmod(mono.shape[0], frame)
    frames = mono[: whole * frame].reshape(whole, frame)
    power = np.einsum("ij,ij->i", frames, frames) / frame
    if rest:  # the last, partial frame counts its missing samples as silence
        power = np.append(power, float(mono[whole * frame:] @ mono[whole * frame:]) / frame)
    with np.errstate(divide="ignore"):
        level_db = 10.0 * np.log10(power + 1e-12)
    loudest = float(level_db.max())
    if loudest < -90.0:
        return np.zeros(power.shape[0], np.float32)
    return (level_db > loudest + threshold_db).astype(np.float32)


def _one_pole(target: np.ndarray, coeff: np.ndarray, start: float) -> np.ndarray:
    """level[n] = target[n] + (level[n-1] - target[n]) * coeff[n], level[-1] = start, for target and coeff that
    are constant over runs: inside a run of length m that starts from level L, level = t + (L - t) * c^(i+1)
    exactly, so only the runs' start levels need a (short) loop."""
    starts = np.concatenate([[0], np.flatnonzero(np.diff(target)) + 1])
    lengths = np.diff(np.concatenate([starts, [target.shape[0]]]))
    run_target, run_coeff = target[starts], coeff[starts]
    run_level = np.empty(starts.shape[0])
    level = start
    for run, (t, c, m) in enumerate(zip(run_target.tolist(), run_coeff.tolist(), lengths.tolist())):
        run_level[run] = level
        level = t + (level - t) * c ** m
    run = np.repeat(np.arange(starts.shape[0]), lengths)
    step = np.arange(target.shape[0]) - starts[run] + 1
    return run_target[run] + (run_level[run] - run_target[run]) * run_coeff[run] ** step


def _frames_to_samples(frame_gain: np.ndarray, frame: int, samples: int) -> np.ndarray:
    """One value per sample, linear between frame centres and flat before the first and after the last centre."""
    frames = frame_gain.shape[0]
    knots = np.concatenate([frame_gain[:1], frame_gain, frame_gain[-1:]]).astype(np.float32)[:, None]
    steps = np.diff(knots, axis=0)
    offset = (np.arange(frame, dtype=np.float32) + 0.5) / frame - 0.5  # of each sample from its frame's centre
    half = frame // 2  # samples before the centre blend with the previous frame, the rest with the next
    gain = np.empty(max(samples, frames * frame), np.float32)
    grid = gain[: frames * frame].reshape(frames, frame)
    np.multiply(steps[:-1], 1 + offset[:half], out=grid[:, :half])
    grid[:, :half] += knots[:-2]
    np.multiply(steps[1:], offset[half:], out=grid[:, half:])
    grid[:, half:] += knots[1:-1]
    gain[frames * frame:] = frame_gain[-1]
    return gain[:samples]


def _ducking_gain(voice: np.ndarray, sample_rate: int, samples: int, settings: DuckingSettings,
                  scale: float = 1.0) -> np.ndarray:
    frame_ms = 10.0
    frame = max(1, int(sample_rate * frame_ms / 1000.0))
    active = _voice_activity(voice, sample_rate, settings.threshold_db, frame_ms) > 0
    tail_frames = -(-samples // frame) - active.shape[0]
    if tail_frames > 0:  # the tail after the voice is a pause: the music comes back up through it
        active = np.concatenate([active, np.zeros(tail_frames, bool)])
    hold = int(settings.hold_ms / frame_ms)
    if hold > 0:  # a frame counts as speech if any frame in the last `hold` frames was speech
        count = np.cumsum(np.concatenate([np.zeros(hold + 1, np.int64), active]))
        active = count[hold + 1:] - count[: -hold - 1] > 0
    floor = db_to_gain(-abs(settings.depth_db))
    attack = math.exp(-frame_ms / max(settings.attack_ms, 1e-3))
    release = math.exp(-frame_ms / max(settings.release_ms, 1e-3))
    # The music only moves towards the floor while the voice speaks and back to 1 in pauses, so the attack
    # coefficient applies exactly on speech frames and the release on pauses: per-frame coefficients.
    frame_gain = _one_pole(np.where(active, floor, 1.0), np.where(active, attack, release), 1.0)
    return _frames_to_samples(frame_gain * scale, frame, samples)


def ducking_gain(voice: torch.Tensor, sample_rate: int, samples: int, settings: DuckingSettings) -> torch.Tensor:
    """Per-sample gain for the music: 1 in pauses, depth_db below during speech, with attack/release ramps."""
    return torch.from_numpy(_ducking_gain(as_array(voice), sample_rate, samples, settings))


def _add_music(track: np.ndarray, bgm: torch.Tensor, bgm_rate: int, rate: int, gain: np.ndarray, loop: bool) -> None:
    """Write music × gain into `track` (overwriting it), conforming only what is heard. Music at the output rate
    is looped straight into the track; otherwise the cut (or looped) part is resampled first."""
    channels, total = track.shape
    needed = music_samples_needed(total, bgm_rate, rate)
    if loop and bgm.shape[-1] < needed and bgm_rate == rate:
        body = conform_for_mixing(bgm, bgm_rate, rate, channels)  # a short clip: conformed whole, then tiled
        _tile_into(track, _loop_body(body, rate, LOOP_CROSSFADE_S), gain)
        return
    heard = loop_to_length(bgm, needed, bgm_rate) if loop else bgm[..., :needed]
    music = conform_for_mixing(heard, bgm_rate, rate, channels)[:, :total]
    np.multiply(music, gain[: music.shape[-1]], out=track[:, : music.shape[-1]])
    track[:, music.shape[-1]:] = 0.0  # a trimmed (not looped) track shorter than the output: silence after it


def _check_sfx_time(index: int, event: SfxEvent, sample_rate: int, total: int) -> int:
    if not math.isfinite(event.time_s) or event.time_s < 0:
        raise AudioInputError(f"sound effect #{index + 1}: time {event.time_s} s must be a finite number ≥ 0.")
    start = int(round(event.time_s * sample_rate))
    if start >= total:
        raise AudioInputError(
            f"sound effect #{index + 1} at {event.time_s:.2f} s starts after the track ends "
            f"({total / sample_rate:.2f} s); move it earlier or add a tail."
        )
    return start


def _add_sfx(track: np.ndarray, sample_rate: int, events: list[SfxEvent]) -> None:
    total = track.shape[-1]
    for index, event in enumerate(events):
        start = _check_sfx_time(index, event, sample_rate, total)
        heard = event.waveform[..., : input_samples_for(total - start, event.sample_rate, sample_rate)]
        clip = conform_for_mixing(heard, event.sample_rate, sample_rate, track.shape[0])
        end = min(total, start + clip.shape[-1])
        track[:, start:end] += clip[:, : end - start] * np.float32(event.gain)


def place_sfx(track: torch.Tensor, sample_rate: int, events: list[SfxEvent]) -> torch.Tensor:
    """Add each event at its time; an event past the end of the track is an error, one that overruns is cut."""
    out = as_array(track).copy()
    _add_sfx(out, sample_rate, list(events))
    return torch.from_numpy(out)


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
    if output_channels not in (1, 2):
        raise AudioInputError(f"output channels must be 1 (mono) or 2 (stereo), got {output_channels}.")
    rate = output_rate or voice_rate
    voice_out = conform_for_mixing(voice, voice_rate, rate, output_channels)
    spoken = voice_out.shape[-1]
    total = spoken + int(round(tail_s * rate))
    mixed = torch.empty((output_channels, total))  # the result lives in a tensor; numpy works on a view of it
    track = mixed.numpy()
    if bgm is not None and mix_ratio > 0:
        if ducking is not None and ducking.depth_db > 0:
            gain = _ducking_gain(voice_out, rate, total, ducking, scale=mix_ratio)
        else:
            gain = np.full(total, mix_ratio, np.float32)
        fade_in_place(gain, rate, fade_in_s, fade_out_s)
        _add_music(track, bgm, bgm_rate or rate, rate, gain, loop_bgm)
    else:
        track.fill(0.0)
    track[:, :spoken] += voice_out
    if sfx:
        _add_sfx(track, rate, list(sfx))
    apply_gain_runs(track, limiter_gain(track, rate, OUTPUT_CEILING))
    return mixed, rate
