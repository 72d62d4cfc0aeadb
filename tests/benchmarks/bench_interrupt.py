"""Interrupt benchmark (printed figures, not a test): how long Cancel takes to stop speech in a real headless ComfyUI
server — from POST /interrupt to the `execution_interrupted` websocket message — for each engine, with the
interrupt sent at different moments inside the first chunk:

* the embedded Kokoro-82M (ONNX, the real weights, in the number format picked on this CPU): ONNX Runtime's
  RunOptions.terminate from a watcher thread;
* Kokoro-82M through `kokoro` (KModel + KPipeline) and F5-TTS v1 Base + Vocos at FULL SIZE with random weights (the
  same compute as the released ones): a check before every torch layer.

Before this, a Cancel waited for the whole current chunk (29.7 s measured on a 5,000-character script).

    bash tests/run.sh bench-interrupt [--repeats 3]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from pack_loader import load_pack  # noqa: E402

LONG_TEXT = ("Hey, are you tired of real doors cluttering up your house? Come on down to Real Fake Doors, where "
             "every door is fake and every deal is real! ") * 12
DELAYS_S = (0.5, 2.0, 4.0)  # when the interrupt is sent, after the first chunk started


def graphs(tag: int) -> dict[str, dict]:
    """One long-text prompt per engine; `tag` makes each text new, so no cache answers it."""
    text = f"Take {tag}. {LONG_TEXT}"
    return {
        "embedded Kokoro ONNX": {"class_type": "ToonGenKokoroTTS",
                                      "inputs": {"text": text, "voice": "jm_kumo", "speed": 1.0}},
        "Kokoro KModel (torch, full size)": {"class_type": "ToonGenKokoroTTS",
                                             "inputs": {"text": text, "voice": "af_heart", "speed": 1.0}},
        "F5-TTS v1 Base + Vocos (full size, 32 NFE)": {"class_type": "ToonGenF5TTS", "inputs": {
            "text": text, "voice_style": "deadpan_narrator", "speed": 1.0, "seed": tag, "nfe_steps": 32,
            "cfg_strength": 2.0, "cross_fade_s": 0.15}},
    }


def interrupt_latency(server, node: dict, delay_s: float) -> tuple[float, int]:
    """Queue `node`, send POST /interrupt `delay_s` after its first progress message (speech has started; the
    model is loaded), return (seconds until execution_interrupted, chunks finished)."""
    sent: list[float] = []
    ended: list[float] = []
    timers: list[threading.Timer] = []

    def press() -> None:
        sent.append(time.perf_counter())
        server.post_json("/interrupt", {})

    def on_message(_, message) -> None:
        if message["type"] == "progress" and not timers:
            timers.append(threading.Timer(delay_s, press))
            timers[0].start()
        elif message["type"] == "execution_interrupted":
            ended.append(time.perf_counter())

    messages, _ = server.run_watching({"1": node, "2": {"class_type": "PreviewAudio", "inputs": {"audio": ["1", 0]}}},
                                      on_message=on_message, timeout=3600)
    for timer in timers:
        timer.cancel()
    if not (sent and ended):
        raise RuntimeError(f"the prompt was not interrupted (it ended with {messages[-1]['type']}); use a longer text")
    done = max(m["data"]["value"] for m in messages if m["type"] == "progress")
    return ended[0] - sent[0], done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1, help="runs per interrupt moment (default 1)")
    repeats = parser.parse_args().repeats
    load_pack()
    from comfy_server import ComfyServer
    from toongen.tests.support.tiny_models import FULL_F5_ARCH, FULL_KOKORO_CONFIG, FULL_VOCOS, build_f5, build_kokoro

    with ComfyServer().start() as server:
        models = server.base_dir / "models" / "tts"
        build_kokoro(models / "kokoro", FULL_KOKORO_CONFIG)
        build_f5(models / "f5-tts", FULL_F5_ARCH, FULL_VOCOS)
        from toongen.nodes.speech.engines import embedded_kokoro_variant

        print(f"POST /interrupt → execution_interrupted, real ComfyUI server on the CPU; interrupt sent "
              f"{', '.join(f'{d:g}' for d in DELAYS_S)} s into the first chunk, {repeats}× each; the embedded "
              f"Kokoro runs as {embedded_kokoro_variant()}\n")
        tag = 0
        for name in graphs(0):
            latencies, chunks_done = [], []
            for delay in DELAYS_S:
                for _ in range(repeats):
                    tag += 1
                    seconds, done = interrupt_latency(server, graphs(tag)[name], delay)
                    latencies.append(seconds)
                    chunks_done.append(done)
            print(f"  {name:45s} median {statistics.median(latencies) * 1000:5.0f} ms, "
                  f"max {max(latencies) * 1000:5.0f} ms  (n={len(latencies)}; chunks finished before the stop: "
                  f"{max(chunks_done)})")
            print(f"  {'':45s} each, in order of the interrupt moments: "
                  f"{' '.join(f'{s * 1000:.0f}' for s in latencies)} ms", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
