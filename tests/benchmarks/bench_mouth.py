"""Mouth-shape benchmark (printed figures, not a test): how well the aligner times speech that came without timing.

Ground truth is the engine's own timing (the duration predictor of Kokoro, hibari or Piper) of each clip. The aligner gets only the audio
and the text — never that timing — and its guides are other voices (aligner.GUIDE_VOICES) at speed 1.0, while the
clips are spoken by the remaining embedded Kokoro voices, hibari's "heart" and Piper's "joe" at speeds 0.8, 1.15 and
1.3, on sentences that appear in no test. Printed
per voice and speed:

* shapes: frames whose aligner shape equals the engine-timing shape (±1 frame), over all frames;
* bilabials: the engine's m/b/p that show an A frame in the aligner's shapes (within a frame of their time);
* open/closed, aligner vs loudness (the baseline: today's ToonGenLipCommand): frames whose mouth is open or closed
  as in the engine-timing shapes (closed = A or X), ±1 frame;
* confidence of the alignment, and of the same audio given another sentence's text (must fall below the node's
  threshold, MIN_CONFIDENCE, so the node falls back to loudness).

Then the same for "characters": pitch/formant-shifted voices with effects (radio band, breath noise, ring
modulation), and the design choices the aligner was picked by (features, one vs two guides).

    bash tests/run.sh bench-mouth [--fps 24] [--sheet nodes/web/docs/images/mouth_dope_sheet.png]
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from pack_loader import load_pack  # noqa: E402

SENTENCES = [
    "Bring both blue umbrellas, because the weather might turn wet by noon.",
    "Mister Pibb and a pack of peppermint gum, please, for my brave little brother.",
    "Who would ever move to the moon with only four shoes and a violin?",
    "Fluffy puppies play happily while the bubbly mayor waves from his balcony.",
]
CHARACTER_LINES = [
    "Oh boy, my tummy is rumbling, maybe we should grab some pizza before the show.",
    "Welcome, lovely viewers, to the only program made entirely of bubbles.",
]
SPEEDS = (0.8, 1.15, 1.3)


@dataclass
class Tally:
    frames: int = 0
    same_shape: float = 0.0
    bilabials: int = 0
    bilabials_shown: int = 0
    open_closed_aligner: float = 0.0
    open_closed_loudness: float = 0.0
    confidences: list = field(default_factory=list)
    wrong_text_confidences: list = field(default_factory=list)

    def add(self, other: "Tally") -> None:
        for name in ("frames", "same_shape", "bilabials", "bilabials_shown", "open_closed_aligner",
                     "open_closed_loudness"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.confidences += other.confidences
        self.wrong_text_confidences += other.wrong_text_confidences

    def row(self, label: str) -> str:
        pct = lambda x: f"{100.0 * x / max(self.frames, 1):5.1f} %"  # noqa: E731
        wrong = max(self.wrong_text_confidences) if self.wrong_text_confidences else float("nan")
        return (f"| {label} | {self.frames} | {pct(self.same_shape)} | {self.bilabials_shown}/{self.bilabials} | "
                f"{pct(self.open_closed_aligner)} | {pct(self.open_closed_loudness)} | "
                f"{min(self.confidences):.2f}–{max(self.confidences):.2f} | {wrong:.2f} |")


HEADER = ("| clips | frames | same shape (±1) | bilabials shown | open/closed: aligner | open/closed: loudness "
          "(baseline) | confidence | confidence, wrong text (max) |\n|---|---|---|---|---|---|---|---|")


def agreement(truth: str, test: str, tolerance: int = 1) -> int:
    return sum(test[f] in truth[max(0, f - tolerance):f + tolerance + 1] for f in range(len(truth)))


def closed(letters: str) -> str:
    return "".join("c" if s in "AX" else "o" for s in letters)


def bilabials_shown(truth_timing, letters: str, fps: float) -> tuple[int, int]:
    spans = [s for s in truth_timing.phonemes if s.label in "pbm"]
    shown = sum("A" in letters[max(0, math.floor(s.start * fps) - 2):math.ceil(s.end * fps) + 1] for s in spans)
    return len(spans), shown


def measure(samples: torch.Tensor, rate: int, truth_timing, text: str, wrong_text: str, guides, fps: float,
            settings=None) -> tuple[Tally, str, object]:
    from toongen.nodes.mouth.aligner import AlignerSettings, align
    from toongen.nodes.mouth.lipsync import loudness_shapes
    from toongen.nodes.mouth.shapes import shapes_from_timing

    settings = settings or AlignerSettings()
    frames = math.ceil(samples.shape[-1] / rate * fps - 1e-9)
    truth = shapes_from_timing(truth_timing, fps, frames)
    result = align(samples.numpy(), rate, text, guides, settings)
    aligned = shapes_from_timing(result.timing, fps, frames)
    loud = loudness_shapes(samples.unsqueeze(0), rate, fps, frames)
    count, shown = bilabials_shown(truth_timing, aligned, fps)
    tally = Tally(frames, agreement(truth, aligned), count, shown, agreement(closed(truth), closed(aligned)),
                  agreement(closed(truth), closed(loud)), [result.confidence])
    if wrong_text:
        tally.wrong_text_confidences.append(align(samples.numpy(), rate, wrong_text, guides, settings).confidence)
    return tally, aligned, result


def character(samples: torch.Tensor, timing, rate: int, pitch: float, effect: str):
    """A cartoon character made from a plain voice: pitch and formants shifted by resampling (the clip plays
    `pitch`× faster, so its timing shrinks by that factor), then an effect."""
    import torchaudio.functional as AF

    shifted = AF.resample(samples.unsqueeze(0), int(round(rate * pitch)), rate)[0]
    t = torch.arange(shifted.shape[0]) / rate
    g = torch.Generator().manual_seed(5)
    if effect == "radio":
        shifted = AF.bandpass_biquad(AF.bandpass_biquad(shifted, rate, 1200.0, 0.6), rate, 1200.0, 0.6)
        shifted = shifted + 0.004 * torch.randn(shifted.shape, generator=g)
    elif effect == "breath":
        envelope = torch.nn.functional.avg_pool1d(shifted.abs().view(1, 1, -1), 241, 1, 120).view(-1)
        shifted = shifted + 0.6 * envelope * torch.randn(shifted.shape, generator=g)
    elif effect == "robot":
        shifted = shifted * (0.55 + 0.45 * torch.sin(2 * math.pi * 55.0 * t))
    return shifted, timing.scaled(1.0 / pitch)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fps", type=float, default=24.0)
    parser.add_argument("--sheet", type=Path, help="also write one dope sheet PNG here (the Mouth Shapes help page's)")
    args = parser.parse_args()
    load_pack()
    from toongen.nodes.mouth.aligner import GUIDE_SPEED, GUIDE_VOICES, MIN_CONFIDENCE, AlignerSettings
    from toongen.nodes.speech.cache import AudioCache, file_digest
    from toongen.nodes.speech.engines import (PACKAGED_VOICES, embedded_kokoro, embedded_kokoro_voices,
                                              packaged_voice_source, packaged_voices)
    from toongen.nodes.speech.pipeline import cached_speech

    kokoro = embedded_kokoro()
    rate = 24000
    fps = args.fps
    spoken_cache: dict = {}
    # Speech is kept on disk between runs (the pack's speech cache), so a re-run measures without re-synthesizing.
    disk = AudioCache(Path(os.environ.get("TOONGEN_ENV_DIR", Path.home() / ".cache" / "comfyui-toongen"))
                      / "bench-mouth-speech")
    synth_seconds = [0.0, 0.0]  # synthesis time, audio seconds

    def synthesize(voice: str, text: str, speed: float):
        started = time.perf_counter()
        engine = packaged_voice_source(voice).load() if voice in PACKAGED_VOICES else kokoro
        spoken = engine.speak(text, voice, speed)
        synth_seconds[0] += time.perf_counter() - started
        synth_seconds[1] += spoken.seconds
        return spoken

    def speak(voice: str, text: str, speed: float):
        key = (voice, text, speed)
        if key not in spoken_cache:
            source = (packaged_voice_source(voice).identity if voice in PACKAGED_VOICES
                      else file_digest(kokoro.model_path))
            spoken_cache[key] = cached_speech(disk, {"engine": kokoro.engine_id, "model": source,
                                                     "voice": voice, "text": text, "speed": speed},
                                              lambda: synthesize(voice, text, speed))
        return spoken_cache[key]

    def guides_for(voices=GUIDE_VOICES):
        return [lambda text, v=v: speak(v, text, GUIDE_SPEED) for v in voices]

    targets = [v for v in embedded_kokoro_voices() if v not in GUIDE_VOICES] + packaged_voices()
    print(f"guides: {', '.join(GUIDE_VOICES)} at speed {GUIDE_SPEED}; targets: {', '.join(targets)}; "
          f"{len(SENTENCES)} sentences; {fps:g} fps; node threshold {MIN_CONFIDENCE}\n")
    print(HEADER)
    total, by_speed = Tally(), {s: Tally() for s in SPEEDS}
    align_seconds, sheet_case = 0.0, None
    for voice in targets:
        for speed in SPEEDS:
            tally = Tally()
            for k, text in enumerate(SENTENCES):
                spoken = speak(voice, text, speed)
                started, synthesis_before = time.perf_counter(), synth_seconds[0]
                one, aligned, result = measure(spoken.samples, rate, spoken.timing, text,
                                               SENTENCES[(k + 1) % len(SENTENCES)], guides_for(), fps)
                align_seconds += time.perf_counter() - started - (synth_seconds[0] - synthesis_before)
                tally.add(one)
                if sheet_case is None and speed == 1.15:
                    sheet_case = (spoken, aligned, result, voice, speed)
            print(tally.row(f"{voice} ×{speed}"), flush=True)
            total.add(tally)
            by_speed[speed].add(tally)
    for speed in SPEEDS:
        print(by_speed[speed].row(f"**all voices ×{speed}**"))
    print(total.row("**all**"))

    print("\nCharacters (pitch/formant shift by resampling + effect; truth = the engine timing, scaled):\n")
    print(HEADER)
    characters = [(targets[i % len(targets)], speed, pitch, effect) for i, (speed, pitch, effect) in enumerate(
        [(1.0, 1.1, "clean"), (0.9, 0.96, "breath"), (1.1, 1.0, "radio"), (0.95, 0.9, "robot")])]
    chars_total = Tally()
    for voice, speed, pitch, effect in characters:
        tally = Tally()
        for k, text in enumerate(CHARACTER_LINES):
            spoken = speak(voice, text, speed)
            samples, timing = character(spoken.samples, spoken.timing, rate, pitch, effect)
            tally.add(measure(samples, rate, timing, text, CHARACTER_LINES[(k + 1) % 2], guides_for(), fps)[0])
        print(tally.row(f"{voice} ×{speed:.2f}, pitch ×{pitch}, {effect}"), flush=True)
        chars_total.add(tally)
    print(chars_total.row("**all characters**"))

    print("\nDesign choices (same clips, speed 1.15, every target voice): what the aligner was picked by\n")
    print(HEADER)
    variants = [("log-mel, 2 guides, step penalty 0.8 (chosen)", AlignerSettings(), GUIDE_VOICES),
                ("log-mel, 1 guide (" + GUIDE_VOICES[0] + ")", AlignerSettings(), GUIDE_VOICES[:1]),
                ("MFCC 1–12 + deltas, 2 guides", AlignerSettings(features="mfcc"), GUIDE_VOICES),
                ("log-mel, 2 guides, no step penalty", AlignerSettings(step_penalty=0.0), GUIDE_VOICES),
                ("log-mel, 2 guides, euclidean", AlignerSettings(metric="euclidean", step_penalty=8.0), GUIDE_VOICES)]
    for label, settings, voices in variants:
        tally = Tally()
        for voice in targets:
            for k, text in enumerate(SENTENCES):
                spoken = speak(voice, text, 1.15)
                tally.add(measure(spoken.samples, rate, spoken.timing, text, SENTENCES[(k + 1) % len(SENTENCES)],
                                  guides_for(voices), fps, settings)[0])
        print(tally.row(label), flush=True)

    synthesis = (f"the guides' synthesis ran at real-time factor {synth_seconds[0] / synth_seconds[1]:.2f}"
                 if synth_seconds[1] else "all speech came from the benchmark's disk cache")
    print(f"\nCost: aligning (features, warps and confidence for both guides; the right and a wrong text; no "
          f"synthesis) took {align_seconds:.1f} s for {total.frames / fps:.0f} s of audio; {synthesis} on this CPU "
          f"({torch.get_num_threads()} threads); the node caches the guides' speech on disk.")
    if args.sheet and sheet_case:
        from PIL import Image
        from toongen.nodes.mouth.dope_sheet import render_dope_sheet

        spoken, aligned, result, voice, speed = sheet_case
        image = render_dope_sheet(spoken.samples.unsqueeze(0), rate, aligned, fps, result.timing.words,
                                  f"{voice} ×{speed}, timed by the aligner (confidence {result.confidence:.2f})")
        args.sheet.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((image[0].numpy() * 255).round().astype(np.uint8)).quantize(colors=32).save(args.sheet,
                                                                                                      optimize=True)
        print(f"dope sheet: {args.sheet}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
