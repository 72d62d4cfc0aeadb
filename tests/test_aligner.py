"""The aligner: timing for speech that came without it, from its text — checked against the timing the engine
itself reported for the same audio (another voice and speed than the guides')."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

from ..nodes.mouth import aligner
from ..nodes.mouth.aligner import MIN_CONFIDENCE, align
from ..nodes.mouth.lipsync import mouth_track
from ..nodes.mouth.shapes import shapes_from_timing
from ..nodes.speech.engines import embedded_kokoro
from .support.alp_command import parse_command, video_frames

TEXT = "Bob baked a big batch of blueberry muffins for the bumpy bus ride home."
OTHER = "Seven lazy zebras sat quietly under the tall green tree, sighing."
FPS = 24.0


@pytest.fixture(scope="module")
def kokoro():
    return embedded_kokoro()


@pytest.fixture(scope="module")
def guides(kokoro):
    """The aligner's guides as the node uses them (embedded Kokoro voices at speed 1.0), memoised for this module."""
    spoken = {}

    def guide_voice(voice: str):
        def speak(text: str):
            if (voice, text) not in spoken:
                spoken[voice, text] = kokoro.speak(text, voice, aligner.GUIDE_SPEED)
            return spoken[voice, text]
        return speak

    return [guide_voice(voice) for voice in aligner.GUIDE_VOICES]


@pytest.fixture(scope="module")
def target(kokoro):
    """Another voice than the guides', at another speed: the audio to align, with the engine's own timing as the
    truth."""
    assert "jf_nezumi" not in aligner.GUIDE_VOICES
    return kokoro.speak(TEXT, "jf_nezumi", 1.15)


def test_the_text_lands_where_the_engine_says_it_was_spoken(target, guides):
    result = align(target.samples.numpy(), target.sample_rate, TEXT, guides)
    assert result.usable and result.confidence >= MIN_CONFIDENCE, result
    truth = target.timing
    assert [w.label for w in result.timing.words] == [w.label for w in truth.words]
    errors = [abs(a.start - b.start) for a, b in zip(result.timing.words, truth.words)]
    assert np.median(errors) < 0.05, errors
    # Every bilabial the engine spoke shows a closure (A) in the aligned shapes, within a frame of the truth.
    frames = math.ceil(target.seconds * FPS)
    letters = shapes_from_timing(result.timing, FPS, frames)
    for span in truth.phonemes:
        if span.label in "pbm":
            window = letters[max(0, math.floor(span.start * FPS) - 2):math.ceil(span.end * FPS) + 1]
            assert "A" in window, (span, window)


@pytest.mark.parametrize("text, why", [
    (OTHER, "does not sound like the text"),
    ("こんにちは、元気ですか", ""),
    ("   ", "no text"),
])
def test_text_that_does_not_match_gets_low_confidence(target, guides, text, why):
    result = align(target.samples.numpy(), target.sample_rate, text, guides)
    assert not result.usable and why in result.reason, result


def test_silence_and_noise_are_not_aligned(guides):
    rate = 24000
    assert align(np.zeros(rate * 3, np.float32), rate, TEXT, guides).reason == "the audio is silent"
    noise = np.random.default_rng(0).normal(0, 0.1, rate * 4).astype(np.float32)
    assert not align(noise, rate, TEXT, guides).usable


def test_long_clips_are_warped_in_blocks(target, guides, monkeypatch):
    """Past MAX_CELLS the warp runs coarse-then-blockwise; on a clip both ways can do, they agree."""
    direct = align(target.samples.numpy(), target.sample_rate, TEXT, guides)
    monkeypatch.setattr(aligner, "MAX_CELLS", 20_000)
    monkeypatch.setattr(aligner, "BLOCK_FRAMES", 80)
    blocked = align(target.samples.numpy(), target.sample_rate, TEXT, guides)
    starts = np.array([w.start for w in blocked.timing.words])
    assert np.all(np.diff(starts) >= 0)
    assert np.median(np.abs(starts - [w.start for w in direct.timing.words])) < 0.03
    assert blocked.usable


def test_mouth_track_uses_the_aligner_for_text_and_falls_back_when_it_does_not_match(target, guides):
    voice = target.samples.unsqueeze(0)
    aligned = mouth_track(voice, target.sample_rate, FPS, text=TEXT, guides=guides)
    assert aligned.source.startswith("aligner (confidence") and not aligned.warning
    assert aligned.frames == len(aligned.shapes) == math.ceil(target.seconds * FPS)
    assert video_frames(parse_command(aligned.command, editors=8)) == aligned.frames
    wrong = mouth_track(voice, target.sample_rate, FPS, text=OTHER, guides=guides)
    assert wrong.source == "loudness" and "does not sound like the text" in wrong.warning
    assert wrong.frames == aligned.frames and len(wrong.shapes) == wrong.frames
    # The engine's own timing wins over text when both are there.
    timed = mouth_track(voice, target.sample_rate, FPS, timing=target.timing, text=OTHER, guides=guides)
    assert re.fullmatch(r"engine timing \(kokoro-onnx-(int8|fp32|fp16)\)", timed.source), timed.source


def test_resampled_stereo_speech_aligns_too(target, guides):
    """A recording is rarely 24 kHz mono: the same speech at 44.1 kHz in stereo aligns to the same places."""
    import torchaudio.functional as AF

    stereo = AF.resample(target.samples.unsqueeze(0), 24000, 44100).repeat(2, 1)
    track = mouth_track(stereo, 44100, FPS, text=TEXT, guides=guides)
    assert track.source.startswith("aligner")
    assert track.frames == math.ceil(stereo.shape[-1] / 44100 * FPS - 1e-9)
    assert torch.isfinite(stereo).all()
