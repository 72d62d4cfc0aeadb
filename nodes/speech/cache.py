"""Finished speech on disk, keyed by everything that changes the sound, so a re-run or a restarted ComfyUI does
no model work for audio it already made."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import torch

from .timing import SpeechTiming

_digests: dict[tuple[str, int, int], str] = {}


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's content, remembered per (path, size, mtime) so big model files are read once."""
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _digests:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _digests[key] = digest.hexdigest()
    return _digests[key]


def cache_key(**parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


class AudioCache:
    """float32 WAV files under `root`, named by key; writes are atomic (temp file + rename)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.wav"

    def get(self, key: str) -> tuple[torch.Tensor, int, SpeechTiming | None] | None:
        """(waveform [channels, samples], rate, timing or None), or None on a miss."""
        import soundfile

        path = self._path(key)
        if not path.is_file():
            return None
        timing_path = path.with_suffix(".timing.json")
        try:
            data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
            timing = SpeechTiming.from_json(timing_path.read_text(encoding="utf-8")) if timing_path.is_file() else None
        except Exception:  # a damaged entry is a miss, not an error
            return None
        return torch.from_numpy(data.T.copy()), int(rate), timing

    def put(self, key: str, waveform: torch.Tensor, sample_rate: int, timing: SpeechTiming | None = None) -> None:
        """Store atomically; the timing is written first, so a visible WAV always has its timing beside it."""
        import soundfile

        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        if timing is not None:
            _write_atomically(path.with_suffix(".timing.json"),
                              lambda tmp: Path(tmp).write_text(timing.to_json(), encoding="utf-8"))
        _write_atomically(path, lambda tmp: soundfile.write(tmp, waveform.T.numpy(), sample_rate, subtype="FLOAT",
                                                            format="WAV"))


def _write_atomically(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
