"""Shared fixtures: a real headless ComfyUI (session-wide), audio builders, offline model hubs."""
from __future__ import annotations

import math
import os

import pytest
import torch

from .comfy_server import ComfyServer

TOONGEN_NODE_IDS = (
    "ToonGenLoadBGM", "ToonGenLoadSFX", "ToonGenSFXEvents", "ToonGenMixAudio", "ToonGenLoudnessNormalize",
    "ToonGenAudioToFrames", "ToonGenSaveWAV", "ToonGenKokoroTTS", "ToonGenF5TTS", "ToonGenSpeak", "ToonGenScenario", "ToonGenUnloadTTS", "ToonGenLipCommand", "ToonGenMouthShapes",
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # an accidental model download must fail loudly, never hang
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def comfy(tmp_path_factory) -> ComfyServer:
    """One real ComfyUI server for the session, with this checkout in custom_nodes/. Fails (never skips) when the
    server or our nodes are missing: the import traceback is in the failure."""
    server = ComfyServer(base_dir=tmp_path_factory.mktemp("comfy"))
    server.start(expect_nodes=TOONGEN_NODE_IDS)
    yield server
    server.stop()


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
