"""The voice library: one entry per voice style — a reference clip (5–10 s of clean speech, WAV) with its
transcript, which F5-TTS clones, and a recipe (recipes.py), which the offline voices speak when F5 cannot.

The pack ships ten styles in assets/voices/{style}.wav + .txt + .recipe.json; users add or override styles by
putting the same files into ComfyUI's models/tts/voices folder (each file overrides the pack's file of that kind;
a recipe alone makes an offline-only style).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..library.assets import ASSETS_DIR
from .recipes import RECIPE_SUFFIX, Recipe, RecipeError, load_recipe

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


@dataclass(frozen=True)
class VoiceStyle:
    name: str
    reference: Path | None = None  # <style>.wav (its transcript is the .txt beside it)
    recipe_file: Path | None = None  # <style>.recipe.json

    @property
    def transcript(self) -> Path | None:
        return self.reference.with_suffix(".txt") if self.reference else None

    def has_transcript(self) -> bool:
        return self.transcript is not None and self.transcript.is_file()

    def recipe(self) -> Recipe | None:
        return load_recipe(self.recipe_file) if self.recipe_file else None

    def problem(self) -> str | None:
        """What is wrong with the style's files (a reference without a transcript, a recipe that does not parse)."""
        if self.reference is not None and not self.has_transcript():
            return (f"voice style {self.name!r}: {self.reference.name} has no transcript. Write the exact words spoken "
                    f"in it into {self.reference.with_suffix('.txt')}.")
        try:
            self.recipe()
        except RecipeError as exc:
            return f"voice style {self.name!r}: {exc}"
        return None


def list_voice_styles(extra_dirs: list[Path] = ()) -> dict[str, VoiceStyle]:
    """style → its files; later folders override the pack's file by file (reference, recipe)."""
    references: dict[str, Path] = {}
    recipes: dict[str, Path] = {}
    for folder in (PACK_VOICES_DIR, *map(Path, extra_dirs)):
        if folder.is_dir():
            references.update((wav.stem, wav) for wav in sorted(folder.glob("*.wav")))
            recipes.update((p.name[:-len(RECIPE_SUFFIX)], p) for p in sorted(folder.glob("*" + RECIPE_SUFFIX)))
    return {name: VoiceStyle(name, references.get(name), recipes.get(name))
            for name in sorted(set(references) | set(recipes))}


def list_voice_references(extra_dirs: list[Path] = ()) -> dict[str, Path]:
    """style → reference WAV, for every style whose WAV has a transcript next to it (what F5-TTS can clone)."""
    return {name: style.reference for name, style in list_voice_styles(extra_dirs).items() if style.has_transcript()}


def read_transcript(reference: Path) -> str:
    path = reference.with_suffix(".txt")
    text = path.read_text(encoding="utf-8").strip() if path.is_file() else ""
    if not text:
        raise VoiceReferenceError(
            f"{path.name} is missing or empty: F5-TTS needs the exact words spoken in {reference.name}. "
            "Write them into that .txt file."
        )
    return text
