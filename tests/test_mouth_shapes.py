"""Phoneme timing → mouth shapes per frame → AdvancedLivePortrait command; the presets of the face side."""
from __future__ import annotations

import json
import math
import random
from importlib import resources

import pytest
import torch

from ..nodes.audio.contract import AudioInputError
from ..nodes.mouth import shapes as ms
from ..nodes.mouth.lipsync import mouth_track, rest_until
from ..nodes.speech.timing import Span, SpeechTiming
from .conftest import speech_like
from .support.alp_command import CommandError, frame_targets, parse_command, video_frames

FPS = 24.0


def timing_of(*phones: tuple[str, float], start: float = 0.2, tail: float = 0.3) -> SpeechTiming:
    """Consecutive phoneme spans (symbol, seconds) from `start`, then `tail` seconds of silence."""
    spans, t = [], start
    for label, seconds in phones:
        spans.append(Span(label, t, t + seconds))
        t += seconds
    return SpeechTiming(tuple(spans), (), t + tail, "test")


def shapes(timing: SpeechTiming, fps: float = FPS) -> str:
    return ms.shapes_from_timing(timing, fps, math.ceil(timing.duration * fps - 1e-9))


def runs(letters: str) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for letter in letters:
        if out and out[-1][0] == letter:
            out[-1] = (letter, out[-1][1] + 1)
        else:
            out.append((letter, 1))
    return out


def test_every_symbol_misaki_and_espeak_speak_has_a_rule():
    """The symbol table covers misaki's English inventory (its lexicons, the flap it spells T) and the espeak-ng IPA
    Piper speaks: no English sound falls through to the 'unknown letter' default."""
    symbols = {"T"}
    for name in ("us_gold.json", "us_silver.json", "gb_gold.json", "gb_silver.json"):
        lexicon = json.loads((resources.files("misaki") / "data" / name).read_text(encoding="utf-8"))
        for entry in lexicon.values():
            for phonemes in (entry.values() if isinstance(entry, dict) else [entry]):
                symbols.update(phonemes or "")
    espeak_english = "plˈiːz bɹˈɪŋ ðə wˈɛðɚɹ nˈaɪs; θˈɔːt dʒˈɔɪn mˈɛʒɚ ɹˈʊɹəl dʒˈʌdʒᵻz lˈɔɪəlɾi bˈʌʔn̩ hoʊ ɐbˈaʊt"
    symbols.update(espeak_english)
    unknown = sorted(s for s in symbols if not ms.is_known_symbol(s))
    assert not unknown, f"symbols without a mouth rule: {unknown}"
    table = ms.symbol_table()
    assert table["m"] == table["b"] == table["p"] == "A" and table["f"] == table["v"] == "G"
    assert table["ɑ"] == "D" and table["u"] == "F" and table["w"] == "F" and table["ɔ"] == "E"
    assert table["O"] == "E+F" and table["A"] == "C+B" and table["l"].startswith("H")


def test_classic_shapes_for_classic_sounds():
    # "ma": closed then wide; "wee": rounded then teeth; "fa": teeth on lip; "law" with a long l: tongue up.
    assert runs(shapes(timing_of(("m", 0.12), ("ɑ", 0.3)))) == [("X", 4), ("A", 3), ("D", 7), ("X", 9)]
    assert [s for s, _ in runs(shapes(timing_of(("w", 0.12), ("i", 0.3))))] == ["X", "F", "B", "X"]
    assert [s for s, _ in runs(shapes(timing_of(("f", 0.12), ("ɑ", 0.3))))] == ["X", "G", "D", "X"]
    assert [s for s, _ in runs(shapes(timing_of(("l", 0.25), ("ɔ", 0.3))))] == ["X", "H", "E", "X"]
    # A diphthong shows both shapes: "oh" = E then F; "eye" long = D then B.
    assert [s for s, _ in runs(shapes(timing_of(("O", 0.4))))] == ["X", "E", "F", "X"]
    assert [s for s, _ in runs(shapes(timing_of(("I", 0.4))))] == ["X", "D", "B", "X"]


def test_flexible_consonants_follow_their_neighbours():
    # t between rounded vowels stays rounded; between spread vowels it shows teeth.
    assert "B" not in shapes(timing_of(("u", 0.2), ("t", 0.1), ("u", 0.2)))
    assert "F" not in shapes(timing_of(("i", 0.2), ("t", 0.1), ("i", 0.2)))
    # /h/ has no shape of its own: it takes the vowel after it ("ha" opens wide from the start).
    assert [s for s, _ in runs(shapes(timing_of(("h", 0.12), ("ɑ", 0.3))))] == ["X", "D", "X"]


def test_stress_marks_lend_their_time_to_the_next_sound():
    with_mark = shape_spans_of(timing_of(("ˈ", 0.1), ("ɑ", 0.2)))
    assert with_mark == [("X", 0.0, 0.2), ("D", 0.2, 0.5), ("X", 0.5, 0.8)]


def shape_spans_of(timing: SpeechTiming) -> list[tuple[str, float, float]]:
    return [(s.shape, round(s.start, 6), round(s.end, 6)) for s in ms.shape_spans(timing)]


def test_pauses_of_150_ms_or_more_rest_the_mouth_shorter_ones_hold_it():
    def pause(seconds: float) -> str:
        return shapes(timing_of(("ɑ", 0.3), (",", seconds), ("ɑ", 0.3)))

    assert [s for s, _ in runs(pause(0.2))] == ["X", "D", "X", "D", "X"]
    assert [s for s, _ in runs(pause(0.1))] == ["X", "D", "X"]


def test_a_bilabial_always_shows_a_closure_even_shorter_than_a_frame():
    # 20 ms "b" between open vowels at 24 fps (42 ms frames): still one frame of A, at the right place.
    timing = timing_of(("ɑ", 0.3), ("b", 0.02), ("ɑ", 0.3))
    letters = shapes(timing)
    closure = letters.index("A")
    assert letters.count("A") >= 1 and abs(closure - (0.5 * FPS - 1)) <= 1
    # Many quick closures ("bababa", 6 syllables a second): every one shows.
    quick = timing_of(*[(s, 0.08) for s in "bɑ" * 8])
    assert sum(1 for s, _ in runs(shapes(quick)) if s == "A") == 8


def test_no_shape_is_shorter_than_two_frames_except_a_closure():
    rng = random.Random(7)
    symbols = "pbmfvwuiɑæɛɔlɹtdkgsznŋOAIWhə,"
    for _ in range(50):
        timing = timing_of(*[(rng.choice(symbols), rng.uniform(0.01, 0.2)) for _ in range(40)])
        for fps in (12.0, 24.0, 30.0, 60.0):
            letters = shapes(timing, fps)
            inner = runs(letters)[1:-1]  # the clip's first and last runs may be cut by its ends
            assert all(n >= 2 or s == "A" for s, n in inner), (fps, inner)


def test_odd_timings_keep_the_frame_count_and_every_closure():
    """Zero-length and sub-frame sounds (an aligner may squeeze a phoneme to nothing), marks without sounds, clips of
    a frame or two, any fps: always exactly `frames` letters, and a closure wherever a bilabial was spoken."""
    rng = random.Random(11)
    for _ in range(3000):
        t, spans = 0.0, []
        for _ in range(rng.randint(0, 12)):
            seconds = rng.choice([0.0, 0.001, 0.01, 0.03, 0.05, 0.2])
            spans.append(Span(rng.choice("pbmɑiuˈː,h"), t, t + seconds))
            t += seconds
        duration = t + rng.choice([0.0, 0.01, 0.1])
        for fps in (1.0, 7.0, 24.0, 120.0):
            frames = max(1, math.ceil(duration * fps))
            letters = ms.shapes_from_timing(SpeechTiming(tuple(spans), (), duration), fps, frames)
            assert len(letters) == frames
            if any(s.label in "pbm" for s in spans):
                assert "A" in letters, (spans, fps, letters)


def test_shapes_look_ahead_one_frame():
    letters = shapes(timing_of(("ɑ", 0.5), start=1.0))
    assert letters.index("D") == round(1.0 * FPS) - 1


def test_boundaries_do_not_drift_over_a_long_clip():
    """10 minutes of 70 ms sounds (not a whole number of frames): the last sound still starts within one frame of
    where its time says, after the one-frame look-ahead."""
    phones = [("ɑ" if i % 2 else "m", 0.07) for i in range(8571)]
    timing = timing_of(*phones, start=0.0)
    letters = shapes(timing, 29.97)
    last_start = timing.phonemes[-1].start
    expected = round(last_start * 29.97) - 1
    found = len(letters.rstrip("X")) - len(runs(letters.rstrip("X"))[-1][0] * runs(letters.rstrip("X"))[-1][1])
    assert abs(found - expected) <= 1


def test_command_follows_alps_rules_and_the_frame_count():
    index = ms.editor_index()
    rng = random.Random(3)
    for transition in (1, 2, 3):
        for _ in range(30):
            letters = "".join(rng.choice(ms.SHAPES) * rng.randint(1, 6) for _ in range(rng.randint(1, 40)))
            segments = parse_command(ms.command_from_shapes(letters, transition), editors=8)
            assert video_frames(segments) == len(letters)
            assert frame_targets(segments) == [index[s] for s in letters]
            assert all(1 <= s.change <= transition for s in segments)


def test_the_parser_catches_what_crashes_alp():
    with pytest.raises(CommandError, match="ZeroDivisionError"):
        parse_command("1=0:5", editors=8)
    with pytest.raises(CommandError, match="Err Line 2"):
        parse_command("1=1:5\n2-1:5", editors=8)
    with pytest.raises(CommandError, match="IndexError"):
        parse_command("9=1:0", editors=8)


def test_presets_have_the_exact_form_and_stay_inside_the_editor_ranges():
    data = json.loads(ms.ASSET.read_text(encoding="utf-8"))
    assert set(data) == {"editors", "presets"} and data["editors"] == list("ABCDEFGH")
    ranges = {"aaa": (-30, 120, 1), "eee": (-20, 15, 0.2), "woo": (-20, 15, 0.2), "smile": (-0.3, 1.3, 0.01),
              "rotate_pitch": (-20, 20, 0.5)}
    for shape, preset in data["presets"].items():
        assert set(preset) == set(ranges), shape
        for name, (low, high, step) in ranges.items():
            value = preset[name]
            assert low <= value <= high, (shape, name, value)
            assert abs(value / step - round(value / step)) < 1e-6, (shape, name, value, "not on the widget's step")
        # ALP pitches the head by −0.05 per unit of aaa; the preset's rotate_pitch cancels it.
        assert preset["rotate_pitch"] == pytest.approx(0.05 * preset["aaa"])
    presets = data["presets"]
    assert presets["D"]["aaa"] > presets["C"]["aaa"] > presets["B"]["aaa"] > presets["A"]["aaa"]  # open → wider
    assert presets["F"]["woo"] > presets["E"]["woo"] > 0 and presets["B"]["eee"] > 0  # pucker, round, spread
    assert ms.editor_index() == {"X": 0, "A": 1, "B": 2, "C": 3, "D": 4, "E": 5, "F": 6, "G": 7, "H": 8}


def test_silence_is_all_rest_and_bad_input_is_refused():
    track = mouth_track(torch.zeros(1, 24000 * 2), 24000, 24.0, timing_of(("ɑ", 0.3)))
    assert track.shapes == "X" * 48 and track.source == "silence"
    assert parse_command(track.command, 8) and video_frames(parse_command(track.command, 8)) == 48
    voice = speech_like(1.0)
    for fps in (0.5, 121.0, float("nan")):
        with pytest.raises(AudioInputError, match="fps .* outside 1–120"):
            mouth_track(voice, 24000, fps)
    broken = voice.clone()
    broken[0, 100] = float("nan")
    with pytest.raises(AudioInputError, match="NaN"):
        mouth_track(broken, 24000, 24.0)


def test_timing_that_belongs_to_other_audio_falls_back_to_loudness_with_a_warning():
    voice = speech_like(1.0)
    long_timing = timing_of(("ɑ", 2.0))
    track = mouth_track(voice, 24000, 24.0, long_timing)
    assert track.source == "loudness" and "runs to 2.20 s but the voice lasts 1.00 s" in track.warning
    assert len(track.shapes) == track.frames == 24 and set(track.shapes) <= set("XBCD")


def test_loudness_mode_without_text_opens_on_syllables():
    track = mouth_track(speech_like(3.0, syllables_per_s=3.0), 24000, 24.0)
    assert track.source == "loudness" and "no timing and no text" in track.warning
    assert track.frames == 72 and len(track.shapes) == 72 and set(track.shapes) - {"X"}
    assert all(n >= 2 for _, n in runs(track.shapes)[1:-1])


def test_the_mouth_rests_until_the_clips_last_frame_and_a_shorter_clip_is_refused():
    track = mouth_track(speech_like(1.0), 24000, 24.0)
    longer = rest_until(track, 40)
    assert longer.frames == 40 and longer.shapes == track.shapes + "X" * 16
    assert video_frames(parse_command(longer.command, 8)) == 40
    assert frame_targets(parse_command(longer.command, 8))[-16:] == [0] * 16
    assert rest_until(track, track.frames) == track
    with pytest.raises(AudioInputError, match="frame_count 23 is shorter than the voice \\(24 frames"):
        rest_until(track, 23)
