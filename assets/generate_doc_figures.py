"""Draw the pictures of the node help pages that are computed, not drawn by hand.

    python assets/generate_doc_figures.py [--repo PATH] [--out DIR]

Run from the repository root with a Python that has torch, numpy, scipy, soxr and matplotlib (the test venv has
them). It imports this checkout as the package `toongen` (as tests/support/pack_loader.py does) and draws:

* ducking_curve.png: the music's gain under a voice, in dB over time, computed by the mixer's own
  `ducking_gain` (nodes/audio/mix.py) at the Mix node's default settings, beside slower attack/release settings.

--repo picks another checkout (default: the one this script lives in); --out the folder for the PNGs
(default: <repo>/nodes/web/docs/images).
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from pathlib import Path

RATE = 24000
# A made-up line: two words with a 120 ms gap (shorter than the 250 ms hold: the music stays down), a 1.4 s pause
# (the music comes back), then one more phrase, then silence to the end.
SPEECH_S = [(0.50, 1.30), (1.42, 2.20), (3.60, 4.60)]
LENGTH_S = 6.0


def load_pack(repo: Path):
    """The checkout as package `toongen` (its relative imports need a package); → its mixer module."""
    if "toongen" not in sys.modules:
        spec = importlib.util.spec_from_file_location("toongen", repo / "__init__.py",
                                                      submodule_search_locations=[str(repo)])
        module = importlib.util.module_from_spec(spec)
        sys.modules["toongen"] = module
        spec.loader.exec_module(module)
    return importlib.import_module("toongen.nodes.audio.mix")


def fake_voice(torch):
    """Mono 'speech': noise bursts with a syllable-rate envelope where SPEECH_S says, silence elsewhere."""
    generator = torch.Generator().manual_seed(7)
    t = torch.arange(int(LENGTH_S * RATE)) / RATE
    voice = torch.zeros_like(t)
    for start, end in SPEECH_S:
        inside = (t >= start) & (t < end)
        syllables = 0.55 + 0.45 * torch.sin(2 * torch.pi * 4.0 * (t[inside] - start)).abs()
        voice[inside] = 0.3 * syllables * torch.randn(int(inside.sum()), generator=generator)
    return voice.unsqueeze(0)


def draw_ducking(mix, out: Path) -> None:
    import numpy as np
    import torch
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    voice = fake_voice(torch)
    samples = voice.shape[-1]
    default = mix.DuckingSettings()  # what the Mix node's widgets default to: 12 dB, 30 ms, 400 ms
    slow = mix.DuckingSettings(depth_db=default.depth_db, attack_ms=200.0, release_ms=1500.0)
    curves = [(default, "#d1495b", "-", f"duck_attack_ms {default.attack_ms:g}, duck_release_ms {default.release_ms:g} (defaults)"),
              (slow, "#2c6e9b", "--", f"duck_attack_ms {slow.attack_ms:g}, duck_release_ms {slow.release_ms:g}")]
    t = np.arange(samples) / RATE

    fig = Figure(figsize=(9, 4), dpi=100)
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 2.6], "hspace": 0.08})
    step = 12  # plot every 12th sample of the waveform: enough for its outline
    top.plot(t[::step], voice[0, ::step].numpy(), color="#7d7d7d", linewidth=0.4)
    top.set_ylabel("voice", fontsize=9)
    top.set_yticks([])
    top.set_ylim(-0.6, 0.6)
    for start, end in SPEECH_S:
        top.axvspan(start, end, color="#e0a458", alpha=0.25, linewidth=0)

    levels = {}
    for settings, colour, style, label in curves:
        gain = mix.ducking_gain(voice, RATE, samples, settings).numpy()
        levels[settings] = 20 * np.log10(np.maximum(gain, 1e-6))
        bottom.plot(t, levels[settings], color=colour, linestyle=style, linewidth=1.6, label=label)
    for start, end in SPEECH_S:
        bottom.axvspan(start, end, color="#e0a458", alpha=0.15, linewidth=0)
    bottom.axhline(-default.depth_db, color="#999999", linewidth=0.8, linestyle=":")
    bottom.text(0.05, -default.depth_db + 0.35, f"-{default.depth_db:g} dB = duck_db", fontsize=8, color="#555555")

    def crossing(after_s: float, level_db: float) -> float:
        """When the default curve first passes `level_db` after `after_s` (for the arrows)."""
        curve = levels[default]
        start = int(after_s * RATE)
        above = curve[start:] > level_db
        return (start + int(np.flatnonzero(above != above[0])[0])) / RATE

    arrow = {"arrowstyle": "->", "color": "#555555"}
    bottom.annotate(f"attack ({default.attack_ms:g} ms)", xy=(crossing(SPEECH_S[0][0], -6.0), -6.0),
                    xytext=(0.62, -3.2), fontsize=8, arrowprops=arrow)
    bottom.annotate(f"{(SPEECH_S[1][0] - SPEECH_S[0][1]) * 1000:.0f} ms gap: held down\n(hold {default.hold_ms:g} ms)",
                    xy=(SPEECH_S[0][1] + 0.06, -default.depth_db + 0.15), xytext=(1.12, -6.8), fontsize=8,
                    arrowprops=arrow)
    bottom.annotate(f"release ({default.release_ms:g} ms),\n{default.hold_ms:g} ms after the words",
                    xy=(crossing(SPEECH_S[1][1], -6.0), -6.0), xytext=(2.62, -11.1), fontsize=8, arrowprops=arrow)
    bottom.set_ylim(-default.depth_db - 1.5, 4.5)
    bottom.set_xlim(0, LENGTH_S)
    bottom.set_ylabel("music gain (dB)", fontsize=9)
    bottom.set_xlabel("time (s)", fontsize=9)
    bottom.tick_params(labelsize=8)
    bottom.grid(True, color="#eeeeee", linewidth=0.6)
    bottom.legend(loc="upper center", ncol=2, fontsize=8, frameon=False)
    fig.suptitle("Ducking: the music's gain under the voice (0 dB = the music at mix_ratio)", fontsize=10, y=0.97)
    fig.subplots_adjust(left=0.08, right=0.98, top=0.91, bottom=0.12)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)


def main() -> None:
    here = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, default=here, help="checkout to import (default: this one)")
    parser.add_argument("--out", type=Path, default=None, help="folder for the PNGs (default: <repo>/nodes/web/docs/images)")
    args = parser.parse_args()
    repo = args.repo.resolve()
    out = (args.out or here / "nodes" / "web" / "docs" / "images").resolve()
    mix = load_pack(repo)
    draw_ducking(mix, out / "ducking_curve.png")
    print(out / "ducking_curve.png")


if __name__ == "__main__":
    main()
