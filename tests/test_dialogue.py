"""Dialogue: the script's lines and pauses, checked before anything is spoken; the lines joined with natural gaps
into one track whose timing says who speaks each line; each speaker's stem; each character's mouth resting through
the others' lines."""
from __future__ import annotations

import math

import pytest
import torch

from ..nodes.audio.contract import AudioInputError
from ..nodes.audio.stems import FADE_S, speaker_gain, speaker_stem, speaker_stems
from ..nodes.mouth.shapes import REST, shapes_from_timing
from ..nodes.mouth.speakers import speaker_mouth_track, speaker_timing
from ..nodes.speech.cache import AudioCache
from ..nodes.speech.dialogue import (ESTIMATE_SOURCE, SAME_SPEAKER_GAP_S, SPEAKER_CHANGE_GAP_S, check_speaker,
                                     engines_summary, estimated_timing, join_dialogue, line_spans, silences,
                                     speak_dialogue, speaker_by_order, speakers_of, words_with_speakers)
from ..nodes.speech.pipeline import cached_speech
from ..nodes.speech.script import MAX_SPEAKERS, Pause, ScriptError, ScriptLine, parse_script
from ..nodes.speech.timing import Span, SpeechTiming, TimingError, Utterance
from ..nodes.voices.library import VOICE_STYLES

STYLES = set(VOICE_STYLES)
RATE = 24000


# --- the script ----------------------------------------------------------------------------------------------------

def test_a_script_is_lines_and_pauses_with_their_speakers():
    script = parse_script("""
        [excited_host] Welcome back to the show!
        Tonight: a very special guest.

        [pause 1.2]
        [Nervous_Morty] Th-thanks for having me.
        [deadpan_narrator]
        He was not thankful.
        [pause 0.5s]
        """, STYLES)
    assert script.items == (
        ScriptLine("excited_host", "Welcome back to the show!", 2),
        ScriptLine("excited_host", "Tonight: a very special guest.", 3),
        Pause(1.2, 5),
        ScriptLine("nervous_morty", "Th-thanks for having me.", 6),  # tags match whatever their case
        ScriptLine("deadpan_narrator", "He was not thankful.", 8),
        Pause(0.5, 9))
    assert script.speakers == ("excited_host", "nervous_morty", "deadpan_narrator")
    assert [line.line_number for line in script.lines] == [2, 3, 6, 8]


def test_untagged_first_lines_take_the_default_speaker():
    script = parse_script("Hello there.\n[angry_chef] Out of my kitchen!", STYLES, default_speaker="surfer_dude")
    assert [(line.speaker, line.text) for line in script.lines] == [("surfer_dude", "Hello there."),
                                                                   ("angry_chef", "Out of my kitchen!")]


@pytest.mark.parametrize("text, expected", [
    ("", "script is empty"),
    ("  \n\n ", "script is empty"),
    ("[pause 1]\n[excited_host]", "nothing to say"),
    ("[exited_host] Hi!", r"line 1: unknown voice style \[exited_host\]\. Did you mean \[excited_host\]\? "
                          r"Known styles: alien_visitor, angry_chef"),
    ("[excited_host] Hi!\n[nobody_at_all] Hello.", r"line 2: unknown voice style \[nobody_at_all\]\. Known styles"),
    ("[excited_host Hi!", r"line 1: the tag .* is never closed; close it with '\]'"),
    ("[excited_host] Hi! [pause 1] Again.", r"line 1: the tag \[pause 1\] is inside the text"),
    ("[excited_host] Hi [there", r"line 1: a tag is opened with '\[' but never closed"),
    ("[excited_host] Hi there]", r"line 1: a '\]' closes no tag"),
    ("[excited_host] Hi!\n[pause 10.5]", r"line 2: a pause of 10.5 s is outside 0–10 s"),
    ("[excited_host] Hi!\n[pause -1]", r"line 2: a pause of -1 s is outside 0–10 s"),
    ("[excited_host] Hi!\n[pause nan]", r"line 2: a pause of nan s is outside"),
    ("[excited_host] Hi!\n[pause long]", r"line 2: the pause 'long' is not a number of seconds; write it like "
                                         r"\[pause 0.8\]"),
    ("[excited_host] Hi!\n[pause]", r"line 2: \[pause\] needs its length in seconds"),
    ("[excited_host] Hi!\n[pause 1] and more", r"line 2: \[pause …\] stands on a line of its own"),
    ("[] Hi!", r"line 1: the tag \[\] is empty"),
    ("Hello there.\n[excited_host] Hi!", r"line 1 has no speaker: start it with a voice style tag, e.g. \["),
])
def test_every_bad_script_is_refused_naming_the_line_and_the_fix(text, expected):
    with pytest.raises(ScriptError, match=expected):
        parse_script(text, STYLES)


def test_more_than_eight_speakers_is_refused_and_an_unknown_default_too():
    styles = {f"voice_{k}" for k in range(MAX_SPEAKERS + 1)}
    script = "\n".join(f"[voice_{k}] Line {k}." for k in range(MAX_SPEAKERS))
    assert len(parse_script(script, styles).speakers) == MAX_SPEAKERS
    with pytest.raises(ScriptError, match=r"9 speakers .* at most 8 can speak in one dialogue\. Split it"):
        parse_script(script + "\n[voice_8] One too many.", styles)
    with pytest.raises(ScriptError, match="default voice style 'nobody' is unknown"):
        parse_script("Hi.", STYLES, default_speaker="nobody")


# --- joining the lines ---------------------------------------------------------------------------------------------

def test_natural_gaps_and_explicit_pauses():
    script = parse_script("[pause 0.25]\n[angry_chef] One.\nTwo.\n[surfer_dude] Three.\n[pause 0.2]\n[pause 0.3]\n"
                          "[angry_chef] Four.\n[pause 0]\n[surfer_dude] Five.\n[pause 2]", STYLES)
    before, after = silences(script)
    assert before == [0.25, SAME_SPEAKER_GAP_S, SPEAKER_CHANGE_GAP_S, 0.5, 0.0]  # pauses replace the gap and add up
    assert after == 2.0


def line_speech(words: list[str], seconds_per_word: float = 0.3, rate: int = RATE, source: str = "test-engine",
                pad: float = 0.1) -> Utterance:
    """A line as an engine speaks it: `pad` of silence, then each word a tone burst (its phonemes a closed m, then
    an open vowel), then `pad` of silence; its timing says so."""
    phonemes, spans, chunks = [], [], [torch.zeros(round(pad * rate))]
    t = pad
    for index, word in enumerate(words):
        burst = torch.arange(round(seconds_per_word * rate)) / rate
        chunks.append(0.3 * torch.sin(2 * math.pi * (150 + 30 * index) * burst))
        phonemes += [Span("m", t, t + 0.1), Span("ɑ", t + 0.1, t + seconds_per_word)]
        spans.append(Span(word, t, t + seconds_per_word))
        t += seconds_per_word
    phonemes.append(Span(".", t, t + pad))
    chunks.append(torch.zeros(round(pad * rate)))
    samples = torch.cat(chunks)
    return Utterance(samples, rate, SpeechTiming(tuple(phonemes), tuple(spans), samples.shape[0] / rate, source))


def words_of(text: str) -> list[str]:
    """The words as the engines label them: no punctuation."""
    return [word.strip(".,!?") for word in text.split()]


TWO_SPEAKERS = "[excited_host] Welcome to the show.\n[nervous_morty] Thanks.\nReally.\n[pause 0.8]\n[excited_host] Bye."


@pytest.fixture
def dialogue() -> tuple:
    script = parse_script(TWO_SPEAKERS, STYLES)
    spoken = [line_speech(words_of(line.text)) for line in script.lines]
    return script, spoken, join_dialogue(script, spoken)


def test_lines_are_joined_in_order_with_their_gaps_and_timing(dialogue):
    script, spoken, joined = dialogue
    gaps, _ = silences(script)
    assert joined.sample_rate == RATE
    expected_samples = sum(s.samples.shape[0] for s in spoken) + sum(round(g * RATE) for g in gaps)
    assert joined.samples.shape == (expected_samples,)
    position = 0
    for line, speech, gap, (speaker, start, end) in zip(script.lines, spoken, gaps, line_spans(joined.timing)):
        position += round(gap * RATE)
        assert speaker == line.speaker
        assert (round(start * RATE), round(end * RATE)) == (position, position + speech.samples.shape[0])
        assert torch.equal(joined.samples[position:position + speech.samples.shape[0]], speech.samples)
        position += speech.samples.shape[0]
    assert joined.timing.duration == pytest.approx(joined.seconds)
    assert [w.label for w in joined.timing.words] == words_of("Welcome to the show. Thanks. Really. Bye.")
    assert speakers_of(joined.timing) == ["excited_host", "nervous_morty"]
    said_by = [speaker for _, speaker in words_with_speakers(joined.timing)]
    assert said_by == ["excited_host"] * 4 + ["nervous_morty"] * 2 + ["excited_host"]
    assert joined.timing.source == "test-engine"


def test_a_dialogue_timing_round_trips_and_a_single_voice_timing_reads_as_before(dialogue):
    timing = dialogue[2].timing
    assert SpeechTiming.from_json(timing.to_json()) == timing
    assert timing.shifted(1.0).lines[0].start == pytest.approx(1.0) and timing.scaled(2.0).lines[1] == Span(
        timing.lines[1].label, timing.lines[1].start * 2, timing.lines[1].end * 2)
    single = SpeechTiming((Span("h", 0.1, 0.2),), (Span("Hey", 0.1, 0.2),), 0.3, "kokoro-onnx")
    assert "lines" not in single.to_dict()  # the cache's stored timings and their keys stay as they were
    old = {"format": 1, "source": "kokoro-onnx", "duration": 0.3, "phonemes": [["h", 0.1, 0.2]],
           "words": [["Hey", 0.1, 0.2]]}
    assert SpeechTiming.from_dict(old) == single and single.lines == ()


def test_lines_at_other_rates_are_resampled_and_untimed_lines_get_word_estimates():
    script = parse_script("[excited_host] Welcome to the show.\n[deadpan_narrator] He was, alas, not welcome.", STYLES)
    timed = line_speech(["Welcome", "to", "the", "show"])
    clone = line_speech(["x"] * 5, seconds_per_word=0.4, rate=16000)
    untimed = Utterance(clone.samples, 16000, None)  # an F5-TTS clone: audio, no timing
    joined = join_dialogue(script, [timed, untimed])
    assert joined.sample_rate == RATE
    second = joined.timing.lines[1]
    assert (second.end - second.start) == pytest.approx(clone.seconds, abs=1e-3)
    words = [(w.label, sp) for w, sp in words_with_speakers(joined.timing)]
    assert words[4:] == [(w, "deadpan_narrator") for w in ["He", "was,", "alas,", "not", "welcome."]]
    # The estimate spreads the words over the voiced part (the padding is silent), in order, by their letters.
    estimate = estimated_timing(script.lines[1].text, untimed)
    assert estimate.source == ESTIMATE_SOURCE and not estimate.phonemes
    assert estimate.words[0].start == pytest.approx(0.1, abs=2e-3) and estimate.words[-1].end == pytest.approx(
        clone.seconds - 0.1, abs=2e-3)
    assert all(a.end == pytest.approx(b.start) for a, b in zip(estimate.words, estimate.words[1:]))


def test_each_line_is_cached_on_its_own(tmp_path):
    """Editing one line re-speaks that line only."""
    cache, said = AudioCache(tmp_path), []

    def speak_line(line: ScriptLine) -> Utterance:
        def make() -> Utterance:
            said.append(line.text)
            return line_speech(words_of(line.text))
        return cached_speech(cache, {"engine": "test", "style": line.speaker, "text": line.text}, make)

    first = speak_dialogue(parse_script(TWO_SPEAKERS, STYLES), speak_line)
    assert said == ["Welcome to the show.", "Thanks.", "Really.", "Bye."]
    progress = []
    edited = speak_dialogue(parse_script(TWO_SPEAKERS.replace("Really.", "Truly, thanks."), STYLES), speak_line,
                            on_line=lambda done, total: progress.append((done, total)))
    assert said[4:] == ["Truly, thanks."] and progress == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]
    assert torch.equal(first.samples[:round(first.timing.lines[2].start * RATE)],
                       edited.samples[:round(edited.timing.lines[2].start * RATE)])


def test_engines_used_are_listed_per_line():
    script = parse_script(TWO_SPEAKERS, STYLES)
    summary = engines_summary(script.lines, ["auto: cloning excited_host.wav", "kokoro", "kokoro", "auto: cloning"])
    assert summary.splitlines()[1] == "line 2 (nervous_morty): kokoro"
    assert summary.splitlines()[3].startswith("line 5 (excited_host)")


# --- speaker stems -------------------------------------------------------------------------------------------------

def test_stems_are_each_speakers_lines_and_add_up_to_the_track(dialogue):
    _, _, joined = dialogue
    track = joined.samples.unsqueeze(0)
    spans = line_spans(joined.timing)
    stems = speaker_stems(track, RATE, spans)
    assert list(stems) == ["excited_host", "nervous_morty"]
    assert all(stem.shape == track.shape for stem in stems.values())
    assert torch.equal(sum(stems.values()), track)  # the gaps between lines are silent: exactly
    for speaker, stem in stems.items():
        for who, start, end in spans:
            a, b = round(start * RATE), round(end * RATE)
            if who == speaker:
                assert torch.equal(stem[:, a:b], track[:, a:b])  # their lines, untouched
            else:
                assert not stem[:, a:b].any()  # the others' lines, silent
        gain = speaker_gain(spans, speaker, track.shape[-1], RATE)
        fading = (gain > 0) & (gain < 1)
        assert fading.any() and not track[0, fading].any()  # it fades in the silence beside its lines


def test_stems_cross_fade_where_lines_touch_so_nothing_clicks():
    """Two speakers with no gap between them (a [pause 0]), over a loud steady tone: where they touch the stems
    cross-fade with gains that add up to 1, and no stem jumps (a hard cut would jump by the tone's amplitude)."""
    rate, half = 48000, round(FADE_S * 48000 / 2)
    t = torch.arange(rate) / rate
    track = (0.5 * torch.cos(2 * math.pi * 220 * t)).repeat(2, 1)  # at its peak where the speakers change
    spans = [("a", 0.1, 0.5), ("b", 0.5, 0.9)]
    a, change, b = 4800, 24000, 43200
    stems = speaker_stems(track, rate, spans)
    gains = {s: speaker_gain(spans, s, rate, rate) for s in "ab"}
    both = gains["a"] + gains["b"]
    assert torch.allclose(both[a:b], torch.ones(b - a), atol=1e-6, rtol=0)
    assert not both[:a - 2 * half].any() and not both[b + 2 * half:].any()
    assert torch.allclose(stems["a"] + stems["b"], track * both, atol=1e-6, rtol=0)
    assert not gains["b"][:change - half].any() and torch.all(gains["b"][change + half:b - half] == 1)
    assert gains["b"][change - half:change + half].diff().min() >= 0  # a smooth rise, no step
    hard_cut = track[0, change].abs()  # what switching without a fade would jump by
    assert stems["b"][0].diff().abs().max() < 0.1 * hard_cut
    assert stems["a"][0].diff().abs().max() < 0.1 * hard_cut


def test_stem_errors_name_the_fix(dialogue):
    _, _, joined = dialogue
    track = joined.samples.unsqueeze(0)
    with pytest.raises(AudioInputError, match=r"speaker 'angry_chef' has no line in this dialogue; its speakers are "
                                              r"excited_host, nervous_morty"):
        speaker_stem(track, RATE, line_spans(joined.timing), "angry_chef")
    with pytest.raises(AudioInputError, match="no lines: link the timing output of Script / Dialogue"):
        speaker_stem(track, RATE, [], "excited_host")
    with pytest.raises(AudioInputError, match="run to .* but the voice lasts .*; link the voice and the timing"):
        speaker_stem(track[:, :RATE], RATE, line_spans(joined.timing), "excited_host")


# --- mouths --------------------------------------------------------------------------------------------------------

def frames_inside(spans, speaker: str, fps: float, frames: int) -> list[int]:
    return [i for i in range(frames) if any(s.start <= i / fps < s.end for s in spans if s.label == speaker)]


def test_each_mouth_rests_through_the_other_speakers_words(dialogue):
    _, _, joined = dialogue
    fps, timing = 24.0, joined.timing
    frames = math.ceil(joined.seconds * fps)
    words = [Span(speaker, w.start, w.end) for w, speaker in words_with_speakers(timing)]
    for speaker, other in (("excited_host", "nervous_morty"), ("nervous_morty", "excited_host")):
        own = speaker_timing(timing, speaker)
        assert {sp for _, sp in words_with_speakers(own)} == {speaker}
        assert own.duration == timing.duration
        shapes = shapes_from_timing(own, fps, frames)
        assert all(shapes[i] == REST for i in frames_inside(words, other, fps, frames))
        assert any(shapes[i] != REST for i in frames_inside(words, speaker, fps, frames))
        track = speaker_mouth_track(joined.samples.unsqueeze(0), RATE, fps, timing, speaker.upper())
        assert track.shapes == shapes and track.source == "engine timing (test-engine)"


def test_speakers_can_be_named_by_the_order_they_first_speak(dialogue):
    *_, joined = dialogue
    timing = joined.timing
    first, second = speakers_of(timing)
    assert check_speaker(timing, "speaker 1") == first and check_speaker(timing, "speaker 2") == second
    assert speaker_timing(timing, "speaker 2") == speaker_timing(timing, second)
    with pytest.raises(TimingError, match=f"'speaker 3': this dialogue has 2 speaker\\(s\\) \\({first}, {second}\\); "
                                          "pick one of speaker 1 to speaker 2"):
        check_speaker(timing, "speaker 3")
    assert speaker_by_order()[0] == "speaker 1" and len(speaker_by_order()) == MAX_SPEAKERS


def test_a_mouth_for_a_speaker_not_in_the_dialogue_is_refused(dialogue):
    timing = dialogue[2].timing
    with pytest.raises(TimingError, match="'angry_chef' does not speak in this dialogue; its speakers are"):
        speaker_timing(timing, "angry_chef")
    with pytest.raises(TimingError, match="has no speakers .*link the timing output of Script / Dialogue"):
        check_speaker(SpeechTiming(duration=1.0), "excited_host")


# --- the real thing: two offline voices ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def spoken_dialogue():
    from ..nodes.speech.engines import embedded_kokoro

    kokoro = embedded_kokoro()
    script = parse_script("[excited_host] Come on down, that's us!\n[nervous_morty] Who are you?", STYLES)
    voices = {"excited_host": "jf_alpha", "nervous_morty": "jm_kumo"}
    return speak_dialogue(script, lambda line: kokoro.speak(line.text, voices[line.speaker], 1.0))


def test_two_offline_voices_make_one_track_with_separable_speakers_and_mouths(spoken_dialogue):
    joined = spoken_dialogue
    timing = joined.timing
    assert [sp for _, sp in words_with_speakers(timing)] == ["excited_host"] * 5 + ["nervous_morty"] * 3
    stems = speaker_stems(joined.samples.unsqueeze(0), joined.sample_rate, line_spans(timing))
    assert torch.equal(sum(stems.values()), joined.samples.unsqueeze(0))
    fps = 25.0
    for speaker, other in (("excited_host", "nervous_morty"), ("nervous_morty", "excited_host")):
        track = speaker_mouth_track(joined.samples.unsqueeze(0), joined.sample_rate, fps, timing, speaker)
        other_words = [Span(sp, w.start, w.end) for w, sp in words_with_speakers(timing)]
        assert all(track.shapes[i] == REST for i in frames_inside(other_words, other, fps, track.frames))
        assert set(track.shapes) - {REST}  # their own words open the mouth
