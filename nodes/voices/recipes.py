"""Voice-style recipes: how the offline voices play a style's character when F5-TTS cannot clone its reference.

A recipe is a small JSON file beside the style's reference, `<style>.recipe.json` (the pack's assets/voices, or
ComfyUI's models/tts/voices, where a file overrides the pack's of the same name):

    {
      "voice": "piper_joe",          one installed offline voice (see the Voice node's list) …
      "blend": {"timbre": {"jm_kumo": 1}, "prosody": {"jf_alpha": 1}},
                                     … or instead a mix of the embedded Kokoro voices: "timbre" (who speaks) and
                                     "prosody" (how: pitch, melody) each a weighted mix; {"jm_kumo": 1,
                                     "jf_alpha": 1} mixes whole voices
      "speed": 1.2,                  speaking rate, 0.5–2.0 (1 = the voice's own)
      "pitch": 1.1,                  pitch and formants together (a bigger or smaller speaker), 0.5–2.0; the tempo
                                     stays `speed`
      "formant": 1.0,                spectral envelope alone (vocal-tract size at the same pitch), 0.7–1.4
      "effect": "drive",             none | drive | radio | robot | whisper | wobble
      "effect_amount": 0.5,          0–1
      "loudness": -16,               integrated loudness of the rendition in LUFS (-40 … -9)
      "language": "en-us"            en-us or en-gb pronunciation
    }

Only "voice" or "blend" is required. Parsing checks types and ranges; `check_voices` checks that the voices are
installed. Every error names the file, the problem and the fix.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Collection

RECIPE_SUFFIX = ".recipe.json"
EFFECTS = ("none", "drive", "radio", "robot", "whisper", "wobble")
LANGUAGES = ("en-us", "en-gb")
HALVES = ("timbre", "prosody")
RANGES = {"speed": (0.5, 2.0), "pitch": (0.5, 2.0), "formant": (0.7, 1.4), "effect_amount": (0.0, 1.0),
          "loudness": (-40.0, -9.0)}
FIELDS = ("voice", "blend", "speed", "pitch", "formant", "effect", "effect_amount", "loudness", "language", "comment")


class RecipeError(ValueError):
    """A recipe that cannot be used; the message names the file, the problem and the fix."""


@dataclass(frozen=True)
class Recipe:
    voice: str = ""
    # (half, voice, weight) with half "timbre" or "prosody"; weights of each half sum to 1.
    blend: tuple[tuple[str, str, float], ...] = ()
    speed: float = 1.0
    pitch: float = 1.0
    formant: float = 1.0
    effect: str = "none"
    effect_amount: float = 0.5
    loudness: float | None = None
    language: str = "en-us"

    @property
    def british(self) -> bool:
        return self.language == "en-gb"

    def voices(self) -> list[str]:
        return [self.voice] if self.voice else sorted({v for _, v, _ in self.blend})

    def key(self) -> dict:
        """Everything that changes the sound (for cache keys)."""
        return asdict(self)

    def describe(self) -> str:
        """'piper_joe, speed 1.2, pitch ×1.1, drive 0.5, -16 LUFS' — for the log and the node's engine_used."""
        if self.voice:
            who = self.voice
        else:
            halves = {h: "+".join(f"{v}" if w == 1 else f"{w:g}·{v}" for half, v, w in self.blend if half == h)
                      for h in HALVES}
            who = (f"blend of {halves['timbre']}" if halves["timbre"] == halves["prosody"]
                   else f"{halves['timbre']} timbre with {halves['prosody']} prosody")
        parts = [who, f"speed {self.speed:g}"]
        if self.pitch != 1:
            parts.append(f"pitch ×{self.pitch:g}")
        if self.formant != 1:
            parts.append(f"formant ×{self.formant:g}")
        if self.effect != "none":
            parts.append(f"{self.effect} {self.effect_amount:g}")
        if self.loudness is not None:
            parts.append(f"{self.loudness:g} LUFS")
        if self.british:
            parts.append("en-gb")
        return ", ".join(parts)


def recipe_path(reference_or_folder: Path, style: str | None = None) -> Path:
    folder = reference_or_folder if style is not None else reference_or_folder.parent
    return folder / f"{style if style is not None else reference_or_folder.stem}{RECIPE_SUFFIX}"


def _number(data: dict, name: str, default: float | None, where: str) -> float | None:
    value = data.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RecipeError(f"{where}: {name} must be a number, got {value!r}.")
    low, high = RANGES[name]
    if not low <= value <= high:
        raise RecipeError(f"{where}: {name} {value:g} is outside {low:g}–{high:g}; set a value in that range.")
    return float(value)


def _mix(weights, half: str, where: str) -> list[tuple[str, str, float]]:
    if not isinstance(weights, dict) or not weights:
        raise RecipeError(f"{where}: the blend's {half} is a mix of nothing; give voices with weights, e.g. "
                          '{"jm_kumo": 0.7, "jf_alpha": 0.3}.')
    for voice, weight in weights.items():
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
            raise RecipeError(f"{where}: blend weight of {voice!r} must be a number ≥ 0, got {weight!r}.")
    total = float(sum(weights.values()))
    if total <= 0:
        raise RecipeError(f"{where}: the blend's {half} weights add up to 0 (a mix of nothing); give at least one "
                          "voice a positive weight.")
    return [(half, str(voice), float(weight) / total) for voice, weight in sorted(weights.items()) if weight > 0]


def parse_recipe(data, where: str = "recipe") -> Recipe:
    """A recipe from its JSON value; RecipeError (naming `where`) for anything wrong in it."""
    if not isinstance(data, dict):
        raise RecipeError(f"{where}: a recipe is a JSON object like {{\"voice\": \"jm_kumo\", \"speed\": 1.1}}.")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise RecipeError(f"{where}: unknown field {', '.join(map(repr, unknown))}; recipe fields are "
                          f"{', '.join(FIELDS)}.")
    voice, blend = data.get("voice"), data.get("blend")
    if voice is not None and blend is not None:
        raise RecipeError(f"{where}: give either \"voice\" or \"blend\", not both.")
    if voice is None and blend is None:
        raise RecipeError(f"{where}: no voice: add \"voice\": \"<an installed voice>\" or a \"blend\".")
    parts: list[tuple[str, str, float]] = []
    if voice is not None:
        if not isinstance(voice, str) or not voice.strip():
            raise RecipeError(f"{where}: voice must be a voice name, got {voice!r}.")
    else:
        if not isinstance(blend, dict) or not blend:
            raise RecipeError(f"{where}: the blend is a mix of nothing; give voices with weights, e.g. "
                              '{"timbre": {"jm_kumo": 1}, "prosody": {"jf_alpha": 1}}.')
        if set(blend) & set(HALVES):
            extra = sorted(set(blend) - set(HALVES))
            if extra:
                raise RecipeError(f"{where}: a blend has either timbre/prosody mixes or voice weights, not both "
                                  f"(found {', '.join(extra)}).")
            timbre = blend.get("timbre", blend.get("prosody"))
            prosody = blend.get("prosody", blend.get("timbre"))
            parts = _mix(timbre, "timbre", where) + _mix(prosody, "prosody", where)
        else:
            whole = _mix(blend, "timbre", where)
            parts = whole + [("prosody", v, w) for _, v, w in whole]
    effect = data.get("effect", "none")
    if effect not in EFFECTS:
        raise RecipeError(f"{where}: unknown effect {effect!r}; choose one of {', '.join(EFFECTS)}.")
    language = data.get("language", "en-us")
    if language not in LANGUAGES:
        raise RecipeError(f"{where}: unknown language {language!r}; choose {' or '.join(LANGUAGES)}.")
    return Recipe(voice=(voice or "").strip(), blend=tuple(parts), speed=_number(data, "speed", 1.0, where),
                  pitch=_number(data, "pitch", 1.0, where), formant=_number(data, "formant", 1.0, where),
                  effect=effect, effect_amount=_number(data, "effect_amount", 0.5, where),
                  loudness=_number(data, "loudness", None, where), language=language)


def load_recipe(path: Path) -> Recipe:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise RecipeError(f"{path}: cannot be read ({exc.strerror or exc}).") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RecipeError(f"{path}: not valid JSON ({exc}); see the recipe format in the README.") from exc
    return parse_recipe(data, str(path))


def check_voices(recipe: Recipe, installed: Collection[str], blendable: Collection[str], where: str = "recipe") -> None:
    """RecipeError when the recipe names a voice that is not installed here, or blends voices that cannot blend."""
    if recipe.voice:
        if recipe.voice not in installed:
            raise RecipeError(f"{where}: voice {recipe.voice!r} is not installed; installed voices: "
                              f"{', '.join(sorted(installed)) or 'none'}. Name one of them, or install the voice.")
        return
    wrong = sorted({v for _, v, _ in recipe.blend} - set(blendable))
    if wrong:
        raise RecipeError(f"{where}: cannot blend {', '.join(wrong)}: blends mix the embedded Kokoro voices "
                          f"({', '.join(sorted(blendable)) or 'none installed'}).")
