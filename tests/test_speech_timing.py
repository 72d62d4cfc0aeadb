"""Phoneme timing from the engines that spoke (Kokoro's own duration predictor, ONNX and torch), carried through
chunk joins and the disk cache; ONNX runs that stop when the user cancels."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from ..nodes.runtime import interrupt
from ..nodes.speech.engines import embedded_kokoro
from ..nodes.speech.kokoro import FRAME_SAMPLES, SAMPLE_RATE, TorchKokoro
from ..nodes.speech.onnx_session import with_outputs
from ..nodes.speech.pipeline import ChunkedSpeech, join_utterances
from ..nodes.speech.timing import Span, SpeechTiming, TimingError, Utterance, join_timings
from .support.tiny_models import build_kokoro

SENTENCE = "Come on down to Real Fake Doors, that's us. We sell fake doors!"


def assert_contiguous(timing: SpeechTiming, samples: int) -> None:
    assert timing.duration == pytest.approx(samples / SAMPLE_RATE)
    starts = [s.start for s in timing.phonemes]
    assert starts == sorted(starts) and all(s.end > s.start for s in timing.phonemes)
    assert 0.0 <= timing.phonemes[0].start and timing.phonemes[-1].end <= timing.duration + 1e-6


def test_timing_values_round_trip_and_move():
    timing = SpeechTiming((Span("h", 0.1, 0.2), Span("ˈA", 0.2, 0.4)), (Span("Hey", 0.1, 0.4),), 0.5, "kokoro-onnx")
    assert SpeechTiming.from_json(timing.to_json()) == timing
    moved = timing.shifted(1.0, duration=2.0)
    assert moved.phonemes[0] == Span("h", 1.1, 1.2) and moved.duration == 2.0
    assert timing.scaled(2.0).words[0] == Span("Hey", 0.2, 0.8)
    joined = join_timings([(timing, 0.0), (timing, 0.5)], 1.0)
    assert [w.start for w in joined.words] == [0.1, 0.6] and joined.source == "kokoro-onnx"
    with pytest.raises(TimingError, match="not a ToonGen timing"):
        SpeechTiming.from_json('{"phonemes": []}')
    with pytest.raises(TimingError):
        timing.scaled(0.0)


def test_chunk_timing_lands_where_the_crossfaded_samples_land():
    """Two clips, each with a click at a known time: after the cross-faded join, each click is where its timing
    says it is."""
    rate = 1000
    first, second = torch.zeros(1000), torch.zeros(800)
    first[700], second[300] = 1.0, 1.0
    pieces = [Utterance(first, rate, SpeechTiming((Span("k", 0.7, 0.71),), (), 1.0)),
              Utterance(second, rate, SpeechTiming((Span("k", 0.3, 0.31),), (), 0.8))]
    joined = join_utterances(pieces, rate, crossfade_s=0.1)
    clicks = (joined.samples > 0.5).nonzero().view(-1).tolist()
    assert [round(s.start * rate) for s in joined.timing.phonemes] == clicks
    assert joined.timing.duration == joined.samples.shape[0] / rate
    untimed = join_utterances([pieces[0], Utterance(second, rate)], rate, 0.1)
    assert untimed.timing is None  # timing for part of the speech would mislead: none at all


@pytest.fixture(scope="module")
def kokoro():
    return embedded_kokoro()


def test_embedded_kokoro_timing_comes_from_its_duration_predictor(kokoro):
    spoken = kokoro.speak(SENTENCE, "jf_alpha", 1.0)
    timing = spoken.timing
    assert timing.source == kokoro.engine_id and timing.source.startswith("kokoro-onnx-")
    assert_contiguous(timing, spoken.samples.shape[0])
    # The predictor's frames are exactly what the decoder expanded: 600 samples each, the padding included.
    frames = round(spoken.samples.shape[0] / FRAME_SAMPLES)
    assert frames * FRAME_SAMPLES == spoken.samples.shape[0]
    # The unit, found from Σ durations against the audio's length, is the decoder's 600-sample hop: every phoneme
    # lasts a whole number (≥ 1) of 25 ms frames.
    lengths = [(s.end - s.start) * SAMPLE_RATE / FRAME_SAMPLES for s in timing.phonemes]
    assert all(abs(n - round(n)) < 1e-6 and round(n) >= 1 for n in lengths), lengths
    assert [w.label for w in timing.words] == ["Come", "on", "down", "to", "Real", "Fake", "Doors", "that's", "us",
                                               "We", "sell", "fake", "doors"]
    # The timing is the audio's: pauses the engine made at punctuation are quiet, words are loud.
    power = spoken.samples.pow(2)

    def level(span: Span) -> float:
        a, b = int(span.start * SAMPLE_RATE), int(span.end * SAMPLE_RATE)
        return float(power[a:b].mean())

    pauses = [s for s in timing.phonemes if s.label in ",." and s.end - s.start >= 0.1]
    assert pauses, [(s.label, s.end - s.start) for s in timing.phonemes]
    assert max(level(s) for s in pauses) < 0.1 * np.median([level(w) for w in timing.words])


def test_embedded_kokoro_timing_follows_speed_and_long_input(kokoro):
    normal = kokoro.speak(SENTENCE, "jm_kumo", 1.0).timing
    quick = kokoro.speak(SENTENCE, "jm_kumo", 1.3).timing
    assert [w.label for w in quick.words] == [w.label for w in normal.words]
    assert 0.65 < quick.words[-1].end / normal.words[-1].end < 0.9
    long_text = " ".join([SENTENCE] * 9)  # more phonemes than one model call takes: split inside the engine
    spoken = kokoro.speak(long_text, "jm_kumo", 1.0)
    assert len(spoken.timing.words) == 9 * 13
    assert_contiguous(spoken.timing, spoken.samples.shape[0])


def test_timing_survives_chunking_and_the_peak_limiter(kokoro):
    spoken = ChunkedSpeech(lambda chunk: kokoro.speak(chunk, "jf_alpha", 1.0), SAMPLE_RATE, 40)(SENTENCE + " " + SENTENCE)
    assert len(spoken.timing.words) == 26
    assert_contiguous(spoken.timing, spoken.samples.shape[0])


def test_torch_kokoro_timing_from_kmodel_durations(tmp_path):
    engine = TorchKokoro(build_kokoro(tmp_path / "kokoro"))
    spoken = engine.speak(SENTENCE, "af_heart", 1.0)
    assert spoken.timing.source == "kokoro-torch"
    assert [w.label for w in spoken.timing.words][:3] == ["Come", "on", "down"]
    assert_contiguous(spoken.timing, spoken.samples.shape[0])


def test_graph_copy_with_the_duration_output_is_written_once(tmp_path, kokoro):
    source = kokoro.model_path
    copy = with_outputs(source, ["/encoder/Round_output_0"], tmp_path)
    written = copy.stat().st_mtime_ns
    assert with_outputs(source, ["/encoder/Round_output_0"], tmp_path) == copy and copy.stat().st_mtime_ns == written
    with pytest.raises(ValueError, match="no value named /nope"):
        with_outputs(source, ["/nope"], tmp_path)


def test_a_running_onnx_call_stops_when_cancel_is_pressed(kokoro):
    """Cancel pressed while the model is inside one long call: the call ends with the interrupt, not with audio."""
    pressed = threading.Event()
    raised = []

    def raise_if_requested():
        if pressed.is_set():
            raised.append(True)
            raise interrupt.SpeechInterrupted("stopped")

    interrupt.install(pressed.is_set, raise_if_requested)
    timer = threading.Timer(0.5, pressed.set)
    timer.start()
    try:
        with pytest.raises(interrupt.SpeechInterrupted):
            kokoro.speak(" ".join([SENTENCE] * 6), "jf_alpha", 1.0)
    finally:
        timer.cancel()
        interrupt.install(lambda: False, lambda: None)
    assert raised == [True]
