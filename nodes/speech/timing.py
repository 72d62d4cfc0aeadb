"""When each phoneme and word of a clip is spoken, and the speech itself (samples + that timing).

Times are seconds from the clip's first sample. Phoneme labels are the IPA-style symbols Kokoro and misaki use
(one character each, stress marks and punctuation included: a `,` or `.` span is the pause the engine made there);
word labels are the words of the text. Engines that know their own durations fill this in; speech without timing
(F5-TTS, a recording) has `timing is None` and is aligned later from its text. A dialogue's timing also has
`lines`: one span per spoken line, labelled with the voice style that speaks it (empty for a single voice).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import torch

TIMING_FORMAT = 1


class TimingError(ValueError):
    """A timing value that cannot be used; the message says what is wrong."""


@dataclass(frozen=True)
class Span:
    label: str
    start: float
    end: float

    def shifted(self, offset: float) -> "Span":
        return Span(self.label, self.start + offset, self.end + offset)

    def scaled(self, factor: float) -> "Span":
        return Span(self.label, self.start * factor, self.end * factor)


@dataclass(frozen=True)
class SpeechTiming:
    phonemes: tuple[Span, ...] = ()
    words: tuple[Span, ...] = ()
    duration: float = 0.0
    source: str = ""  # who measured it: "kokoro-onnx", "kokoro-torch", "aligner", …
    lines: tuple[Span, ...] = ()  # a dialogue's lines, each labelled with its speaker; () for one voice

    def shifted(self, offset: float, duration: float | None = None) -> "SpeechTiming":
        """The same speech placed `offset` seconds later in a clip of `duration` seconds."""
        return SpeechTiming(tuple(s.shifted(offset) for s in self.phonemes), tuple(s.shifted(offset) for s in self.words),
                            self.duration + offset if duration is None else duration, self.source,
                            tuple(s.shifted(offset) for s in self.lines))

    def scaled(self, factor: float) -> "SpeechTiming":
        """Time-stretched by `factor` (a clip resampled to `factor` × its length)."""
        if not (math.isfinite(factor) and factor > 0):
            raise TimingError(f"time-stretch factor must be a positive number, got {factor}.")
        return SpeechTiming(tuple(s.scaled(factor) for s in self.phonemes), tuple(s.scaled(factor) for s in self.words),
                            self.duration * factor, self.source, tuple(s.scaled(factor) for s in self.lines))

    def to_dict(self) -> dict:
        data = {"format": TIMING_FORMAT, "source": self.source, "duration": self.duration,
                "phonemes": [[s.label, s.start, s.end] for s in self.phonemes],
                "words": [[s.label, s.start, s.end] for s in self.words]}
        if self.lines:  # only dialogues carry it: a single voice's timing reads exactly as before
            data["lines"] = [[s.label, s.start, s.end] for s in self.lines]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict) -> "SpeechTiming":
        if not isinstance(data, dict) or data.get("format") != TIMING_FORMAT:
            raise TimingError(f"not a ToonGen timing (format {TIMING_FORMAT}): {str(data)[:80]!r}")
        try:
            phonemes = tuple(Span(str(label), float(a), float(b)) for label, a, b in data["phonemes"])
            words = tuple(Span(str(label), float(a), float(b)) for label, a, b in data["words"])
            lines = tuple(Span(str(label), float(a), float(b)) for label, a, b in data.get("lines", ()))
            return cls(phonemes, words, float(data["duration"]), str(data.get("source", "")), lines)
        except (KeyError, TypeError, ValueError) as exc:
            raise TimingError(f"damaged timing: {exc}") from exc

    @classmethod
    def from_json(cls, text: str) -> "SpeechTiming":
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise TimingError(f"timing is not JSON: {exc}") from exc


def join_timings(parts: Sequence[tuple[SpeechTiming, float]], duration: float) -> SpeechTiming:
    """Timings of consecutive pieces, each placed at its offset (seconds) in a joined clip of `duration` seconds."""
    sources = list(dict.fromkeys(t.source for t, _ in parts if t.source))
    return SpeechTiming(
        tuple(s.shifted(offset) for t, offset in parts for s in t.phonemes),
        tuple(s.shifted(offset) for t, offset in parts for s in t.words),
        duration, "+".join(sources), tuple(s.shifted(offset) for t, offset in parts for s in t.lines))


@dataclass(frozen=True)
class Utterance:
    """Speech an engine made: mono samples at `sample_rate`, and its timing when the engine knows it."""

    samples: torch.Tensor  # 1-D float32
    sample_rate: int
    timing: SpeechTiming | None = field(default=None)

    @property
    def seconds(self) -> float:
        return self.samples.shape[-1] / self.sample_rate


def spans_from_frames(labels: Iterable[str], frames: Sequence[float], frame_s: float, start_s: float = 0.0) -> list[Span]:
    """Consecutive spans from per-label frame counts (a duration predictor's output)."""
    spans, t = [], start_s
    for label, count in zip(labels, frames):
        end = t + float(count) * frame_s
        spans.append(Span(label, t, end))
        t = end
    return spans
