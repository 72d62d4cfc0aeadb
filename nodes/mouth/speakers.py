"""One character's mouth in a dialogue: the dialogue's timing cut down to that speaker's lines, so the shape rules
(shapes.py) form the words of their own lines and rest (X) through everyone else's — the same rules, not a copy."""
from __future__ import annotations

from typing import Sequence

import torch

from ..audio.stems import speaker_stem
from ..speech.dialogue import check_speaker, line_spans
from ..speech.timing import Span, SpeechTiming
from .lipsync import MouthTrack, mouth_track
from .shapes import DEFAULT_TRANSITION_FRAMES


def _inside(span: Span, lines: Sequence[Span]) -> bool:
    middle = (span.start + span.end) / 2
    return any(line.start <= middle < line.end for line in lines)


def speaker_timing(timing: SpeechTiming, speaker: str) -> SpeechTiming:
    """The phonemes and words of `speaker`'s lines only (each kept where its middle lies in one of their lines),
    over the whole clip's duration: everyone else's lines become silence."""
    speaker = check_speaker(timing, speaker)
    own = tuple(line for line in timing.lines if line.label == speaker)
    return SpeechTiming(tuple(s for s in timing.phonemes if _inside(s, own)),
                        tuple(w for w in timing.words if _inside(w, own)),
                        timing.duration, timing.source, own)


def speaker_mouth_track(waveform: torch.Tensor, sample_rate: int, fps: float, timing: SpeechTiming, speaker: str,
                        transition_frames: int = DEFAULT_TRANSITION_FRAMES) -> MouthTrack:
    """`speaker`'s mouth in a dialogue: their words timed by the dialogue's timing, X through the other lines. The
    voice is cut to their stem too, so a line without phonemes (an untimed clone) still moves the mouth by
    loudness — only during their own lines."""
    own = speaker_timing(timing, speaker)
    stem = speaker_stem(waveform, sample_rate, line_spans(timing), own.lines[0].label)
    return mouth_track(stem, sample_rate, fps, own, transition_frames=transition_frames)
