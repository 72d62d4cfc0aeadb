"""hibari "heart": a 7.9 MB ONNX voice distilled from Kokoro af_heart (US English, female), installed with its
weights from PyPI (`hibari-tts`, Apache-2.0). Its network predicts a spectrum per 12.5 ms frame and hibari's own
signal code turns that into 24 kHz audio. It reads Kokoro's phoneme alphabet, so misaki's G2P (the one Kokoro
uses) feeds it, and its duration predictor (the graph's rounded, clipped frame counts) gives the phoneme timing.

Only the voice inside the package is offered: hibari's other voices download from a hub at run time.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from .english_g2p import SpeaksWithEnglishG2P, english_g2p
from .kokoro import EngineUnavailableError, PhonemizedText, split_phoneme_ranges, timing_from_durations
from .onnx_session import create_session, run as onnx_run, with_outputs
from .onnx_variants import derived_models_dir
from .pipeline import join_utterances
from .timing import SpeechTiming, Utterance

VOICE = "hibari_heart"
SAMPLE_RATE = 24_000
MAX_PHONEMES = 400  # what hibari itself feeds the model at once
DURATION_OUTPUT = "/Clip_output_0"  # frames per input id (rounded, at least one), before the graph's CumSum
OUTPUTS = ["lh", "theta", "ln", "lr", "phi", "f0"]


class HibariEngine(SpeaksWithEnglishG2P):
    engine_id = "hibari-onnx"
    sample_rate = SAMPLE_RATE

    def __init__(self, threads: int | None = None):
        try:
            from hibari import dsp
            from hibari.voices import voice_path
        except ImportError as exc:
            raise EngineUnavailableError("the hibari voice is not installed: pip install hibari-tts "
                                         "(ComfyUI Manager does this from requirements.txt).") from exc
        self.model_path = Path(voice_path("heart", download_missing=False))
        self.vocab: dict[str, int] = json.loads((self.model_path.parent / "vocab.json").read_text(encoding="utf-8"))
        self._synth = dsp.synth
        self.session = create_session(with_outputs(self.model_path, [DURATION_OUTPUT], derived_models_dir()), threads)

    def voices(self) -> list[str]:
        return [VOICE]

    def _speak_piece(self, text: PhonemizedText, speed: float) -> Utterance:
        ids = [self.vocab[p] for p in text.phonemes if p in self.vocab]
        if not ids:
            return Utterance(torch.zeros(0), SAMPLE_RATE, SpeechTiming(source=self.engine_id))
        *spectra, frames = onnx_run(self.session, {"ids": np.array([[0, *ids, 0]], dtype=np.int64),
                                                   "speed": np.array([speed], dtype=np.float32)},
                                    [*OUTPUTS, DURATION_OUTPUT])
        lh, theta, ln, lr, phi, f0 = (np.asarray(o)[0] for o in spectra)
        # hibari's noise branch is random: a fixed seed per piece makes the same input give the same samples.
        audio = self._synth(lh, theta, ln, lr, phi, f0, np.random.default_rng(0))
        samples = torch.from_numpy(np.asarray(audio, dtype=np.float32).reshape(-1).copy())
        return Utterance(samples, SAMPLE_RATE,
                         timing_from_durations(text, self.vocab, frames, samples.shape[0], self.engine_id))

    def speak(self, text: str, voice: str = VOICE, speed: float = 1.0, british: bool = False) -> Utterance:
        """One chunk of English text → mono 24 kHz speech with its phoneme and word timing."""
        if voice != VOICE:
            raise EngineUnavailableError(f"hibari has no voice {voice!r} here; it has: {VOICE}.")
        _, tokens = english_g2p(british)(text)
        reading = PhonemizedText.from_tokens(tokens)
        return join_utterances([self._speak_piece(reading.piece(a, b), speed)
                                for a, b in split_phoneme_ranges(reading.phonemes, MAX_PHONEMES)], SAMPLE_RATE, 0.0)
