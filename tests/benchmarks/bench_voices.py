"""Voice benchmark: `bash tests/run.sh bench-voices [--out bench-out] [--quick]`.

Prints, on this CPU (its flags beside every speed figure):
* the embedded Kokoro-82M as int8 (as installed), fp32 and fp16 (dequantized once): real-time factor on a
  140-character sentence (best of 2), and which one ToonGen picked here;
* per offline voice (engine): word error rate (whisper tiny.en) on lines not in any reference, real-time factor;
* per voice style: the reference's WER, the fallback rendition's WER on two held-out lines and its real-time factor;
* the style × style speaker-cosine matrices (Resemblyzer) of the references and of the fallback renditions, with
  PNG heatmaps in the output folder.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from pack_loader import load_pack  # noqa: E402

load_pack()
from toongen.nodes.speech.engines import embedded_kokoro_variant  # noqa: E402
from toongen.nodes.speech.kokoro import EmbeddedKokoro  # noqa: E402
from toongen.nodes.speech.onnx_variants import cpu_flags, cpu_name  # noqa: E402
from toongen.nodes.voices.library import VOICE_STYLES, list_voice_styles, read_transcript  # noqa: E402
from toongen.nodes.voices.offline import speak_recipe, speak_voice  # noqa: E402
from toongen.tests.support import voice_measure  # noqa: E402
from toongen.tests.test_voices import HELD_OUT  # noqa: E402

SENTENCE = ("Come on down to Real Fake Doors, where every door is fake and every deal is real, folks: no walls, "
            "no rooms, just doors!")  # 140 characters, ≈ 8–10 s of speech
ENGINE_LINES = ("The quick brown fox jumps over the lazy dog near the riverbank.",
                "Please remember to water the plants before you leave on Friday.")
ENGINE_VOICES = ("hibari_heart", "piper_joe", "jm_kumo", "jf_alpha", "jf_nezumi")
NO_WEIGHTS = Path("/nonexistent-kokoro-weights")


def flags_text() -> str:
    wanted = [f for f in cpu_flags() if f in ("avx2", "fma", "f16c") or f.startswith(("avx512", "amx")) or "vnni" in f]
    return " ".join(wanted) or "no AVX flags"


def rtf(seconds_taken: float, audio: torch.Tensor, rate: int = 24000) -> float:
    return seconds_taken / (audio.shape[-1] / rate)


def bench_variants(repeats: int) -> None:
    print(f"\n## Embedded Kokoro-82M number formats — {cpu_name()}, {torch.get_num_threads()} threads "
          f"[{flags_text()}]")
    print(f"{'variant':8s} {'audio s':>8s} {'best s':>8s} {'RTF':>6s}  CPU flags")
    for variant in ("int8", "fp32", "fp16"):
        engine = EmbeddedKokoro.from_pypi_packages(variant)
        engine.speak("Warm up.", "jf_alpha", 1.0)
        times, audio = [], None
        try:
            for _ in range(repeats):
                started = time.perf_counter()
                audio = engine.speak(SENTENCE, "jf_alpha", 1.0).samples
                times.append(time.perf_counter() - started)
        except ValueError as exc:  # fp16 overflows to NaN on some voices: the audio contract refuses it
            print(f"{variant:8s} unusable: {exc}", flush=True)
            continue
        best = min(times)
        print(f"{variant:8s} {audio.shape[0] / 24000:8.2f} {best:8.2f} {rtf(best, audio):6.2f}  [{flags_text()}]",
              flush=True)
        del engine
    print(f"picked here: {embedded_kokoro_variant()} (int8 unless fp32 is 15 % faster, measured once per machine; "
          f"TOONGEN_KOKORO_VARIANT forces one)")


def bench_engines() -> None:
    print("\n## Offline voices (engines): held-out lines")
    print(f"{'voice':14s} {'WER':>5s} {'RTF':>6s}  CPU flags")
    for voice in ENGINE_VOICES:
        speak_voice("Warm up.", voice, kokoro_folder=NO_WEIGHTS)
        taken, clips, heard = 0.0, [], []
        for line in ENGINE_LINES:
            started = time.perf_counter()
            spoken = speak_voice(line, voice, kokoro_folder=NO_WEIGHTS)
            taken += time.perf_counter() - started
            clips.append(spoken.samples)
            heard.append(voice_measure.transcribe(spoken.samples.numpy(), 24000))
        wer = voice_measure.word_error_rate(" ".join(ENGINE_LINES), " ".join(heard))
        print(f"{voice:14s} {wer:5.2f} {rtf(taken, torch.cat(clips)):6.2f}  [{flags_text()}]", flush=True)


def bench_styles(out: Path) -> None:
    import soundfile

    styles = list_voice_styles()
    print("\n## Voice styles: reference (what F5 clones) and fallback rendition (what plays without F5)")
    print(f"{'style':17s} {'ref s':>6s} {'ref WER':>7s} {'fallback WER':>12s} {'RTF':>6s}  recipe")
    references, renditions = {}, {}
    for name in VOICE_STYLES:
        style = styles[name]
        audio, rate = soundfile.read(str(style.reference), dtype="float32")
        ref_wer, _ = voice_measure.intelligibility(audio, rate, read_transcript(style.reference))
        references[name] = voice_measure.speaker_embedding(audio, rate)
        recipe = style.recipe()
        taken, clips, heard = 0.0, [], []
        for line in HELD_OUT[name]:
            started = time.perf_counter()
            spoken = speak_recipe(line, recipe, kokoro_folder=NO_WEIGHTS)
            taken += time.perf_counter() - started
            clips.append(spoken.samples)
            heard.append(voice_measure.transcribe(spoken.samples.numpy(), 24000))
        joined = torch.cat(clips)
        renditions[name] = voice_measure.speaker_embedding(joined.numpy(), 24000)
        wer = voice_measure.word_error_rate(" ".join(HELD_OUT[name]), " ".join(heard))
        print(f"{name:17s} {len(audio) / rate:6.1f} {ref_wer:7.2f} {wer:12.2f} {rtf(taken, joined):6.2f}  "
              f"{recipe.describe()}", flush=True)
    for what, embeddings in (("references", references), ("fallback renditions", renditions)):
        names, matrix = voice_measure.cosine_matrix(embeddings)
        a, b, worst = voice_measure.most_similar_pair(names, matrix)
        off_diagonal = matrix[~np.eye(len(names), dtype=bool)]
        print(f"\n### Speaker cosine, {what}: max {worst:.2f} ({a} × {b}), mean {off_diagonal.mean():.2f}")
        print(" " * 17 + " ".join(f"{n[:7]:>7s}" for n in names))
        for i, n in enumerate(names):
            print(f"{n:17s}" + " ".join(f"{v:7.2f}" for v in matrix[i]))
        heatmap(names, matrix, out / f"voice-cosine-{what.replace(' ', '-')}.png", f"Speaker cosine, {what}")


def heatmap(names: list[str], matrix: np.ndarray, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(8, 7))
    image = ax.imshow(matrix, vmin=0.3, vmax=1.0, cmap="viridis")
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right")
    ax.set_yticks(range(len(names)), names)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if matrix[i, j] < 0.75 else "black")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, shrink=0.8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"heatmap: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-out"))
    parser.add_argument("--quick", action="store_true", help="one timed run per variant instead of two")
    args = parser.parse_args()
    print(f"CPU: {cpu_name()}, {torch.get_num_threads()} threads; flags: {' '.join(cpu_flags())}")
    bench_variants(1 if args.quick else 2)
    bench_engines()
    bench_styles(args.out)


if __name__ == "__main__":
    main()
