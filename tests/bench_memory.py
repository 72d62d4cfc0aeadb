"""Memory benchmark (printed figures, not a test): FULL-SIZE F5-TTS v1 Base + Vocos and Kokoro-82M built with random
weights (same parameter counts and memory as the released ones), loaded through ToonGen's model cache, one synthesis
each, then unloaded. Reports process RSS before / loaded / after unload and the share of model memory released.
With a CUDA device it reports torch.cuda.memory_allocated / max_memory_allocated the same way.

    bash tests/run.sh bench-memory
"""
from __future__ import annotations

import gc
import sys
import tempfile
from pathlib import Path

import psutil
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pack_loader import load_pack  # noqa: E402


def rss_mb() -> float:
    """RSS after collecting garbage and trimming the heap, so each figure counts live memory only."""
    gc.collect()
    sys.modules["toongen.nodes.model_cache"].release_freed_heap()
    return psutil.Process().memory_info().rss / 2**20


def main() -> int:
    load_pack()
    from toongen.nodes import model_cache
    from toongen.nodes.audio_files import load_audio_file
    from toongen.nodes.f5_engine import prepare_reference
    from toongen.nodes.speech_engines import f5_engine, torch_kokoro
    from toongen.nodes.voices import list_voice_references, read_transcript
    from toongen.tests.tiny_models import FULL_F5_ARCH, FULL_KOKORO_CONFIG, FULL_VOCOS, build_f5, build_kokoro

    device = "cuda" if torch.cuda.is_available() else "cpu"
    work = Path(tempfile.mkdtemp(prefix="toongen-mem-"))
    build_f5(work / "f5-tts", FULL_F5_ARCH, FULL_VOCOS)
    build_kokoro(work / "kokoro", FULL_KOKORO_CONFIG)
    path = list_voice_references()["deadpan_narrator"]
    waveform, rate = load_audio_file(path)
    reference = prepare_reference(waveform, rate, read_transcript(path))
    gc.collect()

    def load_and_speak():
        f5 = f5_engine(work / "f5-tts", device)
        kokoro = torch_kokoro(work / "kokoro", device)
        f5.speak_batch(reference, ["Come on down to Real Fake Doors."], nfe_steps=1)
        kokoro.speak("Come on down to Real Fake Doors.", "af_heart", 1.0)
        return sum(p.numel() for m in (*f5.torch_modules(), *kokoro.torch_modules()) for p in m.parameters())

    # One warm-up cycle first: libraries imported and caches filled on first use (spaCy's tagger, numba, torch
    # kernels) stay for the life of the process and are not model memory.
    first_start = rss_mb()
    load_and_speak()
    model_cache.unload_models()
    warm = rss_mb()
    before = rss_mb()
    params = load_and_speak()
    loaded = rss_mb()
    cuda_loaded = torch.cuda.memory_allocated() / 2**20 if device == "cuda" else None
    cuda_peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None
    model_cache.unload_models()
    after = rss_mb()
    print(f"  first cycle: {first_start:.0f} → {warm:.0f} MiB after its unload (one-time library state)")
    print(f"F5-TTS v1 Base + Vocos + Kokoro-82M, {params / 1e6:.0f} M parameters ({params * 4 / 2**20:.0f} MiB fp32), "
          f"device {device}")
    print(f"  RSS before {before:.0f} MiB, loaded + one synthesis each {loaded:.0f} MiB, after unload {after:.0f} MiB")
    print(f"  model memory released: {100 * (loaded - after) / (loaded - before):.1f} % "
          f"(live engine objects after unload: {model_cache.live_count()})")
    if device == "cuda":
        print(f"  CUDA allocated loaded {cuda_loaded:.0f} MiB, peak {cuda_peak:.0f} MiB, "
              f"after unload {torch.cuda.memory_allocated() / 2**20:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
