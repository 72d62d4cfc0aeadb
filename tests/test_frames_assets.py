"""Audio → frames math, and the shipped music/effects library (names, formats, loops)."""
from __future__ import annotations

import pytest
import soundfile
import torch

from ..nodes.audio.contract import AudioInputError
from ..nodes.audio.files import load_audio_file, save_wav_pcm16
from ..nodes.audio.frames import clip_length, frame_count, pad_to_frames
from ..nodes.library.assets import UnknownAssetError, list_audio_assets, resolve_name


@pytest.mark.parametrize("seconds, fps, min_frames, multiple, expected", [
    (10.0, 24, 16, 1, 240),     # the plan's figure
    (0.5, 24, 16, 1, 16),       # 12 frames, padded to AnimateDiff's 16
    (10.01, 24, 16, 1, 241),
    (10.0, 24, 16, 16, 240),
    (10.01, 24, 16, 16, 256),
    (3.0, 30, 16, 1, 90),
    (1.0, 23.976, 16, 1, 24),
])
def test_frame_count(seconds, fps, min_frames, multiple, expected):
    rate = 24000
    assert frame_count(int(round(seconds * rate)), rate, fps, min_frames, multiple) == expected


def test_pad_to_frames_makes_audio_exactly_as_long_as_the_video():
    rate, fps = 24000, 24.0
    audio = torch.ones(1, int(0.5 * rate))
    frames = frame_count(audio.shape[-1], rate, fps)
    padded = pad_to_frames(audio, rate, frames, fps)
    assert padded.shape[-1] == int(16 / 24 * rate)
    assert torch.equal(padded[:, : audio.shape[-1]], audio) and padded[:, audio.shape[-1]:].abs().max() == 0


@pytest.mark.parametrize("voice_s, tail_s, min_frames, multiple, expected_frames", [
    (2.0, 0.0, 16, 1, 48),
    (2.0, 0.5, 16, 1, 60),      # the tail is in the clip: the music plays on, the mouth rests
    (0.3, 0.0, 16, 1, 16),      # a line shorter than AnimateDiff's 16 frames: the clip still has 16
    (2.01, 0.0, 16, 16, 64),
])
def test_clip_length_is_voice_plus_tail_in_whole_frames_and_the_mix_tail_reaches_it(voice_s, tail_s, min_frames,
                                                                                     multiple, expected_frames):
    rate, fps = 24000, 24.0
    voice = int(round(voice_s * rate))
    length = clip_length(voice, rate, fps, tail_s, min_frames, multiple)
    assert length.frames == expected_frames and length.fps == fps
    assert length.duration_s == pytest.approx(expected_frames / fps)
    # the mix adds mix_tail_s after the voice (nodes/audio/mix.py mix_length): the soundtrack is exactly the video's length
    assert voice + int(round(length.mix_tail_s * rate)) == int(round(expected_frames * rate / fps))
    assert length.mix_tail_s >= tail_s - 1e-9


@pytest.mark.parametrize("tail_s", [-0.1, 31.0, float("nan")])
def test_clip_length_refuses_a_bad_tail(tail_s):
    with pytest.raises(AudioInputError, match="tail_s must be between 0 and 30"):
        clip_length(24000, 24000, 24.0, tail_s)


@pytest.mark.parametrize("fps", [0.0, -24.0, float("nan")])
def test_bad_fps_is_a_clear_error(fps):
    with pytest.raises(AudioInputError, match="fps"):
        frame_count(24000, 24000, fps)


def test_library_has_the_plans_music_and_effects():
    bgm, sfx = list_audio_assets("bgm"), list_audio_assets("sfx")
    assert set(bgm) == {"cheesy_elevator", "80s_synth", "static_void_hum"}
    assert set(sfx) == {"static_glitch", "explosion_short"}
    for name, path in bgm.items():
        info = soundfile.info(str(path))
        assert info.subtype == "PCM_16" and info.duration >= 30.0, name
    for name, path in sfx.items():
        info = soundfile.info(str(path))
        assert info.subtype == "PCM_16" and 1.0 <= info.duration <= 5.0, name


@pytest.mark.parametrize("name", ["cheesy_elevator", "80s_synth", "static_void_hum"])
def test_music_loops_without_a_click(name):
    waveform, _ = load_audio_file(list_audio_assets("bgm")[name])
    seam_step = (waveform[:, 0] - waveform[:, -1]).abs().max()
    typical_steps = waveform.diff(dim=-1).abs().amax(dim=0)
    assert float(seam_step) <= float(torch.quantile(typical_steps, 0.999))


@pytest.mark.parametrize("bad", ["../bgm/cheesy_elevator", "/etc/passwd", "cheesy_elevator.wav", "nope", ""])
def test_unknown_or_path_like_names_are_rejected_with_the_list(bad):
    with pytest.raises(UnknownAssetError) as info:
        resolve_name(bad, list_audio_assets("bgm"), "BGM track")
    assert "cheesy_elevator" in str(info.value) and "80s_synth" in str(info.value)


def test_input_folder_audio_is_offered_under_its_own_prefix(tmp_path):
    save_wav_pcm16(tmp_path / "my song.wav", torch.zeros(1, 100), 8000)
    (tmp_path / "notes.txt").write_text("not audio")
    known = list_audio_assets("bgm", tmp_path)
    assert resolve_name("input/my song.wav", known, "BGM track") == tmp_path / "my song.wav"
    assert "input/notes.txt" not in known


def test_broken_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    with pytest.raises(AudioInputError, match="cannot decode broken.wav"):
        load_audio_file(bad)


def test_wav_round_trip_is_16_bit_pcm(tmp_path):
    wave = torch.linspace(-1, 1, 2000).repeat(2, 1)
    path = save_wav_pcm16(tmp_path / "x.wav", wave, 24000)
    assert soundfile.info(str(path)).subtype == "PCM_16"
    back, rate = load_audio_file(path)
    assert rate == 24000 and back.shape == (2, 2000) and torch.allclose(back, wave, atol=1e-4)
