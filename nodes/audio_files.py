"""Reading and writing audio files (soundfile/libsndfile: WAV, FLAC, OGG, MP3)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .audio_contract import AudioInputError, check_waveform

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")


def load_audio_file(path: str | Path) -> tuple[torch.Tensor, int]:
    """→ ([channels, samples] float32, sample_rate); a broken or empty file is an AudioInputError."""
    import soundfile

    path = Path(path)
    try:
        data, sample_rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as exc:
        raise AudioInputError(f"cannot decode {path.name}: {exc}. Re-export it as 16-bit PCM WAV.") from exc
    waveform = torch.from_numpy(np.ascontiguousarray(data.T))
    return check_waveform(waveform, path.name), int(sample_rate)


def save_wav_pcm16(path: str | Path, waveform: torch.Tensor, sample_rate: int) -> Path:
    """Write 16-bit PCM WAV (the plan's delivery format); values are clamped to [-1, 1] at the last step."""
    import soundfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = check_waveform(waveform, path.name).clamp(-1.0, 1.0).T.numpy()
    soundfile.write(str(path), data, sample_rate, subtype="PCM_16", format="WAV")
    return path
