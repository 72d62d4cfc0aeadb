"""The main job: render one scenario's audio (speech + music + effects, loudness-normalized) on CPU through a real
headless ComfyUI with this pack installed, using workflows/toongen_audio_only.api.json. Prints the WAV's path.

    bash tests/run.sh render [--scenario fake_doors] [--out render-out]
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from comfy_server import REPO, ComfyServer  # noqa: E402  (run as a script, next to comfy_server.py)

WORKFLOW = REPO / "workflows" / "toongen_audio_only.api.json"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="fake_doors", help="scenario id from assets/scenarios.json")
    parser.add_argument("--out", default=str(REPO / "render-out"), help="folder for the finished WAV")
    args = parser.parse_args()

    known = [s["id"] for s in json.loads((REPO / "assets" / "scenarios.json").read_text())["scenarios"]]
    if args.scenario not in known:
        parser.error(f"unknown scenario {args.scenario!r}; known: {', '.join(known)}")
    graph = json.loads(WORKFLOW.read_text())
    graph["1"]["inputs"]["scenario"] = args.scenario
    graph["6"]["inputs"]["filename_prefix"] = f"toongen/{args.scenario}"

    started = time.monotonic()
    with ComfyServer() as server:
        print(f"starting ComfyUI on {server.url} (base {server.base_dir}) …", file=sys.stderr)
        server.start(expect_nodes=("ToonGenScenario", "ToonGenSpeak", "ToonGenMixAudio"))
        entry = server.run(graph, timeout=900)
        saved = next(f for f in server.output_files(entry) if f["filename"].endswith(".wav"))
        source = server.base_dir / "output" / saved["subfolder"] / saved["filename"]
        out_dir = Path(args.out)
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / f"{args.scenario}.wav"
        shutil.copyfile(source, target)
    print(f"rendered {args.scenario} in {time.monotonic() - started:.1f} s", file=sys.stderr)
    print(target.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
