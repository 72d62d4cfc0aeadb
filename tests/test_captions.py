"""Captions from the voice's own timing: readable cues, SRT and WebVTT that parse, cover every word once and never
overlap, and cues burned onto frames that change exactly at the cue boundaries."""
from __future__ import annotations

import re

import pytest
import torch

from ..nodes.captions.burn import (CaptionInputError, CaptionStyle, burn_captions, font_path, font_size,
                                   frame_cues)
from ..nodes.captions.cues import (MAX_LINE_CHARS, MIN_CUE_S, Cue, caption_words, cue_at, cues_from_timing,
                                   display_name, wrap_lines)
from ..nodes.captions.formats import srt_timestamp, to_srt, to_vtt, vtt_timestamp, write_captions
from ..nodes.speech.timing import Span, SpeechTiming, TimingError

LONG_LINE = ("Come on down to Real Fake Doors, where every door is a fake door and every fake door is a real deal. "
             "That's us!")


def timed(lines: list[tuple[str, str, float]], seconds_per_word: float = 0.3, gap: float = 0.5,
          duration: float | None = None) -> SpeechTiming:
    """A dialogue's timing: each (speaker, text, start) line's words one after another, the punctuation after a word
    as a phoneme span (as the engines time it), the word labels without it."""
    phonemes, words, spans = [], [], []
    for speaker, text, start in lines:
        t = start
        for token in text.split():
            word = token.rstrip(",.!?")
            words.append(Span(word, t, t + seconds_per_word))
            phonemes.append(Span("ɑ", t, t + seconds_per_word))
            t += seconds_per_word
            for mark in token[len(word):]:
                phonemes.append(Span(mark, t, t + 0.05))
                t += 0.05
        spans.append(Span(speaker, start, t))
    end = duration if duration is not None else spans[-1].end + gap
    return SpeechTiming(tuple(phonemes), tuple(words), end, "test", tuple(spans) if lines[0][0] else ())


def spoken_words(cues: list[Cue]) -> list[str]:
    return [w.text for cue in cues for w in cue.words]


# --- cues ----------------------------------------------------------------------------------------------------------

def test_words_carry_the_punctuation_spoken_after_them():
    timing = timed([("", "Well, who are you?! I am... nobody.", 0.0)])
    assert [w.text for w in caption_words(timing)] == ["Well,", "who", "are", "you?!", "I", "am...", "nobody."]
    estimated = SpeechTiming((), (Span("Hello,", 0.0, 0.5), Span("there.", 0.5, 1.0)), 1.0, "estimated")
    assert [w.text for w in caption_words(estimated)] == ["Hello,", "there."]


def test_lines_wrap_into_two_balanced_lines_of_at_most_42_characters():
    assert wrap_lines(["Short", "and", "sweet."]) == ("Short and sweet.",)
    top, bottom = wrap_lines(LONG_LINE.split()[:12])
    assert len(top) <= MAX_LINE_CHARS and len(bottom) <= MAX_LINE_CHARS and abs(len(top) - len(bottom)) < 12
    assert wrap_lines(LONG_LINE.split()) is None  # 3 lines' worth: not one cue
    assert wrap_lines(["Supercalifragilisticexpialidocious-and-then-some"]) == (
        "Supercalifragilisticexpialidocious-and-then-some",)  # a word longer than a line stands alone


def test_cues_are_readable_and_cover_every_word_once_in_order():
    timing = timed([("", LONG_LINE, 0.2)])
    cues = cues_from_timing(timing)
    assert len(cues) >= 2
    assert all(1 <= len(cue.lines) <= 2 and all(len(line) <= MAX_LINE_CHARS for line in cue.lines) for cue in cues)
    assert spoken_words(cues) == LONG_LINE.split()
    assert " ".join(" ".join(cue.lines) for cue in cues) == LONG_LINE
    assert all(a.end <= b.start for a, b in zip(cues, cues[1:]))
    assert cues[0].start == pytest.approx(0.2) and cues[-1].end <= timing.duration


def test_a_new_cue_at_every_speaker_change_and_at_pauses_with_names_when_asked():
    timing = timed([("excited_host", "Welcome back!", 0.0), ("nervous_morty", "Hi.", 1.3),
                    ("nervous_morty", "It is me again.", 2.1), ("nervous_morty", "And again.", 4.1)])
    cues = cues_from_timing(timing)
    # Morty's second line follows a 0.5 s breath (< 0.6 s: the same cue); his third one a 0.8 s pause.
    assert [cue.text for cue in cues] == ["Welcome back!", "Hi. It is me again.", "And again."]
    assert [cue.speaker for cue in cues] == ["excited_host", "nervous_morty", "nervous_morty"]
    named = cues_from_timing(timing, speaker_names=True)
    assert [cue.lines[0] for cue in named] == ["Excited Host: Welcome back!", "Nervous Morty: Hi. It is me again.",
                                               "Nervous Morty: And again."]
    assert display_name("old_timey") == "Old Timey"


def test_a_short_cue_stays_a_second_where_the_silence_allows_never_over_the_next_or_past_the_end():
    timing = timed([("a", "Hi.", 0.0), ("b", "Yo.", 0.7), ("a", "Bye.", 3.0)], duration=3.6)
    first, second, last = cues_from_timing(timing)
    assert first.end == pytest.approx(second.start)  # 0.35 s of speech, held until the answer starts
    assert second.end == pytest.approx(second.start + MIN_CUE_S)  # held a full second into the silence
    assert last.end == pytest.approx(3.6)  # the audio ends 0.65 s after the cue starts
    short = cues_from_timing(timed([("", "Hi.", 0.1)], duration=0.5))
    assert short[0].start == pytest.approx(0.1) and short[0].end == pytest.approx(0.5)


def test_a_timing_without_words_is_refused():
    with pytest.raises(TimingError, match="no words to caption; link the timing of a speech node"):
        cues_from_timing(SpeechTiming(duration=1.0))


# --- SRT and WebVTT ------------------------------------------------------------------------------------------------

SRT_BLOCK = re.compile(r"(\d+)\n(\d\d):(\d\d):(\d\d),(\d\d\d) --> (\d\d):(\d\d):(\d\d),(\d\d\d)\n((?:.+\n?)+)")
VTT_BLOCK = re.compile(r"(\d\d):(\d\d):(\d\d)\.(\d\d\d) --> (\d\d):(\d\d):(\d\d)\.(\d\d\d)\n((?:.+\n?)+)")


def seconds_of(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def parse_srt(text: str) -> list[tuple[float, float, str]]:
    blocks = text.strip().split("\n\n")
    parsed = []
    for number, block in enumerate(blocks, start=1):
        match = SRT_BLOCK.fullmatch(block + "\n")
        assert match, f"not an SRT block: {block!r}"
        assert int(match.group(1)) == number
        parsed.append((seconds_of(*match.group(2, 3, 4, 5)), seconds_of(*match.group(6, 7, 8, 9)),
                       match.group(10).strip()))
    return parsed


def parse_vtt(text: str) -> list[tuple[float, float, str]]:
    header, *blocks = text.strip().split("\n\n")
    assert header == "WEBVTT"
    parsed = []
    for block in blocks:
        match = VTT_BLOCK.fullmatch(block + "\n")
        assert match, f"not a WebVTT cue: {block!r}"
        parsed.append((seconds_of(*match.group(1, 2, 3, 4)), seconds_of(*match.group(5, 6, 7, 8)),
                       match.group(9).strip()))
    return parsed


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


@pytest.mark.parametrize("speaker_names", [False, True])
def test_srt_and_vtt_parse_cover_every_word_once_never_overlap_and_lie_inside_the_audio(speaker_names):
    timing = timed([("excited_host", LONG_LINE, 0.0), ("nervous_morty", "Wait, what? A <fake> door & a real one?", 9.0),
                    ("excited_host", "Yes.", 13.0)])
    cues = cues_from_timing(timing, speaker_names=speaker_names)
    for parsed, text_of in ((parse_srt(to_srt(cues)), lambda t: t), (parse_vtt(to_vtt(cues)), unescape)):
        assert len(parsed) == len(cues)
        assert all(0 <= start < end <= timing.duration + 5e-4 for start, end, _ in parsed)
        assert all(a[1] <= b[0] for a, b in zip(parsed, parsed[1:]))
        shown = " ".join(text_of(text).replace("\n", " ") for _, _, text in parsed)
        if speaker_names:
            shown = re.sub(r"(Excited Host|Nervous Morty): ", "", shown)
        assert shown.split() == [w.text for w in caption_words(timing)]


def test_timestamps_and_escaping():
    assert srt_timestamp(3723.4567) == "01:02:03,457" and vtt_timestamp(0.0006) == "00:00:00.001"
    assert srt_timestamp(-0.2) == "00:00:00,000"
    cue = Cue(1.0, 2.5, ("a <b> & c --> d",), "", ())
    assert to_srt([cue]) == "1\n00:00:01,000 --> 00:00:02,500\na <b> & c -> d\n"
    assert to_vtt([cue]) == "WEBVTT\n\n00:00:01.000 --> 00:00:02.500\na &lt;b&gt; &amp; c --&gt; d\n"
    assert to_vtt([]) == "WEBVTT\n\n" and to_srt([]) == ""


def test_caption_files_are_written_side_by_side(tmp_path):
    cues = cues_from_timing(timed([("", "Hello there.", 0.0)]))
    srt_path, vtt_path = write_captions(tmp_path / "toongen", "dialogue_00001_", to_srt(cues), to_vtt(cues))
    assert srt_path == tmp_path / "toongen" / "dialogue_00001_.srt" and vtt_path.suffix == ".vtt"
    assert parse_srt(srt_path.read_text(encoding="utf-8"))[0][2] == "Hello there."
    assert parse_vtt(vtt_path.read_text(encoding="utf-8"))[0][2] == "Hello there."
    assert sorted(p.name for p in (tmp_path / "toongen").iterdir()) == ["dialogue_00001_.srt", "dialogue_00001_.vtt"]


# --- burned onto frames --------------------------------------------------------------------------------------------

def gradient_frames(frames: int, height: int = 120, width: int = 200) -> torch.Tensor:
    """Frames that all differ (a moving gradient), so a frame left alone is recognisable."""
    y = torch.linspace(0, 1, height).view(1, height, 1, 1)
    x = torch.linspace(0, 1, width).view(1, 1, width, 1)
    t = torch.arange(frames).view(frames, 1, 1, 1) / frames
    shape = (frames, height, width, 1)
    return torch.cat([((x + t) % 1).expand(shape), y.expand(shape), (x * y).expand(shape)], -1)


def test_burned_captions_change_exactly_at_the_cue_boundaries():
    fps = 10.0
    cues = [Cue(0.25, 1.0, ("First",), "", ()), Cue(1.0, 1.8, ("Second", "cue"), "", ()),
            Cue(2.35, 3.0, ("Third",), "", ())]
    images = gradient_frames(35)
    burned = burn_captions(images, cues, fps)
    assert burned.shape == images.shape and burned.dtype == images.dtype
    changed = [i for i in range(35) if not torch.equal(burned[i], images[i])]
    expected = [i for i in range(35) if cue_at(cues, i / fps) is not None]
    assert changed == expected == [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 24, 25, 26, 27, 28, 29]
    overlay = burned - images
    shown = frame_cues(cues, 35, fps)
    for i in range(1, 35):
        if shown[i] is not None and shown[i] is shown[i - 1]:
            # The same cue: the same text in the same place (only the picture under it moved).
            assert torch.equal(overlay[i] != 0, overlay[i - 1] != 0)
    assert not torch.equal(overlay[9] != 0, overlay[10] != 0)  # "First" → "Second cue" between frames 9 and 10
    assert torch.equal(burned[18:24], images[18:24]) and torch.equal(images, gradient_frames(35))  # input untouched


@pytest.mark.parametrize("background", ["outline", "box"])
@pytest.mark.parametrize("shade", [0.0, 0.5, 1.0])
def test_captions_read_on_any_background(background, shade):
    images = torch.full((1, 180, 320, 3), shade)
    burned = burn_captions(images, [Cue(0.0, 1.0, ("Readable on anything",), "", ())], 24.0,
                           CaptionStyle(background=background))[0]
    level = burned.mean(-1)
    assert (level > 0.95).sum() > 100 and (level < 0.35).sum() > 100  # white letters on an outline or a box
    rows = (burned != images[0]).any(-1).any(-1).nonzero().view(-1)
    assert rows.min() > 180 * 0.6 and rows.max() < 180  # near the bottom
    columns = (burned != images[0]).any(-1).any(0).nonzero().view(-1)
    assert abs((columns.min() + columns.max()) / 2 - 160) <= 3  # centred


def test_long_lines_shrink_to_fit_a_narrow_frame():
    cue = Cue(0.0, 1.0, ("Come on down to Real Fake Doors, that's us!",), "", ())
    assert font_size([cue], 320, 400, CaptionStyle()) < font_size([cue], 1000, 400, CaptionStyle())
    burned = burn_captions(torch.zeros(1, 400, 320, 3) + 0.5, [cue], 24.0)[0]
    assert torch.equal(burned[:, :8], torch.full((400, 8, 3), 0.5))  # nothing drawn at the frame's edges
    assert torch.equal(burned[:, -8:], torch.full((400, 8, 3), 0.5))


def test_frames_or_settings_that_cannot_take_captions_are_refused():
    cues = [Cue(0.0, 1.0, ("Hi",), "", ())]
    with pytest.raises(CaptionInputError, match=r"IMAGE batch \[frames, height, width, 3\]"):
        burn_captions(torch.zeros(64, 64, 3), cues, 24.0)
    with pytest.raises(CaptionInputError, match="empty"):
        burn_captions(torch.zeros(0, 64, 64, 3), cues, 24.0)
    with pytest.raises(CaptionInputError, match="fps 0.0 is outside"):
        burn_captions(torch.zeros(1, 64, 64, 3), cues, 0.0)
    with pytest.raises(CaptionInputError, match="background 'glow' is unknown"):
        burn_captions(torch.zeros(1, 64, 64, 3), cues, 24.0, CaptionStyle(background="glow"))


def test_the_font_ships_with_a_dependency():
    assert font_path().is_file() and font_path().name == "DejaVuSans-Bold.ttf"
