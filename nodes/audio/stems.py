"""One speaker's part of a dialogue track: their lines as they are, silence everywhere else, the same length — the
per-person audio that multi-character talking-head models take.

The timeline is split into regions, each a line (owned by its speaker) or the silence between lines (owned by no
one). A stem fades in and out over a few milliseconds inside the silence next to each of its lines, so no stem
clicks and every line stays exactly as it was; where two speakers' lines touch, they cross-fade with complementary
gains (sin² and cos², which add up to 1). The stems of all speakers add up to the track: exactly inside every line,
and everywhere when the gaps are silent (as a joined dialogue's are).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

from .contract import AudioInputError

FADE_S = 0.005
TIMING_SLACK_S = 0.05  # lines may end this much after the audio (rounding of the engine's frames)

LineSpan = tuple[str, float, float]  # (speaker, start s, end s)
_NOBODY = ""


def _regions(spans: Sequence[LineSpan], samples: int, sample_rate: int) -> list[tuple[str, int, int]]:
    """(owner, first sample, end sample) runs covering 0..samples; between lines the owner is nobody (''). Should
    lines overlap, the one that starts later owns the overlap."""
    speakers = [_NOBODY, *dict.fromkeys(span[0] for span in spans)]
    owner = torch.zeros(samples, dtype=torch.int16)
    for speaker, start, end in sorted(spans, key=lambda s: s[1]):
        a = min(samples, max(0, round(start * sample_rate)))
        b = min(samples, max(a, round(end * sample_rate)))
        owner[a:b] = speakers.index(speaker)
    if samples == 0:
        return []
    changes = ((owner[1:] != owner[:-1]).nonzero().view(-1) + 1).tolist()
    edges = [0, *changes, samples]
    return [(speakers[int(owner[a])], a, b) for a, b in zip(edges, edges[1:])]


def _rise(samples: int) -> torch.Tensor:
    """sin² from 0 towards 1 over `samples` (1 - this is its cos² complement: the two add up to 1)."""
    phase = (torch.arange(samples, dtype=torch.float64) + 0.5) / samples
    return torch.sin(phase * math.pi / 2).pow(2).to(torch.float32)


def speaker_gain(spans: Sequence[LineSpan], speaker: str, samples: int, sample_rate: int,
                 fade_s: float = FADE_S) -> torch.Tensor:
    """[samples] gain of `speaker`'s stem: 1 in their lines, 0 elsewhere, with `fade_s` fades that lie in the
    silence next to a line (a gap shared by two lines gives each half of it), and, where a line of another speaker
    touches theirs, sin²/cos² cross-fades centred on the change."""
    regions = _regions(spans, samples, sample_rate)
    gain = torch.zeros(samples, dtype=torch.float32)
    for owner, a, b in regions:
        if owner == speaker:
            gain[a:b] = 1.0
    fade = max(0, round(fade_s * sample_rate))
    for index, (owner, a, b) in enumerate(regions):
        before = regions[index - 1][0] if index > 0 else _NOBODY
        after = regions[index + 1][0] if index + 1 < len(regions) else _NOBODY
        if owner == _NOBODY:  # a gap: fade the line before it out, and the line after it in
            shared = before != _NOBODY and after != _NOBODY
            n = min(fade, (b - a) // 2 if shared else b - a)
            if n > 0 and before == speaker:
                gain[a:a + n] = _rise(n).flip(0)
            if n > 0 and after == speaker:
                gain[b - n:b] = _rise(n)
        elif index + 1 < len(regions) and after != _NOBODY and speaker in (owner, after):
            next_end = regions[index + 1][2]
            half = min(fade // 2, (b - a) // 2, (next_end - b) // 2)
            if half > 0:
                rising = _rise(2 * half)
                gain[b - half:b + half] = rising if after == speaker else 1.0 - rising
    return gain


def check_spans(spans: Sequence[LineSpan], samples: int, sample_rate: int) -> None:
    if not spans:
        raise AudioInputError("the timing has no lines: link the timing output of Script / Dialogue (a single "
                              "voice has no speakers to separate).")
    seconds = samples / sample_rate
    end = max(span[2] for span in spans)
    if end > seconds + TIMING_SLACK_S:
        raise AudioInputError(f"the dialogue's lines run to {end:.2f} s but the voice lasts {seconds:.2f} s; link "
                              "the voice and the timing of the same Script / Dialogue node.")


def speaker_stem(waveform: torch.Tensor, sample_rate: int, spans: Sequence[LineSpan], speaker: str,
                 fade_s: float = FADE_S) -> torch.Tensor:
    """[channels, samples] → `speaker`'s lines only, silence elsewhere, the same shape."""
    check_spans(spans, waveform.shape[-1], sample_rate)
    speakers = list(dict.fromkeys(span[0] for span in spans))
    if speaker not in speakers:
        raise AudioInputError(f"speaker {speaker!r} has no line in this dialogue; its speakers are "
                              f"{', '.join(speakers)}.")
    return waveform * speaker_gain(spans, speaker, waveform.shape[-1], sample_rate, fade_s)


def speaker_stems(waveform: torch.Tensor, sample_rate: int, spans: Sequence[LineSpan],
                  fade_s: float = FADE_S) -> dict[str, torch.Tensor]:
    """Every speaker's stem, in the order they first speak."""
    return {speaker: speaker_stem(waveform, sample_rate, spans, speaker, fade_s)
            for speaker in dict.fromkeys(span[0] for span in spans)}
