"""Mixing, loudness, ducking, loop seams, SFX timing and odd inputs — real tensors through the plain functions."""
from __future__ import annotations

import math

import pytest
import torch
import torchaudio.functional as AF

from ..nodes.audio_contract import AudioInputError, make_audio, read_audio
from ..nodes.dsp import conform, conform_channels, limit_peaks, peak_envelope
from ..nodes.loudness import integrated_loudness, normalize_loudness, true_peak_db
from ..nodes.mix import DuckingSettings, SfxEvent, loop_to_length, mix_tracks
from . import bs1770_meter
from .conftest import speech_like, tone


def independent_lufs(waveform: torch.Tensor, rate: int) -> float:
    return bs1770_meter.integrated_lufs(waveform.numpy(), rate)


def music_like(seconds: float, rate: int = 44100) -> torch.Tensor:
    t = torch.arange(int(seconds * rate)) / rate
    chord = sum(torch.sin(2 * math.pi * f * t) for f in (220.0, 277.2, 329.6, 440.0))
    beat = 0.5 + 0.5 * (torch.sin(2 * math.pi * 2 * t) > 0).float()
    return torch.stack([0.2 * chord * beat, 0.18 * chord * beat])


@pytest.mark.parametrize("target", [-16.0, -23.0])
@pytest.mark.parametrize("kind", ["speech", "music"])
def test_loudness_lands_within_half_an_lu_with_true_peak_under_ceiling(kind, target):
    waveform, rate = (speech_like(8.0, 24000), 24000) if kind == "speech" else (music_like(8.0), 44100)
    reference = independent_lufs(waveform, rate)
    waveform = waveform * 2.5  # start far from the target and over full scale
    out, before, after = normalize_loudness(waveform, rate, target_lufs=target, true_peak_ceiling_db=-1.0)
    assert abs(independent_lufs(out, rate) - target) <= 0.5
    assert abs(after - target) <= 0.5
    assert abs(before - (reference + 20 * math.log10(2.5))) <= 0.5
    oversampled = AF.resample(out, rate, rate * 4)
    assert 20 * math.log10(float(oversampled.abs().max())) <= -1.0 + 0.1
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


def test_loud_speech_is_limited_not_clipped():
    rate = 24000
    quiet, loud = speech_like(1.0, rate, seed=1) * 0.5, speech_like(1.0, rate, seed=2) * 6.0  # loud peaks ≫ 1.0
    waveform = torch.cat([quiet, loud, quiet], dim=1)
    out = limit_peaks(waveform, rate, ceiling=0.9)
    assert float(out.abs().max()) <= 0.9 + 1e-6
    # A clipper flattens runs of samples at the ceiling; a limiter only touches it at the crests.
    def share_at_ceiling(x: torch.Tensor) -> float:
        return float((x[:, rate:2 * rate].abs() > 0.899).float().mean())

    assert share_at_ceiling(out) < share_at_ceiling(waveform.clamp(-0.9, 0.9)) / 20
    # The quiet part before the loud one is untouched, and the one after recovers once the release is over.
    assert torch.equal(out[:, : rate - 2000], waveform[:, : rate - 2000])
    assert torch.allclose(out[:, int(2.6 * rate):], waveform[:, int(2.6 * rate):], atol=1e-3)


def test_silence_is_left_alone_by_normalization():
    silent = torch.zeros(1, 24000)
    out, before, after = normalize_loudness(silent, 24000)
    assert torch.equal(out, silent) and before == -math.inf


def test_short_clip_is_measured():
    assert math.isfinite(integrated_loudness(tone(0.1), 24000))


def test_ducking_dips_music_by_the_set_depth_during_speech():
    rate, depth = 24000, 12.0
    # Voice: 1.5 s speech, 1.5 s pause, repeated.
    voice = torch.cat([speech_like(1.5, rate), torch.zeros(1, int(1.5 * rate))] * 3, dim=1)
    music = tone(9.0, rate, freq=440.0, amplitude=0.5)
    settings = DuckingSettings(depth_db=depth, attack_ms=20.0, release_ms=150.0, hold_ms=200.0)
    with_music, _ = mix_tracks(voice, rate, bgm=music, bgm_rate=rate, mix_ratio=0.3, ducking=settings,
                               fade_out_s=0.0, output_channels=1)
    bed = with_music - voice  # what the music contributes (the limiter stays idle at these levels)

    def rms_db(a: float, b: float) -> float:
        segment = bed[0, int(a * rate):int(b * rate)]
        return 10 * math.log10(float(segment.pow(2).mean()))

    speech_level = max(rms_db(0.5, 1.3), rms_db(3.5, 4.3), rms_db(6.5, 7.3))
    pause_level = min(rms_db(2.4, 2.95), rms_db(5.4, 5.95))
    assert pause_level - speech_level >= depth - 0.5
    assert abs(pause_level - 20 * math.log10(0.3 * 0.5 / math.sqrt(2))) < 0.5  # mix_ratio respected in pauses


def test_loop_seam_has_no_discontinuity():
    rate = 24000
    clip = tone(1.013, rate, freq=97.0, amplitude=0.8)  # does not end where it starts: a naive repeat clicks
    looped = loop_to_length(clip, 5 * rate, rate, crossfade_s=0.1)
    assert looped.shape == (1, 5 * rate)
    steps = looped.diff(dim=-1).abs()
    largest_natural_step = float(clip.diff(dim=-1).abs().max())
    assert float(steps.max()) <= largest_natural_step * 1.05
    naive = clip.repeat(1, 5)[:, : 5 * rate]
    assert float(naive.diff(dim=-1).abs().max()) > largest_natural_step * 3  # the test can tell a click


def test_sfx_onset_within_one_millisecond():
    rate = 48000
    voice = torch.zeros(1, 3 * rate)
    voice[0, ::1000] = 1e-4  # not digital silence
    click = torch.zeros(1, 2400)
    click[0, :] = torch.hann_window(2400, periodic=False) * 0.9
    click[0, 0] = 0.3  # a sharp first sample marks the onset
    for at in (0.25, 1.234, 2.5):
        out, rate_out = mix_tracks(voice, rate, sfx=[SfxEvent(click, rate, at, 0.6)], output_channels=1, ducking=None)
        onset = int(torch.nonzero(out[0].abs() > 0.1)[0])
        assert abs(onset / rate_out - at) <= 0.001


def test_sfx_default_gain_and_resampled_onset():
    rate = 24000
    voice = speech_like(2.0, rate) * 0.01
    burst = tone(0.2, 8000, freq=500.0, amplitude=1.0)
    out, _ = mix_tracks(voice, rate, sfx=[SfxEvent(burst, 8000, 1.0)], output_channels=1)
    segment = out[0, int(1.05 * rate):int(1.15 * rate)]
    assert abs(float(segment.abs().max()) - 0.6) < 0.05  # default SFX gain 0.6


def test_sfx_after_the_end_is_a_clear_error():
    with pytest.raises(AudioInputError, match="after the track ends"):
        mix_tracks(speech_like(1.0), 24000, sfx=[SfxEvent(tone(0.5), 24000, 5.0)])


def test_odd_rates_and_channels_mix_to_one_output_rate():
    voice = speech_like(3.0, 24000)
    voice_8k = AF.resample(voice, 24000, 8000)
    music_48k_stereo = music_like(4.0, 48000)
    out, rate = mix_tracks(voice_8k, 8000, bgm=music_48k_stereo, bgm_rate=48000, output_rate=44100,
                           output_channels=2)
    assert rate == 44100 and out.shape == (2, 3 * 44100)
    assert torch.isfinite(out).all() and float(out.abs().max()) <= 1.0
    audio = make_audio(out, rate)
    assert audio["waveform"].dtype == torch.float32 and audio["waveform"].shape == (1, 2, 3 * 44100)
    assert audio["waveform"].device.type == "cpu" and isinstance(audio["sample_rate"], int)


def test_six_channel_input_folds_to_stereo_and_mono():
    t = torch.arange(24000) / 24000
    surround = torch.zeros(6, 24000)
    surround[2] = 0.5 * torch.sin(2 * math.pi * 300 * t)  # centre only
    stereo = conform_channels(surround, 2)
    assert stereo.shape == (2, 24000) and torch.allclose(stereo[0], stereo[1])
    assert abs(float(stereo.abs().max()) - 0.5 * 0.7071 / 2.4142) < 1e-3  # ITU weights, scaled so nothing clips
    assert conform_channels(surround, 1).shape == (1, 24000)
    out, rate = mix_tracks(surround, 24000, output_channels=2)
    assert out.shape == (2, 24000)


def test_silent_voice_mixes_without_nan():
    out, _ = mix_tracks(torch.zeros(1, 24000), 24000, bgm=music_like(2.0, 24000), bgm_rate=24000)
    assert torch.isfinite(out).all() and float(out.abs().max()) > 0.01


def test_mix_output_peaks_are_limited_to_full_scale():
    loud_voice = speech_like(3.0) * 4.0
    out, _ = mix_tracks(loud_voice, 24000, bgm=music_like(3.0, 24000) * 3, bgm_rate=24000, mix_ratio=1.0)
    assert float(out.abs().max()) <= 1.0


@pytest.mark.parametrize("bad, message", [
    ({"waveform": torch.full((1, 1, 100), float("nan")), "sample_rate": 24000}, "NaN"),
    ({"waveform": torch.zeros(1, 1, 0), "sample_rate": 24000}, "empty"),
    ({"waveform": torch.zeros(0, 1, 10), "sample_rate": 24000}, "empty"),
    ({"waveform": torch.zeros(1, 1, 100), "sample_rate": 3}, "sample rate"),
    ({"waveform": torch.zeros(1, 48000, 2), "sample_rate": 24000}, "channels"),
    ({"samples": [0.0]}, "AUDIO dict"),
])
def test_bad_audio_is_a_clear_error(bad, message):
    with pytest.raises(AudioInputError, match=message):
        read_audio(bad, "voice")


def test_int16_and_batched_audio_are_conformed():
    pcm = (torch.ones(2, 1, 100) * 16384).to(torch.int16)
    waveform, rate = read_audio({"waveform": pcm, "sample_rate": 16000})
    assert waveform.shape == (1, 200) and waveform.dtype == torch.float32
    assert torch.allclose(waveform, torch.full((1, 200), 0.5))


def test_true_peak_sees_intersample_peaks():
    rate = 48000
    n = torch.arange(4800)
    # A sine at rate/4 sampled 45° off its crest: sample peak 0.707, true peak 1.0.
    x = torch.sin(2 * math.pi * n / 4 + math.pi / 4).unsqueeze(0)
    assert float(peak_envelope(x, rate).max()) < 0.72
    assert true_peak_db(x, rate) > -0.3


def test_conform_resamples_and_keeps_duration():
    out = conform(tone(1.0, 8000, channels=1), 8000, 48000, 2)
    assert out.shape == (2, 48000)
