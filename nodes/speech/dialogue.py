"""A dialogue's lines, each spoken on its own, joined in order into one voice track with natural gaps (or the
script's explicit pauses), and its timing: the phonemes and words of every line where they landed, and `lines`, one
span per line labelled with its speaker — what captions, speaker stems and per-character mouths read."""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Callable, Sequence

import torch

from ..audio.dsp import resample
from .pipeline import join_utterances
from .script import MAX_SPEAKERS, Pause, Script, ScriptLine
from .timing import Span, SpeechTiming, TimingError, Utterance

SAME_SPEAKER_GAP_S = 0.35    # a speaker going on with a new line: a breath
SPEAKER_CHANGE_GAP_S = 0.5   # the next character answering
ESTIMATE_SOURCE = "estimated"
_VOICED_DB = -40.0           # quieter than this (vs the line's peak) is the padding around an untimed line


def silences(script: Script) -> tuple[list[float], float]:
    """Seconds of silence before each spoken line, and after the last. Between lines: the natural gap, unless
    pauses stand there (they replace it, and add up); pauses before the first line lead the clip."""
    before: list[float] = []
    pending: float | None = None
    previous: str | None = None
    for item in script.items:
        if isinstance(item, Pause):
            pending = (pending or 0.0) + item.seconds
            continue
        if pending is not None:
            gap = pending
        elif previous is None:
            gap = 0.0
        else:
            gap = SAME_SPEAKER_GAP_S if item.speaker == previous else SPEAKER_CHANGE_GAP_S
        before.append(gap)
        pending, previous = None, item.speaker
    return before, pending or 0.0


def _voiced_extent(samples: torch.Tensor, sample_rate: int) -> tuple[float, float]:
    level = samples.abs()
    peak = float(level.max()) if samples.numel() else 0.0
    if peak <= 0.0:
        return 0.0, samples.shape[-1] / sample_rate
    loud = (level >= peak * 10 ** (_VOICED_DB / 20)).nonzero().view(-1)
    return int(loud[0]) / sample_rate, (int(loud[-1]) + 1) / sample_rate


def estimated_timing(text: str, speech: Utterance) -> SpeechTiming:
    """Word timing for speech no engine timed (an F5-TTS clone the aligner could not place): the words share the
    voiced part of the audio in proportion to their letters. No phonemes: the mouth aligns or follows loudness."""
    tokens = text.split()
    start, end = _voiced_extent(speech.samples, speech.sample_rate)
    weights = [max(1, sum(ch.isalnum() for ch in token)) for token in tokens]
    total = float(sum(weights)) or 1.0
    words, t = [], start
    for token, weight in zip(tokens, weights):
        span_end = t + (end - start) * weight / total
        if any(ch.isalnum() for ch in token) or not words:
            words.append(Span(token, t, span_end))
        else:  # a dash or an ellipsis on its own belongs to the word before it
            last = words.pop()
            words.append(Span(f"{last.label} {token}", last.start, span_end))
        t = span_end
    return SpeechTiming((), tuple(words), speech.seconds, ESTIMATE_SOURCE)


def _silence(seconds: float, sample_rate: int) -> Utterance:
    samples = round(seconds * sample_rate)
    return Utterance(torch.zeros(samples), sample_rate, SpeechTiming(duration=samples / sample_rate))


def join_dialogue(script: Script, spoken: Sequence[Utterance]) -> Utterance:
    """The script's lines (`spoken[i]` says `script.lines[i]`) joined in order with their silences into one mono
    Utterance whose timing has every line's phonemes and words, and `lines` labelled with the speakers. Lines at
    another sample rate are resampled to the highest; a line without timing gets an estimate of its words."""
    lines = script.lines
    if len(spoken) != len(lines):
        raise ValueError(f"{len(spoken)} spoken lines for a script of {len(lines)} lines")
    rate = max(s.sample_rate for s in spoken)
    gaps, tail = silences(script)
    pieces: list[Utterance] = []
    line_spans: list[Span] = []
    position = 0  # samples
    for line, speech, gap in zip(lines, spoken, gaps):
        silence = _silence(gap, rate)
        speech = Utterance(resample(speech.samples.reshape(-1).to(torch.float32), speech.sample_rate, rate), rate,
                           speech.timing if speech.timing is not None else estimated_timing(line.text, speech))
        position += silence.samples.shape[0]
        length = speech.samples.shape[0]
        line_spans.append(Span(line.speaker, position / rate, (position + length) / rate))
        position += length
        pieces += [silence, speech]
    pieces.append(_silence(tail, rate))
    joined = join_utterances(pieces, rate, crossfade_s=0.0)  # silence between lines: nothing to cross-fade
    timing = joined.timing or SpeechTiming(duration=joined.seconds)  # None only when nothing at all was said
    return Utterance(joined.samples, rate, replace(timing, lines=tuple(line_spans)))


def speak_dialogue(script: Script, speak_line: Callable[[ScriptLine], Utterance],
                   on_line: Callable[[int, int], None] | None = None) -> Utterance:
    """Speak each line with `speak_line` (which caches line by line: editing one line re-speaks that line only),
    then join them. `on_line(done, total)` runs before each line and at the end (it may raise to stop)."""
    spoken = []
    for index, line in enumerate(script.lines):
        if on_line:
            on_line(index, len(script.lines))
        spoken.append(speak_line(line))
    if on_line:
        on_line(len(script.lines), len(script.lines))
    return join_dialogue(script, spoken)


def line_spans(timing: SpeechTiming) -> list[tuple[str, float, float]]:
    """(speaker, start, end) of every line of a dialogue timing, in order."""
    return [(span.label, span.start, span.end) for span in timing.lines]


def speakers_of(timing: SpeechTiming) -> list[str]:
    """Every speaker of a dialogue timing once, in the order they first speak."""
    return list(dict.fromkeys(span.label for span in timing.lines))


def speaker_at(timing: SpeechTiming, seconds: float) -> str:
    """Who speaks the line around `seconds` ('' between lines, or in a timing that is not a dialogue's)."""
    for span in timing.lines:
        if span.start <= seconds < span.end:
            return span.label
    return ""


def words_with_speakers(timing: SpeechTiming) -> list[tuple[Span, str]]:
    """Each word with who says it (the line its middle falls in; '' when the timing has no lines)."""
    return [(word, speaker_at(timing, (word.start + word.end) / 2)) for word in timing.words]


def speaker_by_order() -> list[str]:
    """The speaker choices that name no style: `speaker 1` is whoever speaks first in the script, and so on."""
    return [f"speaker {number}" for number in range(1, MAX_SPEAKERS + 1)]


def check_speaker(timing: SpeechTiming, speaker: str, what: str = "speaker") -> str:
    """The style `speaker` names (a style, or `speaker N` in the order they first speak) when the dialogue timing
    has lines of theirs, else a TimingError naming the fix."""
    speakers = speakers_of(timing)
    if not speakers:
        raise TimingError(f"{what}: this timing has no speakers (it is one voice's); link the timing output of "
                          "Script / Dialogue, or leave the speaker empty.")
    name = (speaker or "").strip()
    if name in speakers:
        return name
    order = re.fullmatch(r"speaker (\d+)", name)
    if order:  # by the order they first speak: a workflow's faces follow any script
        number = int(order.group(1))
        if 1 <= number <= len(speakers):
            return speakers[number - 1]
        raise TimingError(f"{what} {name!r}: this dialogue has {len(speakers)} speaker(s) ({', '.join(speakers)}); "
                          f"pick one of speaker 1 to speaker {len(speakers)}, or a name.")
    folded = {s.lower(): s for s in speakers}
    if name.lower() in folded:
        return folded[name.lower()]
    raise TimingError(f"{what} {name!r} does not speak in this dialogue; its speakers are {', '.join(speakers)}.")


def engines_summary(lines: Sequence[ScriptLine], engines_used: Sequence[str]) -> str:
    """One line per script line: which engine spoke it and why (Speak's engine_used)."""
    return "\n".join(f"line {line.line_number} ({line.speaker}): {used}" for line, used in zip(lines, engines_used))

