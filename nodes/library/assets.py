"""The pack's asset library (music, effects, voices, scenarios) and safe name → file resolution.

Names are what a user picks in a combo: the pack's own files by stem (`cheesy_elevator`), and audio the user drops
into ComfyUI's input folder as `input/<file name>`. A name is only ever looked up in the listing, so `../x`,
absolute paths and anything else not listed is rejected with the list of known names.
"""
from __future__ import annotations

from pathlib import Path

from ..audio.files import AUDIO_SUFFIXES

ASSETS_DIR = Path(__file__).resolve().parents[2] / "assets"
AUDIO_DIR = ASSETS_DIR / "audio"
INPUT_PREFIX = "input/"


class UnknownAssetError(ValueError):
    """A name that is not in the library; the message lists the names that are."""


def _audio_files(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES}


def list_audio_assets(kind: str, input_dir: str | Path | None = None) -> dict[str, Path]:
    """name → path for `kind` ('bgm' or 'sfx'): the pack's files, then audio files in ComfyUI's input folder."""
    if kind not in ("bgm", "sfx"):
        raise ValueError(f"unknown asset kind {kind!r}")
    found = _audio_files(AUDIO_DIR / kind)
    if input_dir is not None:
        for path in _audio_files(Path(input_dir)).values():
            found[INPUT_PREFIX + path.name] = path
    return found


def resolve_name(name: str, known: dict[str, Path], what: str) -> Path:
    """The file behind `name`, or an UnknownAssetError naming the known choices."""
    if name in known:
        return known[name]
    listing = ", ".join(known) or "(none installed)"
    hint = " Names are plain file stems, not paths." if any(c in str(name) for c in "/\\") or ".." in str(name) else ""
    raise UnknownAssetError(f"unknown {what} {name!r}.{hint} Known {what}s: {listing}.")


def check_choice(value: str, options: list[str], what: str) -> bool | str:
    """For a node's validate_inputs: True, or the error text naming the valid choices. (ComfyUI 0.3.x does not check
    V3 combo values itself, so every combo of ours is checked here.)"""
    return True if value in options else f"unknown {what} {value!r}; choose one of: {', '.join(options)}."
