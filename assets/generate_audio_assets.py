"""Deterministic generator of ToonGen's own music loops and sound effects (pure synthesis, no samples).

    python assets/generate_audio_assets.py      # rewrites assets/audio/bgm/*.wav and assets/audio/sfx/*.wav

Every sound is computed from code with a fixed seed, so the files are reproducible bit for bit with the same
numpy. Loops are rendered on a circular buffer (notes that ring past the end wrap to the start) and span whole
bars, so the last sample leads into the first without a seam.
"""
from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

RATE = 24_000
OUT = Path(__file__).resolve().parent / "audio"


def midi_hz(note: float) -> float:
    return 440.0 * 2.0 ** ((note - 69) / 12.0)


def one_pole_lowpass(x: np.ndarray, cutoff_hz: float) -> np.ndarray:
    a = np.exp(-2.0 * np.pi * cutoff_hz / RATE)
    y = np.empty_like(x)
    acc = 0.0
    for i, v in enumerate(x):  # short signals only (effects); music uses additive synthesis instead
        acc = (1 - a) * v + a * acc
        y[i] = acc
    return y


def fft_filter(x: np.ndarray, low_hz: float, high_hz: float) -> np.ndarray:
    """Band-pass by zeroing FFT bins (circular: keeps loops seamless)."""
    spectrum = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(len(x), 1.0 / RATE)
    spectrum[(freqs < low_hz) | (freqs > high_hz)] = 0
    return np.fft.irfft(spectrum, len(x))


class Loop:
    """A circular stereo buffer `bars` × `beats_per_bar` beats long at `bpm`."""

    def __init__(self, bpm: float, bars: int, beats_per_bar: int = 4):
        self.beat = 60.0 / bpm
        self.length = int(round(bars * beats_per_bar * self.beat * RATE))
        self.buffer = np.zeros((2, self.length))

    def add(self, start_beat: float, signal: np.ndarray, pan: float = 0.0) -> None:
        start = int(round(start_beat * self.beat * RATE))
        index = (start + np.arange(len(signal))) % self.length
        for channel, weight in enumerate((np.sqrt(0.5 - pan / 2), np.sqrt(0.5 + pan / 2))):
            np.add.at(self.buffer[channel], index, signal * weight)


def envelope(n: int, attack_s: float, decay_s: float) -> np.ndarray:
    t = np.arange(n) / RATE
    return np.minimum(1.0, t / max(attack_s, 1e-4)) * np.exp(-t / decay_s)


def tone(freq: float, seconds: float, harmonics: list[float], attack_s=0.005, decay_s=0.5, vibrato=0.0) -> np.ndarray:
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    phase = 2 * np.pi * freq * t + vibrato * np.sin(2 * np.pi * 5.5 * t)
    out = sum(a * np.sin((k + 1) * phase) for k, a in enumerate(harmonics))
    return out * envelope(n, attack_s, decay_s)


def saw(freq: float, seconds: float, partials: int = 24, detune: float = 0.0) -> np.ndarray:
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    out = np.zeros(n)
    for f in (freq * (1 - detune), freq * (1 + detune)):
        for k in range(1, partials + 1):
            if k * f < RATE / 2:
                out += np.sin(2 * np.pi * k * f * t) / k
    return out / 2


def noise_burst(rng: np.random.Generator, seconds: float, decay_s: float, low: float, high: float) -> np.ndarray:
    n = int(seconds * RATE)
    return fft_filter(rng.standard_normal(n), low, high) * envelope(n, 0.001, decay_s)


def cheesy_elevator(rng: np.random.Generator) -> np.ndarray:
    """Bossa-nova elevator music: electric-piano seventh chords, walking bass, soft brushes, a vibraphone tune."""
    loop = Loop(bpm=100, bars=14)
    progression = [[60, 64, 67, 71], [57, 60, 64, 67], [62, 65, 69, 72], [55, 59, 62, 65]] * 4  # Cmaj7 Am7 Dm7 G7
    melody = [76, 74, 72, 71, 69, 71, 72, 74, 76, 79, 77, 76, 74, 72]
    e_piano = [1.0, 0.3, 0.12, 0.05]
    for bar in range(14):
        chord = progression[bar]
        for hit in (0.0, 1.5, 2.5):
            for note in chord:
                loop.add(bar * 4 + hit, 0.06 * tone(midi_hz(note), 1.6, e_piano, decay_s=0.6), pan=-0.3)
        for beat, offset in enumerate((0, 7, 12, 7)):
            loop.add(bar * 4 + beat, 0.22 * tone(midi_hz(chord[0] - 24 + offset), 0.6, [1.0, 0.4], decay_s=0.35))
        for beat in range(8):
            loop.add(bar * 4 + beat / 2, 0.03 * noise_burst(rng, 0.12, 0.04, 3000, 9000), pan=0.4)
        loop.add(bar * 4, 0.09 * tone(midi_hz(melody[bar]), 2.2, [1.0, 0.0, 0.2, 0.0, 0.1], decay_s=1.2, vibrato=0.8), 0.2)
        loop.add(bar * 4 + 2, 0.07 * tone(midi_hz(melody[(bar + 3) % 14]), 1.8, [1.0, 0.0, 0.2], decay_s=1.0, vibrato=0.8), 0.2)
    return loop.buffer


def synth_80s(rng: np.random.Generator) -> np.ndarray:
    """Synthwave: detuned saw pads, a square-ish arpeggio, four-on-the-floor kick and a gated-reverb snare."""
    loop = Loop(bpm=120, bars=16)
    chords = [[57, 60, 64], [53, 57, 60], [48, 52, 55], [55, 59, 62]]  # Am F C G
    t = np.arange(int(0.3 * RATE)) / RATE
    kick = np.sin(2 * np.pi * (45 * t + 60 * (1 - np.exp(-t / 0.03)) * 0.03)) * envelope(len(t), 0.001, 0.12)
    for bar in range(16):
        chord = chords[(bar // 2) % 4]
        pad = sum(saw(midi_hz(n), 2.0, 16, detune=0.004) for n in chord) * envelope(2 * RATE, 0.3, 3.0)
        loop.add(bar * 4, 0.05 * fft_filter(pad, 80, 2500), pan=-0.2)
        for step in range(16):
            note = chord[step % 3] + 12 * (1 + (step // 3) % 2)
            loop.add(bar * 4 + step / 4, 0.05 * tone(midi_hz(note), 0.2, [1.0, 0, 0.33, 0, 0.2, 0, 0.14], decay_s=0.09), 0.3)
        for beat in range(4):
            loop.add(bar * 4 + beat, 0.5 * kick)
            loop.add(bar * 4 + beat, 0.2 * tone(midi_hz(chord[0] - 24), 0.45, [1.0, 0.5, 0.25], decay_s=0.25))
        for beat in (1, 3):
            snare = noise_burst(rng, 0.35, 0.09, 200, 7000) + 0.3 * tone(190, 0.35, [1.0], decay_s=0.05)
            loop.add(bar * 4 + beat, 0.22 * snare)
    return loop.buffer


def static_void_hum(rng: np.random.Generator) -> np.ndarray:
    """A dark drone: mains hum with harmonics, slowly breathing filtered static and a low detuned pad."""
    seconds = 32
    n = seconds * RATE
    t = np.arange(n) / RATE
    # Every modulation completes whole cycles in 32 s, so the loop closes.
    hum = sum(a * np.sin(2 * np.pi * f * t) for f, a in ((60, 1.0), (120, 0.5), (180, 0.3), (240, 0.15)))
    hum *= 0.6 + 0.4 * np.sin(2 * np.pi * t / 8.0)
    static = fft_filter(rng.standard_normal(n), 800, 6000) * (0.5 + 0.5 * np.sin(2 * np.pi * t / 16.0) ** 2)
    pad = sum(np.sin(2 * np.pi * f * t + np.sin(2 * np.pi * t / 32.0)) for f in (55.0, 55.0 * 1.5, 110.25))
    left = 0.08 * hum + 0.05 * static + 0.05 * pad
    right = 0.08 * hum + 0.05 * np.roll(static, RATE // 3) + 0.05 * pad
    return np.stack([left, right])


def static_glitch(rng: np.random.Generator) -> np.ndarray:
    """TV static with digital stutters and bit-crushed dropouts, 1.5 s."""
    n = int(1.5 * RATE)
    t = np.arange(n) / RATE
    hiss = fft_filter(rng.standard_normal(n), 1500, 11000)
    gate = (rng.random(n // 600 + 1) > 0.35).repeat(600)[:n]
    crushed = np.round(hiss * 4) / 4
    buzz = np.sign(np.sin(2 * np.pi * 120 * t)) * 0.3
    out = np.where(gate, crushed, 0.2 * hiss) + buzz * (t % 0.25 < 0.05)
    out *= envelope(n, 0.005, 1.2)
    return np.stack([out, np.roll(out, 37)]) * 0.45


def explosion_short(rng: np.random.Generator) -> np.ndarray:
    """A cartoon explosion, 3 s: a pitch-dropping thump, a crack of broadband noise and a rumbling tail."""
    n = 3 * RATE
    t = np.arange(n) / RATE
    thump = np.sin(2 * np.pi * (30 * t + 90 * 0.15 * (1 - np.exp(-t / 0.15)))) * envelope(n, 0.002, 0.35)
    crack = fft_filter(rng.standard_normal(n), 200, 9000) * envelope(n, 0.001, 0.12)
    rumble = one_pole_lowpass(rng.standard_normal(n), 180.0) * 6 * envelope(n, 0.02, 0.9)
    mono = 0.9 * thump + 0.5 * crack + 0.6 * rumble
    return np.stack([mono, one_pole_lowpass(np.roll(mono, 90), 4000.0)]) * 0.6


def normalize_peak(x: np.ndarray, peak: float) -> np.ndarray:
    return x * (peak / np.max(np.abs(x)))


def write_wav(path: Path, x: np.ndarray) -> None:
    pcm = np.clip(np.round(x.T * 32767), -32768, 32767).astype("<i2")
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(x.shape[0])
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())


ASSETS = {
    "bgm/cheesy_elevator.wav": (cheesy_elevator, 0.7),
    "bgm/80s_synth.wav": (synth_80s, 0.7),
    "bgm/static_void_hum.wav": (static_void_hum, 0.6),
    "sfx/static_glitch.wav": (static_glitch, 0.8),
    "sfx/explosion_short.wav": (explosion_short, 0.9),
}


def main() -> None:
    for index, (name, (make, peak)) in enumerate(sorted(ASSETS.items())):
        rng = np.random.default_rng(1000 + index)
        path = OUT / name
        write_wav(path, normalize_peak(make(rng), peak))
        print(f"wrote {path.relative_to(OUT.parent.parent)}")


if __name__ == "__main__":
    main()
