"""Speech benchmark (printed figures, not a test), on the CPU with FULL-SIZE random-weight models (the same
architectures, parameter counts and compute as the released weights):

* Kokoro-82M through the `kokoro` package (KModel + KPipeline) and the real embedded ONNX model (in the number
  format picked for this CPU; `bench-voices` compares int8, fp32 and fp16);
* F5-TTS v1 Base (DiT 1024×22) + Vocos: real-time factor at 32 and 16 NFE, extrapolated from timed 1- and 2-step
  runs (the flow steps cost the same each; the rest is constant), because a full 32-step run takes many minutes on
  two cores;
* our path (chunking, joining, limiting) vs calling the library directly on the same input: overhead in %;
* F5 long text: chunks one at a time vs batched.

    bash tests/run.sh bench-speech
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from pack_loader import load_pack  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SENTENCE = ("Hey, are you tired of real doors cluttering up your house? Come on down to Real Fake Doors, where "
            "every door is fake and every deal is real!")  # ≈ 10 s of speech


def best_of(fn, repeats: int = 2):
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> int:
    load_pack()
    from toongen.nodes.audio.files import load_audio_file
    from toongen.nodes.speech.engines import embedded_kokoro
    from toongen.nodes.speech.f5 import F5Engine, prepare_reference
    from toongen.nodes.speech.kokoro import TorchKokoro
    from toongen.nodes.speech.pipeline import ChunkedSpeech
    from toongen.nodes.voices.library import list_voice_references, read_transcript
    from toongen.tests.support.tiny_models import FULL_F5_ARCH, FULL_KOKORO_CONFIG, FULL_VOCOS, build_f5, build_kokoro

    work = Path(tempfile.mkdtemp(prefix="toongen-bench-"))
    print(f"CPU, {torch.get_num_threads()} torch threads; sentence of {len(SENTENCE)} characters\n")

    # --- Kokoro -----------------------------------------------------------------------------------------------
    onnx = embedded_kokoro()
    onnx.speak("Warm up.", "jm_kumo", 1.0)
    direct_s, clip = best_of(lambda: onnx.speak(SENTENCE, "jm_kumo", 1.0).samples)
    ours_s, ours = best_of(lambda: ChunkedSpeech(lambda c: onnx.speak(c, "jm_kumo", 1.0), 24000, 300)(SENTENCE))
    seconds = clip.shape[0] / 24000
    print(f"Kokoro-82M {onnx.variant} ONNX (real weights): {seconds:.1f} s of audio, RTF {direct_s / seconds:.3f} direct, "
          f"{ours_s / seconds:.3f} via ToonGen (overhead {100 * (ours_s / direct_s - 1):+.1f} %)")

    kokoro = TorchKokoro(build_kokoro(work / "kokoro", FULL_KOKORO_CONFIG))
    params = sum(p.numel() for p in kokoro.pipeline.model.parameters()) / 1e6
    pack = kokoro.pipeline.load_voice(str(kokoro.voice_path("af_heart")))

    def kokoro_direct():
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return torch.cat([r.audio for r in kokoro.pipeline(SENTENCE, voice=pack, speed=1.0, split_pattern=None)])

    kokoro_direct()
    direct_s, clip = best_of(kokoro_direct)
    ours_s, _ = best_of(lambda: ChunkedSpeech(lambda c: kokoro.speak(c, "af_heart", 1.0), 24000, 300)(SENTENCE))
    seconds = clip.shape[0] / 24000
    print(f"Kokoro-82M torch, full size random ({params:.1f} M params): {seconds:.1f} s of audio "
          f"(random durations), RTF {direct_s / seconds:.3f} direct, {ours_s / seconds:.3f} via ToonGen "
          f"(overhead {100 * (ours_s / direct_s - 1):+.1f} %)")
    kokoro = pack = None  # free it before the F5 model loads

    # --- F5-TTS -----------------------------------------------------------------------------------------------
    f5 = F5Engine(build_f5(work / "f5", FULL_F5_ARCH, FULL_VOCOS))
    params = sum(p.numel() for p in f5.model.parameters()) / 1e6
    path = list_voice_references()["deadpan_narrator"]
    waveform, rate = load_audio_file(path)
    reference = prepare_reference(waveform, rate, read_transcript(path))
    ui = f5.utils_infer

    def f5_direct(steps):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            wave, _, _ = next(ui.infer_batch_process((reference.waveform, 24000), reference.text, [SENTENCE], f5.model,
                                                     f5.vocoder, progress=None, nfe_step=steps, device="cpu"))
        return torch.from_numpy(wave)

    def f5_ours(steps):
        return ChunkedSpeech(None, 24000, 10_000, speak_batch=lambda t: f5.speak_batch(reference, t, nfe_steps=steps),
                             batch_size=4)(SENTENCE)

    f5_direct(1)
    times = {}
    for steps in (1, 2):
        times[steps], clip = best_of(lambda: f5_direct(steps), 1)
    ours_2, _ = best_of(lambda: f5_ours(2), 1)
    seconds = clip.shape[0] / 24000
    per_step, fixed = times[2] - times[1], 2 * times[1] - times[2]
    print(f"F5-TTS v1 Base, full size random ({params:.0f} M params + Vocos): {seconds:.1f} s of audio, "
          f"{per_step:.1f} s per flow step + {fixed:.1f} s fixed")
    for nfe in (32, 16):
        print(f"  NFE {nfe}: RTF {(fixed + nfe * per_step) / seconds:.2f} (extrapolated from the 1- and 2-step runs)")
    print(f"  ours vs infer_batch_process at 2 steps: {ours_2:.1f} s vs {times[2]:.1f} s "
          f"(overhead {100 * (ours_2 / times[2] - 1):+.1f} %)")

    chunks = ["Come on down to Real Fake Doors.", "Every door is fake.", "Every deal is real.", "That's us!"]
    one_by_one, _ = best_of(lambda: [f5.speak_batch(reference, [c], nfe_steps=1) for c in chunks], 1)
    batched, _ = best_of(lambda: f5.speak_batch(reference, chunks, nfe_steps=1), 1)
    print(f"  4 chunks at 1 step: one at a time {one_by_one:.1f} s, batched {batched:.1f} s "
          f"(speed-up ×{one_by_one / batched:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
