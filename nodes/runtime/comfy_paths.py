"""Where ToonGen's files live inside a ComfyUI install (imports ComfyUI's folder_paths)."""
from __future__ import annotations

import os
from pathlib import Path

import folder_paths

TTS_FOLDER = "tts"  # models/tts/{kokoro,f5-tts,voices}; also honoured from extra_model_paths.yaml ("tts: path")


def register_model_folders() -> None:
    """Add models/tts as a model folder without replacing paths extra_model_paths.yaml already added."""
    folder_paths.add_model_folder_path(TTS_FOLDER, os.path.join(folder_paths.models_dir, TTS_FOLDER), is_default=False)


def tts_roots() -> list[Path]:
    register_model_folders()
    return [Path(p) for p in folder_paths.get_folder_paths(TTS_FOLDER)]


def tts_subfolder(name: str) -> Path:
    """The first models/tts/<name> that exists, else the default one (where errors tell users to put files)."""
    roots = tts_roots()
    for root in roots:
        if (root / name).is_dir():
            return root / name
    return roots[0] / name


def shown_model_path(path: Path) -> str:
    """A path as ComfyUI names model files to its users: relative to the models folder (models/tts/f5-tts/…), so a
    message on the node shows no server path; a folder outside it (extra_model_paths.yaml) stays absolute."""
    try:
        return (Path("models") / Path(path).resolve().relative_to(Path(folder_paths.models_dir).resolve())).as_posix()
    except ValueError:
        return str(path)


def user_voice_dirs() -> list[Path]:
    return [root / "voices" for root in tts_roots()]


def speech_cache_dir() -> Path:
    override = os.environ.get("TOONGEN_CACHE_DIR")
    return Path(override) if override else Path(folder_paths.get_user_directory()) / "toongen" / "speech-cache"
