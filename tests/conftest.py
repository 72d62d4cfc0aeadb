"""Shared fixtures: a real headless ComfyUI (session-wide), audio builders, offline model hubs.

Tests that use the `comfy` server (directly or through another fixture) are marked `real_server`: tests/run.sh runs
the whole suite on ComfyUI 0.3.75, then `-m real_server` on every further ComfyUI version it built (0.33.0)."""
from __future__ import annotations

import math
import os
import shutil

import pytest
import torch

from .support.comfy_server import PROBE_PACK, ComfyServer, comfy_dir, comfyui_version, vhs_dir

TOONGEN_NODE_IDS = (
    "ToonGenLoadBGM", "ToonGenLoadSFX", "ToonGenSFXEvents", "ToonGenMixAudio", "ToonGenLoudnessNormalize",
    "ToonGenAudioToFrames", "ToonGenClipLength", "ToonGenSaveWAV", "ToonGenKokoroTTS", "ToonGenF5TTS", "ToonGenSpeak", "ToonGenScenario", "ToonGenUnloadTTS", "ToonGenLipCommand", "ToonGenMouthShapes",
    "ToonGenScript", "ToonGenSpeakerStem", "ToonGenCaptions", "ToonGenBurnCaptions",
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # an accidental model download must fail loudly, never hang
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")



def pytest_configure(config):
    config.addinivalue_line("markers", "real_server: drives a real ComfyUI server (run on every tested version)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "comfy" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.real_server)


def pytest_report_header(config):
    try:
        return f"ComfyUI {comfyui_version()} at {comfy_dir()}; VideoHelperSuite: {vhs_dir() or 'not unpacked'}"
    except Exception as exc:  # no server tree: the comfy fixture fails with the fix
        return f"ComfyUI: {exc}"


@pytest.fixture(scope="session")
def comfy(tmp_path_factory) -> ComfyServer:
    """One real ComfyUI server for the session, with this checkout, the test probe node and (when unpacked)
    VideoHelperSuite in custom_nodes/. Fails (never skips) when the server or our nodes are missing: the import
    traceback is in the failure."""
    extra = tuple(p for p in (PROBE_PACK, vhs_dir()) if p)
    server = ComfyServer(base_dir=tmp_path_factory.mktemp("comfy"), custom_nodes=extra)
    server.start(expect_nodes=TOONGEN_NODE_IDS + ("TestMemoryProbe",))
    yield server
    server.stop()


@pytest.fixture
def f5_weights_in_comfy(comfy):
    """Tiny F5-TTS weights in the server's models/tts/f5-tts for one test, removed afterwards."""
    from .support.tiny_models import build_f5

    folder = build_f5(comfy.base_dir / "models" / "tts" / "f5-tts")
    yield folder
    shutil.rmtree(folder)


@pytest.fixture
def torch_kokoro_in_comfy(comfy):
    """A tiny random Kokoro-82M (original-weights layout) in the server's models/tts/kokoro: the torch voices
    (af_heart, am_adam) load as ComfyUI-managed models. Freed and removed afterwards."""
    from .support.tiny_models import build_kokoro

    folder = build_kokoro(comfy.base_dir / "models" / "tts" / "kokoro")
    yield folder
    unload_tts_models(comfy)
    shutil.rmtree(folder)


def unload_tts_models(comfy) -> None:
    """Free every TTS model now, inside a prompt. (POST /free acts when ComfyUI's worker next wakes: on a loaded
    machine that can be after the next test's prompt, which then loses the model it just loaded.)"""
    comfy.run({
        "1": {"class_type": "ToonGenLoadSFX", "inputs": {"name": "static_glitch"}},
        "2": {"class_type": "ToonGenUnloadTTS", "inputs": {"value": ["1", 0], "unload_comfy_models": False,
                                                           "empty_cuda_cache": True}},
        "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 1]}}})
    state = comfy.get_json("/toongen/models")
    assert not state["loaded"] and not state["comfy_managed"], state


def tone(seconds: float, rate: int = 24000, freq: float = 220.0, amplitude: float = 0.3, channels: int = 1) -> torch.Tensor:
    t = torch.arange(int(seconds * rate)) / rate
    return (amplitude * torch.sin(2 * math.pi * freq * t)).repeat(channels, 1)


def speech_like(seconds: float, rate: int = 24000, syllables_per_s: float = 4.0, seed: int = 0) -> torch.Tensor:
    """A voiced buzz with harmonics, amplitude-modulated at syllable rate, with short pauses: loudness behaves like
    speech (gated blocks, peaky), which a pure tone does not."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * rate)) / rate
    pitch = 140 + 20 * torch.sin(2 * math.pi * 0.7 * t)
    phase = 2 * math.pi * torch.cumsum(pitch, 0) / rate
    voiced = sum(torch.sin(k * phase) / k for k in range(1, 12))
    syllables = 0.1 + 0.9 * torch.sin(math.pi * syllables_per_s * t) ** 2  # energy dips between syllables
    breath = 0.05 * torch.randn(t.shape[0], generator=g)
    return (0.25 * (voiced * syllables + breath * syllables)).unsqueeze(0)


def audio_dict(waveform: torch.Tensor, rate: int) -> dict:
    return {"waveform": waveform.unsqueeze(0).to(torch.float32), "sample_rate": rate}


@pytest.fixture(scope="session")
def narrator():
    """The deadpan_narrator reference, ready for F5-TTS."""
    from ..nodes.audio.files import load_audio_file
    from ..nodes.speech.f5 import prepare_reference
    from ..nodes.voices.library import list_voice_references, read_transcript

    path = list_voice_references()["deadpan_narrator"]
    waveform, rate = load_audio_file(path)
    return prepare_reference(waveform, rate, read_transcript(path))
