"""Mixing, loudness, ducking, loop seams, SFX timing and odd inputs — real tensors through the plain functions;
the meter against the independent one, true peaks against full oversampling, costs that follow the output."""
from __future__ import annotations

import gc
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from scipy.signal import resample_poly

from ..nodes.audio.contract import AudioInputError, make_audio, read_audio
from ..nodes.audio.dsp import (_release, conform, conform_channels, limit_peaks, max_true_peak, peak_envelope, resample,
                               true_peak_candidates)
from ..nodes.audio.files import load_audio_file, save_wav_pcm16
from ..nodes.audio.loudness import LoudnessMeter, integrated_loudness, normalize_loudness, true_peak_db
from ..nodes.audio.mix import DuckingSettings, SfxEvent, _one_pole, ducking_gain, loop_to_length, mix_tracks
from .conftest import speech_like, tone
from .support import bs1770_meter

REPO = Path(__file__).resolve().parent.parent


def independent_lufs(waveform: torch.Tensor, rate: int) -> float:
    return bs1770_meter.integrated_lufs(waveform.numpy(), rate)


def oversampled_peak_db(waveform: torch.Tensor, factor: int = 4) -> float:
    """True peak from scipy's polyphase resampler over the whole clip (the reference the pack's shortcut must meet)."""
    return 20 * math.log10(float(np.abs(resample_poly(waveform.double().numpy(), factor, 1, axis=-1)).max()))


def music_like(seconds: float, rate: int = 44100) -> torch.Tensor:
    t = torch.arange(int(seconds * rate)) / rate
    chord = sum(torch.sin(2 * math.pi * f * t) for f in (220.0, 277.2, 329.6, 440.0))
    beat = 0.5 + 0.5 * (torch.sin(2 * math.pi * 2 * t) > 0).float()
    return torch.stack([0.2 * chord * beat, 0.18 * chord * beat])


# --- loudness: our BS.1770 against the independent meter -------------------------------------------------------

def _with_pauses(rate: int) -> torch.Tensor:
    """Speech, 6 s of digital silence, quiet room tone, speech: the gates decide what counts."""
    g = torch.Generator().manual_seed(3)
    room = 1e-5 * torch.randn(1, 4 * rate, generator=g)  # ≈ -100 LUFS: below the absolute gate
    return torch.cat([speech_like(3.0, rate), torch.zeros(1, 6 * rate), room, 0.3 * speech_like(3.0, rate, seed=4)], 1)


@pytest.mark.parametrize("name, make, rate", [
    ("speech 24 kHz", lambda: speech_like(8.0, 24000), 24000),
    ("music stereo 44.1 kHz", lambda: music_like(6.0, 44100), 44100),
    ("noise stereo 48 kHz", lambda: 0.1 * torch.randn(2, 5 * 48000, generator=torch.Generator().manual_seed(1)), 48000),
    ("pauses and gating 16 kHz", lambda: _with_pauses(16000), 16000),
    ("low tone 22.05 kHz", lambda: tone(4.0, 22050, freq=60.0, amplitude=0.5, channels=2), 22050),
    ("phone 8 kHz", lambda: speech_like(5.0, 8000), 8000),
])
def test_meter_agrees_with_the_independent_meter(name, make, rate):
    waveform = make()
    assert abs(integrated_loudness(waveform, rate) - independent_lufs(waveform, rate)) <= 0.05, name


def test_short_clip_is_measured_as_if_looped_to_one_block():
    clip = speech_like(0.15, 24000)
    looped = clip.repeat(1, 3)  # 450 ms: the fewest repeats that fill one 400 ms block, as the pack measures it
    assert abs(integrated_loudness(clip, 24000) - independent_lufs(looped, 24000)) <= 0.05


def test_silence_and_sub_gate_noise_measure_minus_infinity():
    assert integrated_loudness(torch.zeros(2, 48000), 48000) == -math.inf
    assert integrated_loudness(1e-6 * torch.randn(1, 48000), 48000) == -math.inf  # below the -70 LUFS gate


@pytest.mark.parametrize("target", [-16.0, -23.0])
@pytest.mark.parametrize("kind", ["speech", "music"])
def test_loudness_lands_on_target_with_true_peak_under_ceiling(kind, target):
    waveform, rate = (speech_like(8.0, 24000), 24000) if kind == "speech" else (music_like(8.0), 44100)
    reference = independent_lufs(waveform, rate)
    waveform = waveform * 2.5  # start far from the target and over full scale
    given = waveform.clone()
    out, before, after = normalize_loudness(waveform, rate, target_lufs=target, true_peak_ceiling_db=-1.0)
    assert abs(independent_lufs(out, rate) - target) <= 0.1
    assert abs(after - target) <= 0.05
    assert abs(before - (reference + 20 * math.log10(2.5))) <= 0.05
    assert oversampled_peak_db(out) <= -1.0 + 1e-4
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    assert torch.equal(waveform, given)  # the input was not written to


@pytest.mark.parametrize("kind", ["speech", "music"])
def test_a_loud_target_makes_the_limiter_work_and_true_peak_stays_under_the_ceiling(kind):
    waveform, rate = (speech_like(8.0, 24000), 24000) if kind == "speech" else (music_like(8.0), 44100)
    out, before, after = normalize_loudness(waveform, rate, target_lufs=-9.0, true_peak_ceiling_db=-1.0)
    plain_gain = 10 ** ((-9.0 - before) / 20)
    assert oversampled_peak_db(waveform * plain_gain) > -1.0  # gain alone would pass the ceiling: the limiter works
    assert oversampled_peak_db(out) <= -1.0 + 1e-4  # at 4× oversampling; the margin is float32 rounding
    assert abs(independent_lufs(out, rate) - after) <= 0.05  # it reports the loudness it delivered
    assert -11.0 < after <= -9.0 + 0.02


def test_loud_speech_is_limited_not_clipped():
    rate = 24000
    quiet, loud = speech_like(1.0, rate, seed=1) * 0.5, speech_like(1.0, rate, seed=2) * 6.0  # loud peaks ≫ 1.0
    waveform = torch.cat([quiet, loud, quiet], dim=1)
    original = waveform.clone()
    out = limit_peaks(waveform, rate, ceiling=0.9)
    assert float(out.abs().max()) <= 0.9 + 1e-6
    assert torch.equal(waveform, original)
    # A clipper flattens runs of samples at the ceiling; a limiter only touches it at the crests.
    def share_at_ceiling(x: torch.Tensor) -> float:
        return float((x[:, rate:2 * rate].abs() > 0.899).float().mean())

    assert share_at_ceiling(out) < share_at_ceiling(waveform.clamp(-0.9, 0.9)) / 20
    # The quiet part before the loud one is untouched, and the one after recovers once the release is over.
    assert torch.equal(out[:, : rate - 2000], waveform[:, : rate - 2000])
    assert torch.allclose(out[:, int(2.6 * rate):], waveform[:, int(2.6 * rate):], atol=1e-3)


def test_limiter_release_is_the_exact_recursion():
    held = np.ones(3000)
    rng = np.random.default_rng(0)
    held[rng.integers(0, 3000, 40)] = rng.uniform(0.2, 0.99, 40)
    coeff, reduction, expected = math.exp(-1 / 80), 0.0, []
    for value in held:  # the limiter's definition, one block at a time
        reduction = max(reduction * coeff, 1.0 - value)
        expected.append(1.0 - reduction)
    assert np.allclose(_release(held, coeff), expected, rtol=0, atol=1e-7)  # float32 result, exact recursion


def test_meter_updated_after_a_local_change_equals_a_fresh_measurement():
    rate = 24000
    x = np.ascontiguousarray(music_like(20.0, rate).numpy())
    meter = LoudnessMeter(x, rate)
    meter.scale(2.0)
    x *= 2.0
    x[:, 5 * rate:5 * rate + 800] *= 0.25  # what a limiter does: a short dip
    x[:, 17 * rate:18 * rate] *= 0.5
    meter.update(x, [(5 * rate, 5 * rate + 800), (17 * rate, 18 * rate)])
    fresh = LoudnessMeter(x, rate)
    assert abs(meter.loudness() - fresh.loudness()) < 1e-4
    assert np.allclose(meter.energy, fresh.energy, rtol=1e-4)


def test_silence_is_left_alone_by_normalization():
    silent = torch.zeros(1, 24000)
    out, before, after = normalize_loudness(silent, 24000)
    assert torch.equal(out, silent) and before == -math.inf


# --- true peak --------------------------------------------------------------------------------------------------

def _true_peak_signals() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    t = np.arange(24000) / 48000
    clicks = np.zeros((1, 24000))
    clicks[0, ::997], clicks[0, 5::997] = 0.9, -0.9
    return {
        "quarter-rate sine off its crest": np.sin(2 * np.pi * 12000 * t + np.pi / 4)[None],
        "stereo noise": 0.3 * rng.standard_normal((2, 24000)),
        "clicks": clicks,
        "square wave": 0.8 * np.sign(np.sin(2 * np.pi * 440 * t))[None],
        "speech": speech_like(0.5, 48000).numpy() * 3.0,
    }


@pytest.mark.parametrize("name", list(_true_peak_signals()))
def test_true_peak_shortcut_equals_full_oversampling(name):
    x = np.ascontiguousarray(_true_peak_signals()[name], dtype=np.float32)
    full = np.abs(resample_poly(x.astype(np.float64), 4, 1, axis=-1)).reshape(x.shape[0], -1, 4).max(axis=(0, 2))
    full = np.maximum(full, np.abs(x).max(axis=0))
    assert np.allclose(peak_envelope(torch.from_numpy(x), 48000, 4).numpy(), full, atol=1e-6)
    assert abs(max_true_peak(x, 4) - full.max()) < 1e-6
    for level in (0.3, 0.7, 0.891):  # every sample whose true peak exceeds the level is among the candidates
        positions, values = true_peak_candidates(x, level, 4)
        missed = np.setdiff1d(np.flatnonzero(full > level + 1e-6), positions)
        assert missed.size == 0, (level, missed[:5])
        assert np.allclose(np.maximum(values, np.abs(x).max(axis=0)[positions]), full[positions], atol=1e-6)


def test_true_peak_sees_intersample_peaks():
    rate = 48000
    n = torch.arange(4800)
    # A sine at rate/4 sampled 45° off its crest: sample peak 0.707, true peak 1.0.
    x = torch.sin(2 * math.pi * n / 4 + math.pi / 4).unsqueeze(0)
    assert float(peak_envelope(x, rate).max()) < 0.72
    assert true_peak_db(x, rate) > -0.3


# --- ducking, loops, effects ----------------------------------------------------------------------------------

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


@pytest.mark.parametrize("attack_ms, release_ms, hold_ms", [(30.0, 400.0, 250.0), (5.0, 1000.0, 100.0)])
def test_ducking_attack_and_release_follow_their_time_constants(attack_ms, release_ms, hold_ms):
    rate, depth = 24000, 12.0
    voice = torch.cat([torch.zeros(1, rate), 0.5 * torch.ones(1, 2 * rate), torch.zeros(1, 4 * rate)], dim=1)
    gain = ducking_gain(voice, rate, voice.shape[-1],
                        DuckingSettings(depth_db=depth, attack_ms=attack_ms, release_ms=release_ms, hold_ms=hold_ms))
    floor = 10 ** (-depth / 20)
    centres = np.arange(700) * 0.01 + 0.005  # the gain is computed per 10 ms frame, set at each frame's centre
    level = gain.numpy()[np.arange(700) * 240 + 120]

    def time_constant(times: np.ndarray, distance: np.ndarray) -> float:
        usable = distance > 1e-3
        slope = np.polyfit(times[usable], np.log(distance[usable]), 1)[0]
        return -1000.0 / slope

    assert np.all(level[:99] == 1.0) and level[99] > 0.99  # nothing ducks before the voice
    attack = slice(100, 200)  # speech from 1.0 s: the dip starts in the first spoken frame
    assert level[100] < 1.0 and level[199] == pytest.approx(floor, abs=1e-4)
    assert time_constant(centres[attack], (level[attack] - floor) / (1 - floor)) == pytest.approx(attack_ms, rel=0.01)
    release_from = 300 + int(hold_ms / 10)  # speech ends at 3.0 s, held for hold_ms, then the music comes back
    assert level[release_from - 1] == pytest.approx(floor, abs=1e-4) and level[release_from] > floor + 1e-3
    back = slice(release_from, 700)
    assert time_constant(centres[back], (1 - level[back]) / (1 - floor)) == pytest.approx(release_ms, rel=0.01)


def test_the_music_comes_back_up_through_the_tail_after_the_voice():
    """The tail after a voice that speaks to its last sample is a pause like any other: after the hold, the music
    releases back to its full level (it used to stay ducked at the voice's last frame)."""
    rate, depth = 24000, 12.0
    voice = 0.5 * torch.ones(1, 2 * rate)
    settings = DuckingSettings(depth_db=depth, attack_ms=30.0, release_ms=400.0, hold_ms=250.0)
    gain = ducking_gain(voice, rate, 6 * rate, settings).numpy()
    floor = 10 ** (-depth / 20)
    assert gain[2 * rate - 1] == pytest.approx(floor, abs=1e-3)  # ducked to the end of the voice
    assert gain[int(2.25 * rate) - 240] == pytest.approx(floor, abs=1e-3)  # held for hold_ms into the tail
    assert gain[int(2.65 * rate)] == pytest.approx(1 - (1 - floor) * math.exp(-1), abs=0.03)  # one release_ms later
    assert gain[-1] > 0.99  # back up by the end of the tail
    music = tone(6.0, rate, freq=440.0, amplitude=0.5)
    mixed, _ = mix_tracks(voice, rate, bgm=music, bgm_rate=rate, mix_ratio=0.3, ducking=settings, fade_out_s=0.0,
                          tail_s=4.0, output_channels=1)
    last = mixed[0, -rate // 2:]
    assert 20 * math.log10(float(last.pow(2).mean().sqrt())) == pytest.approx(20 * math.log10(0.3 * 0.5 / math.sqrt(2)),
                                                                            abs=0.3)


def test_ducking_recursion_equals_the_asymmetric_one_pole():
    """Per-frame coefficients (attack on speech, release in pauses) are the original `attack if target < level`
    rule exactly: the level only ever moves towards the current target."""
    rng = np.random.default_rng(5)
    active = np.repeat(rng.integers(0, 2, 300), rng.integers(1, 40, 300)).astype(bool)
    floor, attack, release = 10 ** (-12 / 20), math.exp(-10 / 30), math.exp(-10 / 400)
    level, expected = 1.0, []
    for is_active in active:
        target = floor if is_active else 1.0
        coeff = attack if target < level else release
        level = target + (level - target) * coeff
        expected.append(level)
    ours = _one_pole(np.where(active, floor, 1.0), np.where(active, attack, release), 1.0)
    assert np.allclose(ours, expected, rtol=0, atol=1e-12)


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


@pytest.mark.parametrize("music_rate", [24000, 44100])
def test_short_music_is_looped_under_the_whole_voice(music_rate):
    rate = 24000
    voice = speech_like(5.0, rate) * 0.01
    music = music_like(1.3, music_rate)  # much shorter than the voice
    out, _ = mix_tracks(voice, rate, bgm=music, bgm_rate=music_rate, mix_ratio=0.3, ducking=None, fade_out_s=0.0,
                        output_channels=2)
    bed = out - voice
    expected = 0.3 * conform(loop_to_length(music, 6 * music_rate, music_rate), music_rate, rate, 2)[:, : 5 * rate]
    assert torch.allclose(bed[:, : 5 * rate - 2000], expected[:, : 5 * rate - 2000], atol=1e-4)


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


def test_sfx_running_past_the_end_is_cut_before_it_is_resampled():
    rate = 24000
    voice = speech_like(2.0, rate) * 0.01
    long_effect = tone(30.0, 44100, freq=500.0, amplitude=0.5, channels=2)
    out, _ = mix_tracks(voice, rate, sfx=[SfxEvent(long_effect, 44100, 1.5)], output_channels=2, ducking=None)
    assert out.shape == (2, 2 * rate)
    heard = out[:, int(1.5 * rate):] - voice[:, int(1.5 * rate):]
    whole_then_cut = 0.6 * conform(long_effect, 44100, rate, 2)[:, : heard.shape[-1]]
    assert torch.allclose(heard, whole_then_cut, atol=1e-4)  # the cut leaves what is heard as it was


def test_sfx_after_the_end_is_a_clear_error():
    with pytest.raises(AudioInputError, match="after the track ends"):
        mix_tracks(speech_like(1.0), 24000, sfx=[SfxEvent(tone(0.5), 24000, 5.0)])


def test_odd_rates_and_channels_mix_to_one_output_rate():
    voice = speech_like(3.0, 24000)
    voice_8k = torch.from_numpy(resample_poly(voice.numpy(), 1, 3, axis=-1).astype(np.float32))
    music_48k_stereo = music_like(4.0, 48000)
    out, rate = mix_tracks(voice_8k, 8000, bgm=music_48k_stereo, bgm_rate=48000, output_rate=44100,
                           output_channels=2)
    assert rate == 44100 and out.shape == (2, 3 * 44100)
    assert torch.isfinite(out).all() and float(out.abs().max()) <= 1.0
    audio = make_audio(out, rate)
    assert audio["waveform"].dtype == torch.float32 and audio["waveform"].shape == (1, 2, 3 * 44100)
    assert audio["waveform"].device.type == "cpu" and isinstance(audio["sample_rate"], int)


def _is_mapped(address: int) -> bool:
    """Whether `address` lies in any memory mapping of this process (/proc/self/maps)."""
    for line in Path("/proc/self/maps").read_text().splitlines():
        start, end = (int(part, 16) for part in line.split()[0].split("-"))
        if start <= address < end:
            return True
    return False


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads Linux's /proc/self/maps")
def test_long_output_audio_goes_back_to_the_os_when_dropped():
    """ComfyUI's cache holds node outputs: a clip-length output must not sit inside a malloc heap, where it would
    pin the heap around it. glibc raises its mmap threshold to the size of a freed mmapped block, so after one
    20 MB free a plain 1.8 MB allocation would come from the heap; the output must still be unmapped when dropped."""
    scratch = torch.ones(5_000_000)
    del scratch
    source = speech_like(20.0, 24000)  # 1.8 MiB of float32
    audio = make_audio(source, 24000)
    waveform = audio["waveform"]
    assert torch.equal(waveform[0], source) and waveform.is_contiguous()
    address = waveform.data_ptr()
    assert _is_mapped(address)
    del audio, waveform
    gc.collect()
    assert not _is_mapped(address)


def test_resampling_keeps_a_tone_and_its_level():
    out = resample(tone(1.0, 22050, freq=1000.0, amplitude=0.5), 22050, 48000)
    assert out.shape == (1, 48000) and out.dtype == torch.float32
    spectrum = np.abs(np.fft.rfft(out[0, 4800:-4800].numpy() * np.hanning(38400)))
    assert abs(np.argmax(spectrum) * 48000 / 38400 - 1000.0) < 2.0
    assert abs(float(out[0, 4800:-4800].abs().max()) - 0.5) < 0.005


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


def test_mixing_never_writes_into_its_inputs():
    voice, music, effect = speech_like(2.0), music_like(3.0, 24000), tone(0.5, 24000, channels=2)
    copies = [voice.clone(), music.clone(), effect.clone()]
    mix_tracks(voice, 24000, bgm=music, bgm_rate=24000, sfx=[SfxEvent(effect, 24000, 0.5)], mix_ratio=1.0,
               ducking=None, fade_out_s=0.0, output_channels=2)
    assert all(torch.equal(a, b) for a, b in zip((voice, music, effect), copies))


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


def test_conform_resamples_and_keeps_duration():
    out = conform(tone(1.0, 8000, channels=1), 8000, 48000, 2)
    assert out.shape == (2, 48000)


# --- no torchaudio ----------------------------------------------------------------------------------------------

NO_TORCHAUDIO_PROBE = f"""
import importlib.abc, importlib.util, json, math, sys

class NoTorchaudio(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torchaudio" or name.startswith("torchaudio."):
            raise ImportError("torchaudio is not installed (ComfyUI >= 0.38)")
        return None

sys.meta_path.insert(0, NoTorchaudio())
spec = importlib.util.spec_from_file_location("toongen", {str(REPO / "__init__.py")!r},
                                              submodule_search_locations=[{str(REPO)!r}])
pack = importlib.util.module_from_spec(spec); sys.modules["toongen"] = pack; spec.loader.exec_module(pack)
import torch
from toongen.nodes.audio.mix import SfxEvent, mix_tracks
from toongen.nodes.audio.loudness import normalize_loudness
from toongen.nodes.speech.f5 import prepare_reference
from toongen.tests.conftest import speech_like, tone
music = torch.stack([tone(5.0, 44100, 220.0)[0], tone(5.0, 44100, 330.0)[0]])
mixed, rate = mix_tracks(speech_like(3.0, 22050), 22050, bgm=music, bgm_rate=44100,
                         sfx=[SfxEvent(tone(0.5, 8000, 700.0), 8000, 1.0)], output_rate=48000, output_channels=2)
out, before, after = normalize_loudness(mixed, rate)
reference = prepare_reference(speech_like(4.0, 44100), 44100, "Hello there.")
print(json.dumps({{"shape": list(out.shape), "rate": rate, "finite": bool(torch.isfinite(out).all()),
                  "lufs": after, "reference": list(reference.waveform.shape),
                  "torchaudio": any(m == "torchaudio" or m.startswith("torchaudio.") for m in sys.modules)}}))
"""


def test_pack_mixes_odd_rates_without_torchaudio():
    result = subprocess.run([sys.executable, "-c", NO_TORCHAUDIO_PROBE], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["shape"] == [2, 3 * 48000] and report["rate"] == 48000 and report["finite"]
    assert abs(report["lufs"] - (-16.0)) <= 0.05
    assert report["reference"] == [1, 4 * 24000]
    assert not report["torchaudio"]


# --- cost follows the output, not the input files ---------------------------------------------------------------

LONG_MUSIC_S = 40 * 60


def _write_long_music(path: Path, rate: int, seconds: int) -> None:
    """A stereo float WAV of `seconds`, written a block at a time (the test itself stays small)."""
    t = np.arange(10 * rate) / rate
    block = np.stack([0.2 * np.sin(2 * np.pi * 220 * t), 0.2 * np.sin(2 * np.pi * 330 * t)], axis=1).astype(np.float32)
    with soundfile.SoundFile(str(path), "w", rate, 2, subtype="FLOAT", format="WAV") as out:
        for _ in range(seconds // 10):
            out.write(block)


BOUNDED_PROBE = """
import json, mmap, resource, sys
import numpy as np
sys.path.insert(0, sys.argv[1] + "/tests/support")
from pack_loader import load_pack
load_pack()
import torch
from toongen.nodes.audio.files import load_audio_file
from toongen.nodes.audio.loudness import normalize_loudness
from toongen.nodes.audio.mix import SfxEvent, mix_tracks
from toongen.tests.conftest import speech_like, tone
path, rate = sys.argv[2], int(sys.argv[3])

def peak_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

def mapped_kib():
    # resident pages of the music file's mapping: how much of the file anything actually read
    lines = open("/proc/self/smaps").read().splitlines()
    for i, line in enumerate(lines):
        if line.endswith(path):
            return next(int(l.split()[1]) for l in lines[i + 1:] if l.startswith("Rss:"))
    return 0

voice = speech_like(3.0, 22050)
def chain(music, music_rate, effect):
    mixed, out_rate = mix_tracks(voice, 22050, bgm=music, bgm_rate=music_rate, tail_s=1.0, output_rate=48000,
                                 sfx=[SfxEvent(effect, music_rate, 3.5)])
    return normalize_loudness(mixed, out_rate)[0]

chain(tone(6.0, rate, channels=2), rate, tone(6.0, rate, channels=2))  # warm-up: libraries, caches, threads
# The whole 40-minute file as a core LoadAudio would hand it over, but memory-mapped: a page costs memory only
# once something reads it.
with open(path, "rb") as handle:
    data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    header = data.find(b"data") + 8
    frames = (len(data) - header) // 8
    interleaved = np.frombuffer(data, np.float32, frames * 2, header).reshape(frames, 2)
    music = torch.from_numpy(interleaved.T)  # [2, frames], a strided view of the file
    import warnings; warnings.simplefilter("ignore")
    before = peak_kib()
    out = chain(music, rate, music)  # the same 40 minutes as a sound effect placed 0.5 s before the end
    report = {"frames": frames, "mapped_kib": mapped_kib(), "peak_growth_kib": peak_kib() - before,
              "out": list(out.shape)}
    before = peak_kib()
    head, head_rate = load_audio_file(path, name="input/long.wav", max_seconds=60)
    report.update(loaded=list(head.shape), load_growth_kib=peak_kib() - before)
print(json.dumps(report))
"""


def test_long_music_costs_what_the_output_needs(tmp_path):
    rate = 16000
    path = tmp_path / "long.wav"
    _write_long_music(path, rate, LONG_MUSIC_S)
    result = subprocess.run([sys.executable, "-c", BOUNDED_PROBE, str(REPO), str(path), str(rate)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    file_kib = report["frames"] * 2 * 4 // 1024  # 300 MiB of float32 stereo
    output_kib = 4 * 48000 * 2 * 4 // 1024  # the 4 s stereo 48 kHz result: 1.5 MiB
    assert report["out"] == [2, 4 * 48000]
    # Of the 300 MiB file, only the first seconds the output uses were ever read (music and effect alike) …
    assert report["mapped_kib"] < 2 * 1024, report
    # … and the whole chain's peak memory grew by a few output-sized buffers, not by anything file-sized.
    assert report["peak_growth_kib"] < 8 * output_kib, report
    # The loader decodes only max_seconds of a long file, straight into the [channels, samples] result.
    loaded_kib = 60 * rate * 2 * 4 // 1024
    assert report["loaded"] == [2, 60 * rate]
    assert report["load_growth_kib"] < 2 * loaded_kib, report
    assert file_kib > 250 * 1024


# --- audio files: errors name what the user chose -----------------------------------------------------------------

def test_loader_reads_only_max_seconds(tmp_path):
    path = save_wav_pcm16(tmp_path / "song.wav", tone(5.0, 8000, channels=2), 8000)
    head, rate = load_audio_file(path, max_seconds=1.5)
    assert rate == 8000 and head.shape == (2, 12000)
    assert load_audio_file(path, max_seconds=0)[0].shape == (2, 40000)  # 0: the whole file


@pytest.mark.parametrize("content, words", [
    (b"RIFF\x00\x00\x00\x00WAVEjunk", "cannot decode"),
    (b"not audio at all" * 10, "cannot decode"),
])
def test_decode_errors_name_the_file_not_the_server_path(tmp_path, content, words):
    folder = tmp_path / "deep" / "server" / "input"
    folder.mkdir(parents=True)
    (folder / "x.wav").write_bytes(content)
    with pytest.raises(AudioInputError) as info:
        load_audio_file(folder / "x.wav", name="input/x.wav")
    message = str(info.value)
    assert message.startswith(f"{words} input/x.wav: ") and str(tmp_path) not in message
    assert ".." not in message and "Re-export" in message


def test_missing_and_empty_files_are_named(tmp_path):
    with pytest.raises(AudioInputError, match="^input/gone.wav does not exist") as info:
        load_audio_file(tmp_path / "gone.wav", name="input/gone.wav")
    assert str(tmp_path) not in str(info.value)
    soundfile.write(str(tmp_path / "empty.wav"), np.zeros((0, 1), np.float32), 8000)
    with pytest.raises(AudioInputError, match="^input/empty.wav: the audio is empty"):
        load_audio_file(tmp_path / "empty.wav", name="input/empty.wav")


def test_wav_writer_converts_exactly_as_libsndfile(tmp_path):
    x = (np.random.default_rng(0).standard_normal((2, 50000)) * 0.4).astype(np.float32)
    x[0, :7] = [1.5, -1.5, 0.5 / 32768, 1.5 / 32768, -2.5 / 32768, 1.0, -1.0]  # clipping and rounding edges
    save_wav_pcm16(tmp_path / "ours.wav", torch.from_numpy(x), 24000)
    soundfile.write(str(tmp_path / "libsndfile.wav"), np.clip(x, -1, 1).T, 24000, subtype="PCM_16")
    assert (tmp_path / "ours.wav").read_bytes() == (tmp_path / "libsndfile.wav").read_bytes()


def test_write_errors_name_the_file(tmp_path):
    blocker = tmp_path / "taken"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(OSError) as info:
        save_wav_pcm16(blocker / "x.wav", tone(0.1), 24000, name="output/taken/x.wav")
    assert "output/taken/x.wav" in str(info.value) and str(tmp_path) not in str(info.value)


def test_broken_input_file_error_reaches_a_prompt_client_without_server_paths(comfy):
    (comfy.base_dir / "input" / "broken_upload.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 4)
    graph = {
        "1": {"class_type": "ToonGenLoadBGM", "inputs": {"name": "input/broken_upload.wav"}},
        "2": {"class_type": "PreviewAudio", "inputs": {"audio": ["1", 0]}},
    }
    entry = comfy.wait(comfy.queue(graph))
    errors = [data for kind, data in entry["status"]["messages"] if kind == "execution_error"]
    assert errors, entry["status"]
    message = errors[0]["exception_message"]
    assert "cannot decode input/broken_upload.wav" in message and "Re-export" in message
    assert str(comfy.base_dir) not in message and str(comfy.base_dir.resolve()) not in message
    assert "/input/" not in message and ".." not in message
