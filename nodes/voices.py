"""The voice library: reference clips (5–10 s of clean speech, WAV) with their transcripts, one per voice style.

The pack ships ten styles in assets/voices/{style}.wav + {style}.txt; users add or override styles by putting the
same pair of files into ComfyUI's models/tts/voices folder.
"""
from __future__ import annotations

from pathlib import Path

from .assets import ASSETS_DIR

PACK_VOICES_DIR = ASSETS_DIR / "voices"

VOICE_STYLES = {
    "manic_salesman": "fast, loud infomercial pitchman",
    "nervous_morty": "stuttering, cracking, anxious teenager",
    "monotone_bot": "flat, robotic",
    "whispering_creep": "quiet, breathy, unsettling",
    "excited_host": "game-show host",
    "deadpan_narrator": "dry documentary narrator",
    "angry_chef": "shouting chef",
    "surfer_dude": "laid back",
    "old_timey": "1920s radio announcer",
    "alien_visitor": "confused, overly formal",
}


class VoiceReferenceError(ValueError):
    """A reference clip or transcript that cannot be used; the message says what to fix."""


def list_voice_references(extra_dirs: list[Path] = ()) -> dict[str, Path]:
    """style → reference WAV, for every WAV that has a transcript next to it; later folders override the pack's."""
    found: dict[str, Path] = {}
    for folder in (PACK_VOICES_DIR, *map(Path, extra_dirs)):
        if folder.is_dir():
            for wav in sorted(folder.glob("*.wav")):
                if wav.with_suffix(".txt").is_file():
                    found[wav.stem] = wav
    return found


def read_transcript(reference: Path) -> str:
    path = reference.with_suffix(".txt")
    text = path.read_text(encoding="utf-8").strip() if path.is_file() else ""
    if not text:
        raise VoiceReferenceError(
            f"{path.name} is missing or empty: F5-TTS needs the exact words spoken in {reference.name}. "
            "Write them into that .txt file."
        )
    return text
