#!/usr/bin/env bash
# The two set-up commands of the README:
#   bash tests/run.sh render [--scenario ID] [--out DIR]   build the environment, render a scenario's audio on CPU
#                                                          through a headless ComfyUI, print the file's path
#   bash tests/run.sh test [pytest args]                   build the environments, run the test suite on ComfyUI
#                                                          0.3.75, then its real-server tests on ComfyUI 0.33.0
#   bash tests/run.sh bench                                the mixing benchmark (needs ffmpeg on PATH)
#   bash tests/run.sh bench-speech                         speech RTF and overhead, full-size random models
#   bash tests/run.sh bench-memory                         server RSS around a long script; full-size TTS models unloaded
#   bash tests/run.sh bench-interrupt                      Cancel latency per speech engine in a real server
#   bash tests/run.sh bench-voices                         voices: WER, RTF, style cosine matrix (+ PNG), Kokoro int8/fp32/fp16
#   bash tests/run.sh bench-mouth                          mouth shapes: aligner vs the engine's timing, loudness baseline
#   bash tests/run.sh bench-cluster                        the render command on a one-host Ray cluster: start,
#                                                          driver overhead per scenario, node death to retry
#   bash tests/run.sh bench-clip [--scenarios N] [--workflow NAME]
#                                                          clip workflows on ComfyUI 0.33.0 with the video packs and
#                                                          random-weight models: stage times, peak RSS, the MP4s
# TOONGEN_COMFYUI_VERSIONS="0.33.0" (space-separated) limits `test` to those of the built ComfyUI versions.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$(dirname "$here")"
command="${1:-test}"
shift || true
venv="$(bash "$here/bootstrap.sh" | tail -n 1)"
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"

# Every test on the first version; only the tests that drive a real ComfyUI server (marked real_server by
# tests/conftest.py) on the others: the rest never touches ComfyUI.
run_tests() {
  local versions_file="${TOONGEN_ENV_DIR:-$HOME/.cache/comfyui-toongen}/comfyui-versions.txt"
  local wanted="${TOONGEN_COMFYUI_VERSIONS:-}" status=0 first=1 summary=() lines line version pass_venv comfy_dir rc started
  mapfile -t lines < "$versions_file"
  for line in "${lines[@]}"; do
    read -r version pass_venv comfy_dir <<< "$line"
    if [[ -n "$wanted" && " $wanted " != *" $version "* ]]; then
      summary+=("ComfyUI $version: not selected (TOONGEN_COMFYUI_VERSIONS)"); continue
    fi
    local selection=()
    [[ $first == 1 || -n "$wanted" ]] || selection=(-m real_server)
    echo "toongen: === ComfyUI $version: pytest ${selection[*]} $* ===" >&2
    rc=0 started=$SECONDS
    TOONGEN_COMFYUI_DIR="$comfy_dir" "$pass_venv/bin/python" -m pytest "${selection[@]}" "$@" || rc=$?
    [[ $rc == 5 && $first == 0 ]] && rc=0  # no real-server test among the selected ones
    summary+=("ComfyUI $version: $([[ $rc == 0 ]] && echo passed || echo "FAILED (pytest exit $rc)") in $((SECONDS - started)) s")
    [[ $rc == 0 ]] || status=$rc
    first=0
  done
  grep -q "^0.33.0 " "$versions_file" \
    || summary+=("ComfyUI 0.33.0: SKIPPED (../shared/upstream/comfyui-0.33.0.tar.gz not found; tested on 0.3.75 only)")
  printf 'toongen: %s\n' "${summary[@]}" >&2
  return $status
}

case "$command" in
  test)   run_tests "$@" ;;
  render) exec "$venv/bin/python" workflows/render.py --start-comfyui "$(dirname "$venv")/comfyui" --cpu --resume "$@" ;;
  bench)  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/benchmarks/requirements-bench.txt"
          exec "$venv/bin/python" "$here/benchmarks/bench_mix.py" "$@" ;;
  bench-speech) exec "$venv/bin/python" "$here/benchmarks/bench_speech.py" "$@" ;;
  bench-memory) exec "$venv/bin/python" "$here/benchmarks/bench_memory.py" "$@" ;;
  bench-interrupt) exec "$venv/bin/python" "$here/benchmarks/bench_interrupt.py" "$@" ;;
  bench-voices) exec "$venv/bin/python" "$here/benchmarks/bench_voices.py" "$@" ;;
  bench-mouth) exec "$venv/bin/python" "$here/benchmarks/bench_mouth.py" "$@" ;;
  bench-cluster) exec "$venv/bin/python" -m tests.benchmarks.bench_cluster "$@" ;;
  bench-clip)
    read -r _ venv33 comfy33 < <(grep "^0.33.0 " "${TOONGEN_ENV_DIR:-$HOME/.cache/comfyui-toongen}/comfyui-versions.txt") \
      || { echo "bench-clip runs on ComfyUI 0.33.0, which tests/bootstrap.sh builds from ../shared/upstream (missing here)" >&2; exit 2; }
    TOONGEN_COMFYUI_DIR="$comfy33" exec "$venv33/bin/python" -m tests.benchmarks.bench_clip "$@" ;;
  *) echo "usage: bash tests/run.sh test|render|bench|bench-speech|bench-memory|bench-interrupt|bench-voices|bench-mouth|bench-cluster|bench-clip [args]" >&2; exit 2 ;;
esac
