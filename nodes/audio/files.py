"""Reading and writing audio files (soundfile/libsndfile: WAV, FLAC, OGG, MP3).

Errors name a file the way the user chose it (`input/x.wav`, `cheesy_elevator`), never by its path on the server:
a remote /prompt client must not learn the server's folders.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import torch

from .contract import AudioInputError, check_waveform
from .dsp import as_array

log = logging.getLogger("ToonGen")

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
# What the loaders decode at most by default: music longer than this is cut (the mixer loops it), so a two-hour
# file costs what ten minutes cost. 0 means the whole file.
DEFAULT_MAX_SECONDS = 600.0


def _reason(exc: Exception, path: Path, shown: str) -> str:
    """libsndfile's own words without the server path it quotes, and without a trailing full stop."""
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror  # without the file name it quotes
    else:
        text = getattr(exc, "error_string", None) or str(exc)
    for spelled in {str(path), path.as_posix(), str(path.resolve())}:
        text = text.replace(spelled, shown)
    return text.strip().rstrip(".") or type(exc).__name__


def _read_planar(source, frames: int) -> np.ndarray:
    """Decode `frames` frames into [channels, frames] float32 through a small interleaved buffer, so the peak
    memory is the result itself (not an interleaved copy beside it)."""
    out = np.empty((source.channels, frames), np.float32)
    buffer = np.empty((min(frames, 1 << 16), source.channels), np.float32)
    done = 0
    while done < frames:
        got = source.read(out=buffer[: min(buffer.shape[0], frames - done)])
        if got.shape[0] == 0:
            break  # fewer frames than the header promised (some MP3s)
        out[:, done:done + got.shape[0]] = got.T
        done += got.shape[0]
    return out if done == frames else np.ascontiguousarray(out[:, :done])


def load_audio_file(path: str | Path, *, name: str | None = None,
                    max_seconds: float | None = None) -> tuple[torch.Tensor, int]:
    """→ ([channels, samples] float32, sample_rate); a broken, missing or empty file is an AudioInputError that
    calls the file `name` (default: its file name). With `max_seconds` only that much is decoded from the start
    (WAV and FLAC seek, other formats stop decoding there)."""
    import soundfile

    path = Path(path)
    shown = name or path.name
    if not path.is_file():
        raise AudioInputError(f"{shown} does not exist (any more); put the file back or choose another one.")
    try:
        with soundfile.SoundFile(str(path)) as source:
            sample_rate, frames = source.samplerate, source.frames
            if max_seconds and max_seconds > 0 and frames > max_seconds * sample_rate:
                frames = math.ceil(max_seconds * sample_rate)
                log.info("ToonGen: using the first %.0f s of %s (%.0f s long); raise max_seconds to use more.",
                         max_seconds, shown, source.frames / sample_rate)
            waveform = _read_planar(source, frames)
    except (RuntimeError, OSError, soundfile.LibsndfileError) as exc:
        raise AudioInputError(
            f"cannot decode {shown}: {_reason(exc, path, shown)}. Re-export it as 16-bit PCM WAV (or FLAC)."
        ) from exc  # the cause (with the path) reaches the server log, not the client
    return check_waveform(torch.from_numpy(waveform), shown), int(sample_rate)


def save_wav_pcm16(path: str | Path, waveform: torch.Tensor, sample_rate: int, *, name: str | None = None) -> Path:
    """Write 16-bit PCM WAV (the plan's delivery format); values are clamped to [-1, 1] at the last step.
    Errors call the file `name` (default: its file name)."""
    import soundfile

    path = Path(path)
    shown = name or path.name
    samples = as_array(check_waveform(waveform, shown))
    # Interleaved 16-bit, converted exactly as libsndfile converts float (floor of × 32768, clipped) but several
    # times faster than its per-sample conversion.
    scaled = np.clip(samples.T, -1.0, 1.0)
    scaled *= np.float32(32768.0)
    np.floor(scaled, out=scaled)
    data = np.minimum(scaled, np.float32(32767.0), out=scaled).astype(np.int16)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(str(path), data, sample_rate, subtype="PCM_16", format="WAV")
    except (RuntimeError, OSError, soundfile.LibsndfileError) as exc:
        raise OSError(f"cannot write {shown}: {_reason(exc, path, shown)}; check the output folder's free space "
                      "and permissions.") from exc
    return path
