"""F5-TTS through f5-tts's own loaders and inference (tiny random weights in the released file layout)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ..nodes.audio.contract import AudioInputError
from ..nodes.speech.engines import f5_problem
from ..nodes.speech.f5 import REQUIRED_FILES, F5Engine, chunk_budget, prepare_reference
from ..nodes.speech.kokoro import EngineUnavailableError
from ..nodes.speech.pipeline import ChunkedSpeech
from .conftest import speech_like
from .support.tiny_models import build_f5

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def tiny_f5_dir(tmp_path_factory) -> Path:
    return build_f5(tmp_path_factory.mktemp("models") / "f5-tts")


@pytest.fixture(scope="session")
def tiny_f5(tiny_f5_dir) -> F5Engine:
    return F5Engine(tiny_f5_dir)


def test_tiny_f5_loads_through_f5_tts_and_clones(tiny_f5, narrator):
    short = tiny_f5.speak(narrator, ["Come on down."], nfe_steps=4)
    long = tiny_f5.speak(narrator, ["Come on down to Real Fake Doors, that's us, we sell fake doors."], nfe_steps=4)
    fast = tiny_f5.speak(narrator, ["Come on down to Real Fake Doors, that's us, we sell fake doors."], nfe_steps=4,
                         speed=2.0)
    assert short.dtype == torch.float32 and short.dim() == 1 and torch.isfinite(long).all()
    # f5-tts sizes the output from the reference's speaking rate: proportional to text length, inverse to speed.
    assert 3.0 < long.shape[0] / short.shape[0] < 7.0
    assert abs(fast.shape[0] / long.shape[0] - 0.5) < 0.05


def test_f5_seed_makes_it_deterministic(tiny_f5, narrator):
    first = tiny_f5.speak(narrator, ["Same words, same seed."], nfe_steps=4, seed=7)
    again = tiny_f5.speak(narrator, ["Same words, same seed."], nfe_steps=4, seed=7)
    other = tiny_f5.speak(narrator, ["Same words, same seed."], nfe_steps=4, seed=8)
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_long_text_is_chunked_within_the_f5_budget(tiny_f5, narrator):
    budget = chunk_budget(narrator, 1.0)
    seen = []

    def speak(chunk):
        seen.append(chunk)
        return tiny_f5.speak(narrator, [chunk], nfe_steps=4)

    audio = ChunkedSpeech(speak, 24000, budget)(" ".join(["Welcome to the show, folks."] * 30))
    assert len(seen) >= 4 and all(len(c) <= budget for c in seen)
    assert audio.samples.dim() == 1 and audio.samples.shape[0] > 24000 * 10 and audio.timing is None


@pytest.mark.parametrize("make, rate, text, message", [
    (lambda: torch.zeros(1, 24000 * 6), 24000, "Words.", "silent"),
    (lambda: torch.full((1, 1), 0.5), 24000, "Words.", "lasts 0.00 s"),
    (lambda: speech_like(20.0), 24000, "Words.", "cut it to 5–10 s"),
    (lambda: speech_like(6.0), 24000, "   ", "no transcript"),
])
def test_bad_references_are_clear_errors(make, rate, text, message):
    with pytest.raises(AudioInputError, match=message):
        prepare_reference(make(), rate, text)


def test_96k_stereo_reference_is_conformed():
    stereo_96k = speech_like(6.0, 96000).repeat(2, 1)
    reference = prepare_reference(stereo_96k, 96000, "Some words")
    assert reference.waveform.shape == (1, 6 * 24000) and reference.text == "Some words. "


def test_missing_f5_weights_name_every_file(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EngineUnavailableError) as info:
        F5Engine(tmp_path)
    assert str(info.value).count(str(tmp_path)) == 1
    for name in REQUIRED_FILES:
        assert name in str(info.value)
    assert "downloads are off here (HF_HUB_OFFLINE=1)" in f5_problem(tmp_path, detailed=True)
    assert "downloads are off (HF_HUB_OFFLINE=1)" in f5_problem(tmp_path)


def test_f5_inference_imports_no_training_or_ui_stack():
    probe = f"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location("toongen", {str(REPO / "__init__.py")!r},
                                              submodule_search_locations=[{str(REPO)!r}])
pack = importlib.util.module_from_spec(spec); sys.modules["toongen"] = pack; spec.loader.exec_module(pack)
from toongen.nodes.speech.f5 import import_f5_inference
import_f5_inference()
print(sorted(m for m in ("wandb", "gradio", "datasets", "bitsandbytes", "accelerate") if m in sys.modules))
"""
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_batched_chunks_match_the_librarys_single_chunk_lengths_and_are_deterministic(tiny_f5, narrator):
    texts = ["Hello there, how are you doing?", "Come on down to Real Fake Doors, that's us!", "Short one."]
    batched = tiny_f5.speak_batch(narrator, texts, nfe_steps=4, seed=3)
    again = tiny_f5.speak_batch(narrator, texts, nfe_steps=4, seed=3)
    single = [tiny_f5.speak(narrator, [t], nfe_steps=4, seed=3, cross_fade_s=0.0) for t in texts]
    assert [b.shape for b in batched] == [s.shape for s in single]  # same durations as infer_batch_process
    assert all(torch.equal(a, b) for a, b in zip(batched, again))
    assert all(torch.isfinite(b).all() for b in batched)


def test_100_load_synthesize_unload_cycles_keep_rss_flat(tiny_f5_dir, narrator):
    import gc

    import psutil

    from ..nodes.runtime import model_cache
    from ..nodes.speech.engines import f5_engine

    def cycle():
        engine = f5_engine(tiny_f5_dir)
        assert engine.speak_batch(narrator, ["One more cycle."], nfe_steps=2)[0].numel() > 0
        del engine
        model_cache.unload_models()

    def rss() -> int:
        gc.collect()
        model_cache.release_freed_heap()
        return psutil.Process().memory_info().rss

    for _ in range(5):  # warm-up: first-use caches of torch and the libraries
        cycle()
    start = rss()
    for _ in range(100):
        cycle()
    assert rss() < start * 1.05
    assert model_cache.live_count() == 0
