"""Phoneme timing → cartoon mouth shapes per video frame → AdvancedLivePortrait's `command`.

The shapes are Rhubarb Lip Sync's vocabulary: A closed (M B P), B slightly open with the teeth together (most
consonants, the EE onset), C open (EH AE AH), D wide open (AA), E slightly rounded (AO ER), F puckered (UW OW W),
G upper teeth on the lower lip (F V), H tongue up (L), X rest / silence.

Every phoneme symbol misaki/Kokoro speaks, and the espeak-ng IPA Piper speaks, maps to a rule: one shape, a set of
acceptable shapes resolved from the neighbours (a `t` between rounded vowels stays rounded), or a diphthong's two
shapes. The frame timeline then follows the classic animation rules: X for pauses of 150 ms or more, a look-ahead
of one frame into each next shape, no shape shorter than 2 frames except a bilabial closure (at least 1 frame of A,
always), and boundaries rounded from absolute times, so nothing drifts over a long clip.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..speech.timing import Span, SpeechTiming

SHAPES = "ABCDEFGHX"
REST = "X"
CLOSED = "A"
ASSET = Path(__file__).resolve().parents[2] / "assets" / "mouth_shapes.json"

PAUSE_TO_REST_S = 0.15    # a pause at least this long closes the mouth to rest (X)
MIN_RUN_FRAMES = 2        # no shape shorter than this many frames …
MIN_CLOSURE_FRAMES = 1    # … except a bilabial closure, which always shows at least this many frames of A
LOOKAHEAD_FRAMES = 1      # each shape starts this many frames before its sound
DEFAULT_TRANSITION_FRAMES = 2

# Where each shape sits: (open, round, spread) — used to pick, from a set of acceptable shapes, the one nearest its
# neighbours, and to decide which neighbour a too-short shape merges into.
_POSE = {"X": (0.0, 0.0, 0.0), "A": (0.0, 0.0, 0.05), "B": (0.2, 0.0, 0.3), "C": (0.55, 0.0, 0.2),
         "D": (1.0, 0.0, 0.1), "E": (0.45, 0.5, 0.0), "F": (0.2, 1.0, 0.0), "G": (0.1, 0.0, 0.25),
         "H": (0.5, 0.0, 0.15)}

# One symbol → its acceptable shapes, the first being the most typical. Phoneme symbols as misaki spells them for
# Kokoro (US and GB) plus the espeak-ng IPA that Piper and misaki's espeak fallback produce.
_CONSONANT_SETS = {
    "BF": "tdɾTʈɖθðszʃʒʧʤɕʑʂʐ",    # teeth together, or rounded when the neighbours are (misaki spells the flap T)
    "BCEFH": "kɡgqɢcɟxɣχʁ",        # velars follow the vowel around them
    "BCFH": "nɲɳɴ",
    "BCEF": "ŋç",
    "BEF": "ɹrɻɽʀ",
    "BCF": "jʝ",
}
_SINGLE = {
    **{s: "A" for s in "pbm"},
    **{s: "G" for s in "fvɱ"},
    **{s: "F" for s in "wʍɥuʊɵyʉ"},
    **{s: "E" for s in "ɔɒɜɚɝoøœɞ"},
    **{s: "D" for s in "ɑ"},
    **{s: "C" for s in "ʌæaɛeɐɶ"},
    **{s: "B" for s in "iɪɨɯɤʏ"},
}
_SCHWA = {s: "BC" for s in "əᵊᵻɘ"}
_RHOTIC = frozenset(_CONSONANT_SETS["BEF"])
_VOWELS = frozenset("ɔɒɜɚɝoøœɞɑʌæaɛeɐɶiɪɨɯɤʏuʊɵyʉ") | frozenset(_SCHWA) | frozenset("AIWYOQ")
_LATERAL = "lɫɬɭʎʟ"
_BILABIAL = frozenset("pbm")
# misaki's one-letter diphthongs and affricate-like symbols: (first shape, second shape); 60 % / 40 % of the span.
_DIPHTHONG = {"A": ("C", "B"), "I": ("C", "B"), "W": ("C", "E"), "Y": ("E", "B"), "O": ("E", "F"), "Q": ("E", "F")}
_STRESS = frozenset("ˈˌ'")                     # timing of a stress mark belongs to the sound after it
_EXTENDS = frozenset("ːˑʰʲʷˠˤ̩̯̃͡‿")           # length/secondary marks lengthen the sound before them
_GLOTTAL = frozenset("hɦʔ")                     # no mouth shape of their own: the next sound's (or the last one's)
_PAUSE = frozenset(" ,.!?;:—…-–\"“”()[]{}«»¡¿、。，．！？")


def phoneme_rule(symbol: str) -> str:
    """The acceptable shapes for one phoneme symbol (first = most typical); '' for symbols that are not sounds."""
    if symbol in _SINGLE:
        return _SINGLE[symbol]
    if symbol in _SCHWA:
        return _SCHWA[symbol]
    if symbol in _LATERAL:
        return "HBEF"
    for shapes, symbols in _CONSONANT_SETS.items():
        if symbol in symbols:
            return shapes
    if symbol in _DIPHTHONG:
        return _DIPHTHONG[symbol][0]
    if symbol in _PAUSE or symbol in _STRESS or symbol in _EXTENDS or symbol in _GLOTTAL or not symbol.strip():
        return ""
    return "B"  # an unknown letter (e.g. a symbol of another language): a neutral, slightly open mouth


def symbol_table() -> dict[str, str]:
    """Every sound symbol this module knows → its shapes ("CB" = C or B, nearest the neighbours; "C+B" = a
    diphthong, C then B), for the README and the tests."""
    known = set(_SINGLE) | set(_SCHWA) | set(_LATERAL) | set(_DIPHTHONG)
    for symbols in _CONSONANT_SETS.values():
        known |= set(symbols)
    table = {s: phoneme_rule(s) for s in sorted(known)}
    table.update({s: "+".join(pair) for s, pair in _DIPHTHONG.items()})
    return table


def is_known_symbol(symbol: str) -> bool:
    """True when `symbol` has a rule of its own (a sound, stress or length mark, glottal, pause)."""
    return (symbol in symbol_table() or symbol in _STRESS or symbol in _EXTENDS or symbol in _GLOTTAL
            or symbol in _PAUSE)


@dataclass(frozen=True)
class ShapeSpan:
    shape: str
    start: float
    end: float
    bilabial: bool = False  # a closure that must show at least one frame of A


@dataclass
class _Sound:
    symbol: str
    start: float
    end: float
    glottal: bool = False


def _sounds(phonemes: Sequence[Span]) -> list[_Sound]:
    """Phoneme spans → sounds: stress marks give their time to the next sound, length marks to the previous one,
    pauses and other non-sounds are dropped (the gaps they leave are the pauses)."""
    sounds: list[_Sound] = []
    pending_start = None
    for span in phonemes:
        symbol = span.label
        if symbol in _STRESS:
            pending_start = span.start if pending_start is None else pending_start
            continue
        if symbol in _EXTENDS:
            if sounds and abs(sounds[-1].end - span.start) < 1e-6:
                sounds[-1].end = span.end
            continue
        if symbol in _GLOTTAL or phoneme_rule(symbol):
            start = span.start if pending_start is None else min(pending_start, span.start)
            sounds.append(_Sound(symbol, start, span.end, glottal=symbol in _GLOTTAL))
        pending_start = None
    return sounds


def _distance(a: str, b: str) -> float:
    return math.dist(_POSE[a], _POSE[b])


def _closest(options: str, *neighbours: str | None) -> str:
    context = [n for n in neighbours if n]
    if len(options) == 1 or not context:
        return options[0]
    # min() keeps the first (most typical) option on ties.
    return min(options, key=lambda s: sum(_distance(s, n) for n in context))


def _ends_syllable(rhotic: _Sound, after: _Sound | None) -> bool:
    """An r that closes its syllable (no vowel right after it): with the vowel before it, one r-coloured vowel."""
    return after is None or after.symbol not in _VOWELS or after.start - rhotic.end > 1e-6


def _shapes_of(sound: _Sound, previous: str | None, following: _Sound | None,
               after: _Sound | None) -> list[tuple[str, float, float]]:
    """`following` is the next sound, `after` the one after it."""
    duration = sound.end - sound.start
    symbol = sound.symbol
    # An r-coloured vowel is Rhubarb's ER (E), however it is spelled: espeak writes ɚ, misaki ə ɹ ("mister", "other").
    if (symbol in _SCHWA and following is not None and following.symbol in _RHOTIC
            and following.start - sound.end < 1e-6 and _ends_syllable(following, after)):
        return [("E", sound.start, sound.end)]
    if symbol in _RHOTIC and previous == "E" and _ends_syllable(sound, following):
        return [("E", sound.start, sound.end)]
    if symbol in _DIPHTHONG:
        first, second = _DIPHTHONG[symbol]
        if symbol == "I" and duration >= 0.2:
            first = "D"
        if symbol == "W" and duration >= 0.3:
            first = "D"
        split = sound.start + 0.6 * duration
        return [(first, sound.start, split), (second, split, sound.end)]
    rule = phoneme_rule(symbol)
    if symbol in _LATERAL and duration >= 0.2:
        rule = "H"
    if symbol == "ʌ" and duration >= 0.2:
        rule = "D"
    following_shape = phoneme_rule(following.symbol)[:1] if following is not None and not following.glottal else None
    return [(_closest(rule, previous, following_shape), sound.start, sound.end)]


def shape_spans(timing: SpeechTiming, pause_to_rest_s: float = PAUSE_TO_REST_S) -> list[ShapeSpan]:
    """Phoneme timing → contiguous shape spans covering 0..timing.duration (X before, between long pauses, after)."""
    sounds = _sounds(timing.phonemes)
    end_of_clip = max(timing.duration, sounds[-1].end if sounds else 0.0)
    spans: list[ShapeSpan] = []

    def add(shape: str, start: float, end: float, bilabial: bool = False) -> None:
        if end < start or (end == start and not bilabial):
            return  # a closure stays even when it takes no time (an aligner may squeeze it): it still shows an A
        if spans and spans[-1].shape == shape and abs(spans[-1].end - start) < 1e-9:
            last = spans.pop()
            spans.append(ShapeSpan(shape, last.start, end, last.bilabial or bilabial))
        else:
            spans.append(ShapeSpan(shape, start, end, bilabial))

    cursor = 0.0
    previous: str | None = None
    for index, sound in enumerate(sounds):
        gap = sound.start - cursor
        if gap > 0:
            if previous is None or gap >= pause_to_rest_s:
                add(REST, cursor, sound.start)
                previous = None
            else:  # a short pause holds the mouth where it was
                add(previous, cursor, sound.start)
        following = sounds[index + 1] if index + 1 < len(sounds) else None
        if sound.glottal:
            # /h/ is the next vowel's breath; a glottal stop keeps the last shape.
            adjacent = following is not None and following.start - sound.end < pause_to_rest_s and not following.glottal
            shape = (phoneme_rule(following.symbol)[:1] or REST) if adjacent and sound.symbol != "ʔ" else (previous or REST)
            if shape == CLOSED:
                shape = "B"  # only a real closure shows A
            add(shape, max(cursor, sound.start), sound.end)
            previous = shape if shape != REST else previous
        else:
            after = sounds[index + 2] if index + 2 < len(sounds) else None
            for shape, start, end in _shapes_of(sound, previous, following, after):
                add(shape, max(cursor, start), end, bilabial=sound.symbol in _BILABIAL)
                previous = shape
        cursor = max(cursor, sound.end)
    add(REST, cursor, end_of_clip)
    return spans


@dataclass
class _Run:
    shape: str
    length: int
    bilabial: bool

    @property
    def minimum(self) -> int:
        return MIN_CLOSURE_FRAMES if self.bilabial else MIN_RUN_FRAMES


def _merge_equal(runs: list[_Run]) -> list[_Run]:
    merged: list[_Run] = []
    for run in runs:
        if run.length <= 0 and not run.bilabial:
            continue
        if merged and merged[-1].shape == run.shape:
            merged[-1].length += run.length
            merged[-1].bilabial = merged[-1].bilabial or run.bilabial
        else:
            merged.append(run)
    return merged


def _enforce_minimum_lengths(runs: list[_Run]) -> list[_Run]:
    """Lengthen (by a frame taken from a neighbour that can spare it) or merge away runs shorter than their minimum;
    a bilabial closure is never merged away."""
    runs = _merge_equal(runs)
    while True:
        short = [i for i, r in enumerate(runs) if r.length < r.minimum]
        if not short:
            return runs
        i = min(short, key=lambda k: (runs[k].length, k))
        run = runs[i]
        neighbours = [k for k in (i - 1, i + 1) if 0 <= k < len(runs)]
        donors = [k for k in neighbours if runs[k].length - 1 >= runs[k].minimum]
        if donors:
            donor = max(donors, key=lambda k: runs[k].length)
            runs[donor].length -= 1
            run.length += 1
        elif run.bilabial:  # no neighbour can spare a frame: the closure still gets one, from the longer neighbour
            if not neighbours:
                run.length = max(run.length, 1)
                return runs
            donor = max(neighbours, key=lambda k: runs[k].length)
            if runs[donor].length == 0:
                run.length = 1
                return _merge_equal(runs)
            runs[donor].length -= 1
            run.length += 1
        elif not neighbours:
            return runs  # the whole clip is one frame long
        else:
            # Merge into the neighbour nearest in shape (a closure absorbs nothing it should not: prefer non-A).
            target = min(neighbours, key=lambda k: (_distance(run.shape, runs[k].shape), -runs[k].length))
            runs[target].length += run.length
            run.length = 0
        runs = _merge_equal(runs)


def frames_from_spans(spans: Sequence[ShapeSpan], fps: float, frames: int,
                      lookahead_frames: int = LOOKAHEAD_FRAMES) -> str:
    """Shape spans → one letter per video frame (`frames` of them). Boundaries are rounded from absolute times
    (round(t × fps), so the error never accumulates), moved `lookahead_frames` earlier, then runs shorter than 2
    frames are lengthened or merged — except bilabial closures, which keep at least 1 frame of A."""
    if frames < 1:
        return ""
    runs: list[_Run] = []
    previous_boundary = 0
    for index, span in enumerate(spans):
        end = frames if index == len(spans) - 1 else round(span.end * fps) - lookahead_frames
        end = min(frames, max(previous_boundary, end))
        runs.append(_Run(span.shape, end - previous_boundary, span.bilabial and span.shape == CLOSED))
        previous_boundary = end
    if previous_boundary < frames:
        runs.append(_Run(REST, frames - previous_boundary, False))
    runs = _enforce_minimum_lengths(runs)
    letters = "".join(r.shape * r.length for r in runs)
    assert len(letters) == frames, (len(letters), frames)
    return letters


def shapes_from_timing(timing: SpeechTiming, fps: float, frames: int) -> str:
    return frames_from_spans(shape_spans(timing), fps, frames)


def shapes_from_levels(states: Sequence[int], open_shapes: str = "BCD") -> str:
    """Loudness mouth states (0 = closed, 1..K = louder) → letters: 0 → X, k → the k-th of `open_shapes` (clamped),
    with the same 2-frame minimum."""
    letters = [REST if s <= 0 else open_shapes[min(s, len(open_shapes)) - 1] for s in states]
    runs = [_Run(letter, 1, False) for letter in letters]
    return "".join(r.shape * r.length for r in _enforce_minimum_lengths(runs))


# --- the face side -------------------------------------------------------------------------------------------------

def load_presets(path: Path = ASSET) -> dict:
    """assets/mouth_shapes.json: {"editors": ["A", …, "H"], "presets": {shape: {aaa, eee, woo, smile, rotate_pitch}}}."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    editors = data["editors"]
    if sorted(editors) != sorted(SHAPES.replace(REST, "")) or set(data["presets"]) != set(editors):
        raise ValueError(f"{path}: editors must list A–H once each, with a preset for each")
    return data


def editor_index(presets: dict | None = None) -> dict[str, int]:
    """Shape letter → AdvancedLivePortrait command index: X = 0 (the source face), the k-th editor = k."""
    editors = (presets or load_presets())["editors"]
    return {REST: 0, **{shape: k for k, shape in enumerate(editors, start=1)}}


def command_from_shapes(shapes: str, transition_frames: int = DEFAULT_TRANSITION_FRAMES,
                        index: dict[str, int] | None = None) -> str:
    """One letter per frame → `idx=change:keep` lines (change ≥ 1, Σ(change + keep) = len(shapes))."""
    if transition_frames < 1:
        raise ValueError("transition_frames must be ≥ 1 (AdvancedLivePortrait divides by `change`).")
    index = index or editor_index()
    lines, start = [], 0
    for i in range(1, len(shapes) + 1):
        if i == len(shapes) or shapes[i] != shapes[start]:
            length = i - start
            change = min(transition_frames, length)
            lines.append(f"{index[shapes[start]]}={change}:{length - change}")
            start = i
    return "\n".join(lines)
