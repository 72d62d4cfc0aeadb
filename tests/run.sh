#!/usr/bin/env bash
# The two set-up commands of the README:
#   bash tests/run.sh render [--scenario ID] [--out DIR]   build the environment, render a scenario's audio on CPU
#                                                          through a headless ComfyUI, print the file's path
#   bash tests/run.sh test [pytest args]                   build the environment, run the test suite
#   bash tests/run.sh bench                                the mixing benchmark (needs ffmpeg on PATH)
#   bash tests/run.sh bench-speech                         speech RTF and overhead, full-size random models
#   bash tests/run.sh bench-memory                         RSS of full-size TTS models loaded and unloaded
#   bash tests/run.sh bench-mouth                          mouth shapes: aligner vs the engine's timing, loudness baseline
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$(dirname "$here")"
command="${1:-test}"
shift || true
venv="$(bash "$here/bootstrap.sh" | tail -n 1)"
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
case "$command" in
  test)   exec "$venv/bin/python" -m pytest "$@" ;;
  render) exec "$venv/bin/python" "$here/render_main.py" "$@" ;;
  bench)  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements-bench.txt"
          exec "$venv/bin/python" "$here/bench_mix.py" "$@" ;;
  bench-speech) exec "$venv/bin/python" "$here/bench_speech.py" "$@" ;;
  bench-memory) exec "$venv/bin/python" "$here/bench_memory.py" "$@" ;;
  bench-mouth) exec "$venv/bin/python" "$here/bench_mouth.py" "$@" ;;
  *) echo "usage: bash tests/run.sh test|render|bench|bench-speech|bench-memory|bench-mouth [args]" >&2; exit 2 ;;
esac
