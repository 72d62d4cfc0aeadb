"""Renders ToonGen's ten voice-style reference clips (assets/voices/{style}.wav + {style}.txt).

    python assets/generate_voice_library.py

Nobody was recorded: every clip is synthesized offline by the pack's embedded Kokoro-82M (int8 ONNX from PyPI,
Apache-2.0) from a line we wrote, then shaped to suit the style — voice pack, speaking rate, a pitch/formant shift
by resampling, loudness, and for a few styles an effect (radio band-pass, robot ring modulation, shouty drive).
The same inputs give the same files.
"""
from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
RATE = 24_000


def load_pack():
    """Import this checkout as the package `toongen` (its modules use relative imports)."""
    spec = importlib.util.spec_from_file_location("toongen", REPO / "__init__.py", submodule_search_locations=[str(REPO)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["toongen"] = module
    spec.loader.exec_module(module)
    return module


# style: (embedded voice, Kokoro speed, pitch factor, target LUFS, effect, line)
STYLES = {
    "manic_salesman": ("jm_kumo", 1.3, 1.08, -14.0, "drive",
                       "Folks, this deal is so good it's practically illegal! Call now, operators are screaming, "
                       "and every third caller gets a second free blender!"),
    "nervous_morty": ("jf_nezumi", 1.1, 1.1, -20.0, None,
                      "Oh, oh jeez, I, I don't know about this. This seems, um, really, really dangerous, "
                      "you know? Can we go home?"),
    "monotone_bot": ("jm_kumo", 0.95, 0.9, -20.0, "robot",
                     "Greetings, human. Your satisfaction has been calculated at forty seven percent. "
                     "Please remain calm."),
    "whispering_creep": ("jf_tebukuro", 0.85, 0.96, -30.0, "breath",
                         "Shh. Don't turn around. I have been watching your lawn grow for three days now, "
                         "and it is beautiful."),
    "excited_host": ("jf_alpha", 1.2, 1.05, -16.0, None,
                     "Welcome back to Guess That Dimension! Our next contestant has one minute to name "
                     "every kind of cheese in the universe! Let's go!"),
    "deadpan_narrator": ("jm_kumo", 0.9, 0.85, -20.0, None,
                         "The common office worker rarely leaves its cubicle. Here, one attempts "
                         "to microwave fish."),
    "angry_chef": ("jm_kumo", 1.2, 0.95, -13.0, "drive",
                   "What is this? This soup is raw! It's a liquid and it's still raw! "
                   "Get out of my kitchen!"),
    "surfer_dude": ("jm_kumo", 0.85, 0.9, -20.0, None,
                    "Whoa, dude, the waves in this dimension are like, totally made of jelly. "
                    "Gnarly, but sticky."),
    "old_timey": ("jf_gongitsune", 1.15, 1.0, -18.0, "radio",
                  "Good evening, ladies and gentlemen, and welcome to the radio hour, brought to you by "
                  "Doctor Wiggles' Miracle Tonic!"),
    "alien_visitor": ("jf_alpha", 0.9, 1.25, -20.0, None,
                      "Greetings, Earth citizen. I have come to purchase one of your famous hot dogs. "
                      "Is the dog hot? Please advise."),
}


def shift_pitch(waveform: torch.Tensor, factor: float, resample) -> torch.Tensor:
    """Raise (factor > 1) or lower pitch and formants by resampling: play the clip back `factor` times faster."""
    if factor == 1.0:
        return waveform
    return resample(waveform, int(round(RATE * factor)), RATE)


def apply_effect(waveform: torch.Tensor, effect: str | None) -> torch.Tensor:
    t = torch.arange(waveform.shape[-1]) / RATE
    if effect == "robot":  # ring modulation gives the metallic, flat robot timbre
        return waveform * (0.55 + 0.45 * torch.sin(2 * math.pi * 55.0 * t))
    if effect == "drive":  # soft saturation: a strained, shouting edge
        return torch.tanh(3.0 * waveform) / math.tanh(3.0)
    if effect == "radio":  # 1920s broadcast: 300–3000 Hz band, a little hiss
        spectrum = torch.fft.rfft(waveform)
        freqs = torch.fft.rfftfreq(waveform.shape[-1], 1.0 / RATE)
        spectrum[..., (freqs < 300) | (freqs > 3000)] = 0
        hiss = 0.004 * torch.randn(waveform.shape, generator=torch.Generator().manual_seed(7))
        return torch.fft.irfft(spectrum, waveform.shape[-1]) + hiss
    if effect == "breath":  # add airy noise that follows the voice's envelope
        envelope = torch.nn.functional.avg_pool1d(waveform.abs().unsqueeze(0), 241, 1, 120).squeeze(0)
        noise = torch.randn(waveform.shape, generator=torch.Generator().manual_seed(11))
        return waveform + 0.6 * envelope * noise
    return waveform


def main() -> None:
    pack = load_pack()
    from toongen.nodes.audio_files import save_wav_pcm16
    from toongen.nodes.dsp import resample
    from toongen.nodes.loudness import normalize_loudness
    from toongen.nodes.speech_engines import embedded_kokoro

    kokoro = embedded_kokoro()
    out_dir = REPO / "assets" / "voices"
    for style, (voice, speed, pitch, lufs, effect, line) in STYLES.items():
        # Speak slower by the pitch factor so the tempo after the shift is `speed`.
        speech = kokoro.speak(line, voice, speed / pitch).samples.unsqueeze(0)
        speech = apply_effect(shift_pitch(speech, pitch, resample), effect)
        speech, _, _ = normalize_loudness(speech, RATE, lufs, -1.0)
        seconds = speech.shape[-1] / RATE
        if not 5.0 <= seconds <= 10.0:
            raise SystemExit(f"{style}: {seconds:.1f} s is outside 5–10 s; shorten or lengthen its line")
        save_wav_pcm16(out_dir / f"{style}.wav", speech, RATE)
        (out_dir / f"{style}.txt").write_text(line + "\n", encoding="utf-8")
        print(f"{style}: {seconds:.1f} s ({voice}, speed {speed}, pitch ×{pitch}, {lufs} LUFS, {effect or 'clean'})")
    del pack


if __name__ == "__main__":
    main()
