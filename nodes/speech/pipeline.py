"""Text → speech orchestration shared by the speech nodes: chunking, the disk cache, progress/interrupt between
chunks, cross-faded joins, and the auto/f5_tts/kokoro choice of the plan."""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ..audio.contract import check_waveform
from ..audio.dsp import limit_peaks
from .cache import AudioCache, cache_key
from .text_chunks import chunk_text, clean_text
from .timing import TIMING_FORMAT, Utterance, join_timings

log = logging.getLogger("ToonGen")

ENGINES = ("auto", "f5_tts", "kokoro")
DEFAULT_KOKORO_VOICE = "af_heart"
PEAK_CEILING = 0.99


class ReferenceMissingError(FileNotFoundError):
    """An explicit F5-TTS request whose voice reference does not exist."""


def crossfade_offsets(lengths: list[int], sample_rate: int, crossfade_s: float) -> tuple[list[int], int]:
    """Where each clip starts when neighbours overlap by an equal-power cross-fade (clamped to the shorter clip's
    half), and the joined length."""
    offsets, total = [], 0
    for index, length in enumerate(lengths):
        overlap = 0 if index == 0 else min(int(crossfade_s * sample_rate), total // 2, length // 2)
        offsets.append(total - overlap)
        total += length - overlap
    return offsets, total


def join_with_crossfade(pieces: list[torch.Tensor], sample_rate: int, crossfade_s: float) -> torch.Tensor:
    """Concatenate 1-D clips, overlapping neighbours by an equal-power cross-fade (clamped to the shorter clip)."""
    pieces = [p for p in pieces if p.numel()]
    if not pieces:
        return torch.zeros(0)
    out = pieces[0]
    for piece in pieces[1:]:
        n = min(int(crossfade_s * sample_rate), out.shape[0] // 2, piece.shape[0] // 2)
        if n <= 0:
            out = torch.cat([out, piece])
            continue
        t = torch.linspace(0.0, 1.0, n + 2)[1:-1]
        overlap = out[-n:] * torch.cos(t * math.pi / 2) + piece[:n] * torch.sin(t * math.pi / 2)
        out = torch.cat([out[:-n], overlap, piece[n:]])
    return out


def join_utterances(pieces: list[Utterance], sample_rate: int, crossfade_s: float) -> Utterance:
    """Cross-faded join of chunks; the timing of each chunk moves to where its samples landed (kept only when every
    chunk has timing)."""
    pieces = [p for p in pieces if p.samples.numel()]
    samples = join_with_crossfade([p.samples for p in pieces], sample_rate, crossfade_s)
    offsets, total = crossfade_offsets([p.samples.shape[0] for p in pieces], sample_rate, crossfade_s)
    timing = None
    if pieces and all(p.timing is not None for p in pieces):
        timing = join_timings([(p.timing, offset / sample_rate) for p, offset in zip(pieces, offsets)],
                              total / sample_rate)
    return Utterance(samples, sample_rate, timing)


def as_utterance(spoken: torch.Tensor | Utterance, sample_rate: int) -> Utterance:
    """Engines return an Utterance, or bare samples when they know no timing (F5-TTS)."""
    if isinstance(spoken, Utterance):
        if spoken.sample_rate != sample_rate:
            raise ValueError(f"engine spoke at {spoken.sample_rate} Hz, expected {sample_rate} Hz")
        return Utterance(spoken.samples.reshape(-1).to(torch.float32), sample_rate, spoken.timing)
    return Utterance(spoken.reshape(-1).to(torch.float32), sample_rate, None)


@dataclass
class ChunkedSpeech:
    """Speaks long text in chunks: `speak_chunk(text) -> Utterance | 1-D samples`, or, when the engine can batch,
    `speak_batch(texts) -> [Utterance | 1-D samples]` over `batch_size` chunks at a time. `on_chunk(done, total)`
    runs before each batch and once at the end (it may raise to stop: ComfyUI's interrupt)."""

    speak_chunk: Callable[[str], torch.Tensor | Utterance] | None
    sample_rate: int
    max_chars: int
    crossfade_s: float = 0.03
    on_chunk: Callable[[int, int], None] | None = None
    speak_batch: Callable[[list[str]], list[torch.Tensor | Utterance]] | None = None
    batch_size: int = 1

    def __call__(self, text: str) -> Utterance:
        """→ the whole text as one peak-limited mono Utterance (samples 1-D, timing when the engine gives it)."""
        chunks = chunk_text(clean_text(text), self.max_chars)
        step = max(1, self.batch_size) if self.speak_batch else 1
        pieces: list[Utterance] = []
        for start in range(0, len(chunks), step):
            if self.on_chunk:
                self.on_chunk(start, len(chunks))
            group = chunks[start:start + step]
            spoken = self.speak_batch(group) if self.speak_batch else [self.speak_chunk(group[0])]
            pieces.extend(as_utterance(p, self.sample_rate) for p in spoken)
        if self.on_chunk:
            self.on_chunk(len(chunks), len(chunks))
        joined = join_utterances(pieces, self.sample_rate, self.crossfade_s)
        waveform = check_waveform(joined.samples.unsqueeze(0), "synthesized speech")
        limited = limit_peaks(waveform, self.sample_rate, PEAK_CEILING)
        return Utterance(limited.reshape(-1), self.sample_rate, joined.timing)


def cached_speech(cache: AudioCache | None, key_parts: dict, make: Callable[[], Utterance]) -> Utterance:
    """Return the cached speech for `key_parts` (audio and timing), or make it, store it and return it."""
    if cache is None:
        return make()
    # The timing format is part of the key: entries written before timing existed (or in another format) are
    # misses, never audio whose timing silently went missing.
    key = cache_key(**key_parts, timing_format=TIMING_FORMAT)
    hit = cache.get(key)
    if hit is not None:
        waveform, rate, timing = hit
        return Utterance(waveform.reshape(-1), rate, timing)
    spoken = make()
    cache.put(key, spoken.samples.unsqueeze(0), spoken.sample_rate, spoken.timing)
    return spoken


@dataclass(frozen=True)
class EngineChoice:
    engine: str                # "f5_tts" or "kokoro"
    reference: Path | None     # the voice reference F5 clones (None for Kokoro)
    reason: str                # why, for the log and the node's output


def choose_engine(requested: str, style: str, references: dict[str, Path], f5_problem: str | None) -> EngineChoice:
    """The plan's rules. `references` maps voice styles to reference clips that exist; `f5_problem` says why F5
    cannot run here (package or weights missing), or is None when it can. engine "kokoro" in the result means the
    offline voices (the style's recipe, or the kokoro_voice widget when no style is given).

    auto: clone with F5 when the style's reference exists and F5 can run, else the offline voices, with a warning
    that says why.
    f5_tts: a missing reference or an F5 that cannot run is an error, never a silent fallback.
    kokoro: never touches F5.
    """
    if requested not in ENGINES:
        raise ValueError(f"unknown engine {requested!r}; choose one of {', '.join(ENGINES)}.")
    if requested == "kokoro":
        return EngineChoice("kokoro", None, "engine=kokoro")
    style = (style or "").strip()
    reference = references.get(style) if style else None
    if requested == "f5_tts":
        if reference is None:
            known = ", ".join(sorted(references)) or "none installed"
            raise ReferenceMissingError(
                f"engine f5_tts needs a voice reference, and voice style {style!r} has none. Known styles: {known}. "
                "Add <style>.wav + <style>.txt to models/tts/voices, pick a known style, or use engine auto/kokoro."
            )
        if f5_problem:
            raise RuntimeError(f"engine f5_tts cannot run: {f5_problem}")
        return EngineChoice("f5_tts", reference, f"engine=f5_tts, cloning {reference.name}")
    if reference is None:
        why = f"voice style {style!r} has no reference clip" if style else "no voice style given"
    elif f5_problem:
        why = f"F5-TTS cannot run ({f5_problem})"
    else:
        return EngineChoice("f5_tts", reference, f"auto: cloning {reference.name} with F5-TTS")
    if style:  # with no style at all the offline voice is simply what was asked for
        log.warning("ToonGen Speak: %s; falling back to the offline voices.", why)
    return EngineChoice("kokoro", None, f"auto: offline voice because {why}")
