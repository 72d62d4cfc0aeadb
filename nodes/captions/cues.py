"""The voice's timing → caption cues: words grouped into readable cues (at most 2 lines of 42 characters), a new cue
at every change of speaker and at every pause, each cue on screen while its words are spoken and at least a second
(into the silence after it, never over the next cue nor past the end of the audio)."""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Callable, Sequence

from ..speech.dialogue import words_with_speakers
from ..speech.timing import SpeechTiming, TimingError

MAX_LINE_CHARS = 42
MAX_LINES = 2
MIN_CUE_S = 1.0
PAUSE_BREAK_S = 0.6
# The engines' word labels carry no punctuation; their phoneme tier does (a `,` span is the pause made there).
TRAILING_PUNCTUATION = frozenset(",.!?;:…")
_BREAK_AFTER = tuple(",.!?;:…")


@dataclass(frozen=True)
class CaptionWord:
    text: str       # the word as shown, with the punctuation spoken after it
    start: float
    end: float
    speaker: str    # '' outside a dialogue


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]
    speaker: str
    words: tuple[CaptionWord, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def caption_words(timing: SpeechTiming) -> list[CaptionWord]:
    """The timing's words in order, each with its speaker and the punctuation spoken right after it."""
    words = words_with_speakers(timing)
    texts = [word.label for word, _ in words]
    starts = [word.start for word, _ in words]
    punctuated: set[int] = set()
    for phoneme in timing.phonemes:
        if phoneme.label not in TRAILING_PUNCTUATION:
            continue
        index = bisect.bisect_right(starts, phoneme.start) - 1  # the last word that began before it
        # A word that brings its own punctuation (an estimated word) keeps it; runs ("?!", "...") stay whole.
        if index >= 0 and (index in punctuated or texts[index][-1:] not in TRAILING_PUNCTUATION):
            texts[index] += phoneme.label
            punctuated.add(index)
    return [CaptionWord(text, word.start, word.end, speaker) for text, (word, speaker) in zip(texts, words)]


def wrap_lines(tokens: Sequence[str], max_chars: int = MAX_LINE_CHARS) -> tuple[str, ...] | None:
    """The tokens as one line, or as two balanced lines (a break after punctuation preferred), each at most
    `max_chars` long; None when they do not fit. A single token too long for a line is a line of its own."""
    text = " ".join(tokens)
    if len(text) <= max_chars or len(tokens) == 1:
        return (text,)
    best, best_score = None, None
    for k in range(1, len(tokens)):
        top, bottom = " ".join(tokens[:k]), " ".join(tokens[k:])
        if len(top) > max_chars or len(bottom) > max_chars:
            continue
        score = (max(len(top), len(bottom)) - (4 if top.endswith(_BREAK_AFTER) else 0), len(top))
        if best_score is None or score < best_score:
            best, best_score = (top, bottom), score
    return best


def display_name(style: str) -> str:
    """A voice style as a caption names its speaker: excited_host → Excited Host."""
    return " ".join(part.capitalize() for part in style.replace("_", " ").split())


def _tokens(words: Sequence[CaptionWord], name_of: Callable[[str], str] | None) -> list[str]:
    tokens = [w.text for w in words]
    if name_of is not None and words and words[0].speaker:
        tokens.insert(0, f"{name_of(words[0].speaker)}:")
    return tokens


def group_words(words: Sequence[CaptionWord], max_chars: int = MAX_LINE_CHARS, pause_s: float = PAUSE_BREAK_S,
                name_of: Callable[[str], str] | None = None) -> list[list[CaptionWord]]:
    """Consecutive words into cues: a new cue when the speaker changes, after a pause of `pause_s` or more, and
    when the next word would not fit in two lines."""
    groups: list[list[CaptionWord]] = []
    current: list[CaptionWord] = []
    for word in words:
        if current and (word.speaker != current[-1].speaker or word.start - current[-1].end >= pause_s
                        or wrap_lines(_tokens([*current, word], name_of), max_chars) is None):
            groups.append(current)
            current = []
        current.append(word)
    if current:
        groups.append(current)
    return groups


def cues_from_timing(timing: SpeechTiming, *, speaker_names: bool = False, max_chars: int = MAX_LINE_CHARS,
                     min_seconds: float = MIN_CUE_S, pause_s: float = PAUSE_BREAK_S,
                     audio_seconds: float | None = None,
                     name_of: Callable[[str], str] = display_name) -> list[Cue]:
    """Caption cues timed by the voice's own timing. Each cue starts on its first word and lasts until its last
    word ends, lengthened to `min_seconds` where the silence after it allows (never over the next cue, never past
    the audio's end: `audio_seconds`, else the timing's duration). With `speaker_names`, a cue opens with
    "Name: " when a dialogue speaker says it."""
    words = caption_words(timing)
    if not words:
        raise TimingError("the timing has no words to caption; link the timing of a speech node (Voice, Speak, "
                          "Script / Dialogue), or an F5-TTS clone's through Mouth Shapes' aligner.")
    end_of_audio = timing.duration if audio_seconds is None else audio_seconds
    groups = group_words(words, max_chars, pause_s, name_of if speaker_names else None)
    starts = [min(max(0.0, g[0].start), end_of_audio) for g in groups]
    cues = []
    for index, group in enumerate(groups):
        limit = starts[index + 1] if index + 1 < len(groups) else end_of_audio
        spoken_end = min(max(group[-1].end, starts[index]), limit)
        end = max(spoken_end, min(starts[index] + min_seconds, limit))
        lines = wrap_lines(_tokens(group, name_of if speaker_names else None), max_chars)
        cues.append(Cue(starts[index], end, lines, group[0].speaker, tuple(group)))
    return cues


def cue_at(cues: Sequence[Cue], seconds: float) -> Cue | None:
    """The cue on screen at `seconds` (its start ≤ seconds < its end), or None."""
    index = bisect.bisect_right([c.start for c in cues], seconds) - 1
    if index >= 0 and cues[index].start <= seconds < cues[index].end:
        return cues[index]
    return None
