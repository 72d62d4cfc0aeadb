"""Memory benchmark (printed figures, not a test), two parts:

1. A real headless ComfyUI server speaks a 5,000-character script with the embedded Kokoro voice, then runs the
   Unload node: the server's RSS at the start, its peak while speaking, after the script, and after the unload.
   Targets (issue 9): growth after the script ≤ 300 MiB, after the unload within 50 MiB of the start — judged
   with and without the speech itself, which ComfyUI's output cache keeps.
2. FULL-SIZE F5-TTS v1 Base + Vocos and Kokoro-82M built with random weights (same parameter counts and memory as
   the released ones), loaded through ToonGen's model cache, one synthesis each, then unloaded. Reports process RSS
   before / loaded / after unload and the share of model memory released. With a CUDA device it reports
   torch.cuda.memory_allocated / max_memory_allocated the same way.

    bash tests/run.sh bench-memory [--part server|models] [--server-env NAME=VALUE]
"""
from __future__ import annotations

import argparse
import gc
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import psutil
import soundfile
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from pack_loader import load_pack  # noqa: E402
from peak_rss import PeakRSS  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SCRIPT_CHARS = 5000
GROWTH_LIMIT_MIB, UNLOAD_LIMIT_MIB = 300, 50


def long_script(chars: int = SCRIPT_CHARS) -> str:
    """The scenario scripts one after another, repeated, cut at a sentence end near `chars` characters."""
    scripts = [s["script"] for s in json.loads((REPO / "assets" / "scenarios.json").read_text())["scenarios"]
               if not s.get("speakers")]  # a dialogue's tags are not for Speak
    text = ""
    while len(text) < chars:
        for script in scripts:
            if len(text) + len(script) + 1 > chars:
                return text
            text = f"{text} {script}".strip()
    return text


def rss_kinds(pid: int) -> dict[str, float]:
    """RssAnon / RssFile / RssShmem of a Linux process, in MiB."""
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {line.split(":")[0]: int(line.split()[1]) / 1024 for line in lines if line.startswith("Rss")}


def server_script_memory(server_env: dict[str, str]) -> None:
    """Part 1: the ComfyUI server's RSS around a long script on the embedded voice and the Unload node.

    The measured prompts end in PreviewAny of the speech node's `engine_used` text, so the figures are what the
    speech (and then the Unload node) leaves in the server. ComfyUI's own PreviewAudio of the same speech (it
    encodes the 5-minute clip to a file) is measured last, on top, and reported on its own line."""
    from comfy_server import ComfyServer

    text = long_script()

    def speak(line: str, then: str) -> dict:
        graph = {"1": {"class_type": "ToonGenKokoroTTS", "inputs": {"text": line, "voice": "jm_kumo", "speed": 1.0}}}
        if then == "unload":  # nothing after the Unload node: what is measured then is what the node left
            graph["2"] = {"class_type": "ToonGenUnloadTTS", "inputs": {
                "value": ["1", 0], "audio": ["1", 0], "unload_comfy_models": False, "empty_cuda_cache": True}}
            graph["3"] = {"class_type": "PreviewAny", "inputs": {"source": ["2", 1]}}
        elif then == "preview_audio":
            graph["3"] = {"class_type": "PreviewAudio", "inputs": {"audio": ["1", 0]}}
        else:
            graph["3"] = {"class_type": "PreviewAny", "inputs": {"source": ["1", 1]}}
        return graph

    with ComfyServer(env=server_env).start() as server:
        process = psutil.Process(server.process.pid)
        mib = lambda: process.memory_info().rss / 2**20  # noqa: E731
        kinds = lambda: rss_kinds(process.pid)  # noqa: E731
        # ComfyUI's own first-prompt state (executor, audio preview) is not speech memory.
        server.run({"1": {"class_type": "ToonGenLoadSFX", "inputs": {"name": "static_glitch"}},
                    "2": {"class_type": "PreviewAudio", "inputs": {"audio": ["1", 0]}}})
        cold = mib()
        # The first speech imports ONNX Runtime, misaki and spaCy (and spaCy its pipeline code): that stays for the
        # life of any process, so one short line + unload first, as in part 2.
        server.run(speak("Warm up, folks.", "unload"))
        start, start_kinds = mib(), kinds()
        started = time.perf_counter()
        with PeakRSS(process) as peak:
            server.run(speak(text, "engine_used"), timeout=3600)
        seconds = time.perf_counter() - started
        after, after_kinds = mib(), kinds()
        loaded = server.get_json("/toongen/models")["loaded"]
        server.run(speak(text, "unload"))  # the speech node is a cache hit; the Unload node runs
        unloaded, unloaded_kinds = mib(), kinds()
        entry = server.run(speak(text, "preview_audio"))  # cache hit again; ComfyUI encodes its preview
        previewed = mib()
        preview = soundfile.info(io.BytesIO(server.fetch(server.output_files(entry)[0])))
    speech_mib = preview.duration * 24000 * 4 / 2**20  # the float32 AUDIO ComfyUI's output cache keeps
    growth, residue = after - start, unloaded - start
    from toongen.nodes.speech.engines import embedded_kokoro_variant

    allocator = " ".join(f"{k}={v}" for k, v in server_env.items()) or "glibc defaults"
    print(f"ComfyUI server ({allocator}), embedded Kokoro ({embedded_kokoro_variant()} ONNX), a {len(text):,}-character "
          f"script in {seconds:.0f} s (loaded then: {', '.join(key[0] for key in loaded)}):")
    print(f"  RSS idle {cold:.0f} MiB; after the first speech + unload (libraries' one-time state) {start:.0f} MiB "
          f"({start - cold:+.0f})")
    print(f"  from there: peak while speaking {peak.peak / 2**20:.0f} MiB, after the script {after:.0f} MiB "
          f"({growth:+.0f}, limit +{GROWTH_LIMIT_MIB}), after the Unload node {unloaded:.0f} MiB "
          f"({residue:+.0f}, limit ±{UNLOAD_LIMIT_MIB})")
    print("  of which anonymous (heap) / file-backed (library code and data pages): after the script "
          + " / ".join(f"{after_kinds[k] - start_kinds[k]:+.0f}" for k in ("RssAnon", "RssFile"))
          + ", after the Unload node "
          + " / ".join(f"{unloaded_kinds[k] - start_kinds[k]:+.0f}" for k in ("RssAnon", "RssFile")) + " MiB")
    print(f"  both include the speech itself ({preview.duration / 60:.1f} min at 24 kHz, {speech_mib:.0f} MiB of float32), "
          f"which ComfyUI keeps in its output cache")
    print(f"  ComfyUI's PreviewAudio of that speech then adds {previewed - unloaded:+.0f} MiB ({previewed:.0f} MiB)")
    beyond_speech = residue - speech_mib
    print(f"  verdict: growth {'OK' if growth <= GROWTH_LIMIT_MIB else 'OVER'}; after the Unload node "
          f"{'OK' if abs(residue) <= UNLOAD_LIMIT_MIB else 'OVER'} counting the cached speech, "
          f"{'OK' if abs(beyond_speech) <= UNLOAD_LIMIT_MIB else 'OVER'} beyond it ({beyond_speech:+.0f} MiB)\n")


def rss_mb() -> float:
    """RSS after collecting garbage and trimming the heap, so each figure counts live memory only."""
    gc.collect()
    sys.modules["toongen.nodes.runtime.model_cache"].release_freed_heap()
    return psutil.Process().memory_info().rss / 2**20


def models_memory() -> None:
    """Part 2: full-size torch models loaded, used once and unloaded in this process."""
    from toongen.nodes.audio.files import load_audio_file
    from toongen.nodes.runtime import model_cache
    from toongen.nodes.speech.engines import f5_engine, torch_kokoro
    from toongen.nodes.speech.f5 import prepare_reference
    from toongen.nodes.voices.library import list_voice_references, read_transcript
    from toongen.tests.support.tiny_models import FULL_F5_ARCH, FULL_KOKORO_CONFIG, FULL_VOCOS, build_f5, build_kokoro

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("server", "models"), action="append",
                        help="run only this part (default: both)")
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                        help="environment for the server (e.g. MALLOC_MMAP_THRESHOLD_=131072), repeatable")
    args = parser.parse_args()
    parts = args.part or ["server", "models"]
    load_pack()
    if "server" in parts:
        server_script_memory(dict(item.split("=", 1) for item in args.server_env))
    if "models" in parts:
        models_memory()
    return 0


if __name__ == "__main__":
    sys.exit(main())
