"""Caption cues as SubRip (.srt) and WebVTT (.vtt) text, and the two files written side by side."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Sequence

from .cues import Cue


def _clock(seconds: float, separator: str) -> str:
    """HH:MM:SS<separator>mmm, rounded to the millisecond (the same rounding everywhere, so cues that touch still
    touch and never overlap)."""
    ms = max(0, round(seconds * 1000))
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{ms:03d}"


def srt_timestamp(seconds: float) -> str:
    return _clock(seconds, ",")


def vtt_timestamp(seconds: float) -> str:
    return _clock(seconds, ".")


def _srt_line(line: str) -> str:
    # SubRip has no escapes: only an arrow inside the text could be read as a timing line.
    return " ".join(line.split()).replace("-->", "->")


def _vtt_line(line: str) -> str:
    text = " ".join(line.split())
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_srt(cues: Sequence[Cue]) -> str:
    blocks = [f"{index}\n{srt_timestamp(cue.start)} --> {srt_timestamp(cue.end)}\n"
              + "\n".join(_srt_line(line) for line in cue.lines)
              for index, cue in enumerate(cues, start=1)]
    return "\n\n".join(blocks) + "\n" if blocks else ""


def to_vtt(cues: Sequence[Cue]) -> str:
    blocks = [f"{vtt_timestamp(cue.start)} --> {vtt_timestamp(cue.end)}\n"
              + "\n".join(_vtt_line(line) for line in cue.lines)
              for cue in cues]
    return "WEBVTT\n\n" + "\n\n".join(blocks) + ("\n" if blocks else "")


def _write_text(path: Path, text: str) -> None:
    """Whole or not at all: a reader never sees half a caption file."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_captions(folder: str | Path, stem: str, srt: str, vtt: str) -> tuple[Path, Path]:
    """`folder/stem.srt` and `folder/stem.vtt` (the folder is made when missing) → their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = folder / f"{stem}.srt", folder / f"{stem}.vtt"
    for path, text in zip(paths, (srt, vtt)):
        _write_text(path, text)
    return paths
