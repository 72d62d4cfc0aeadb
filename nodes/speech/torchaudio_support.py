"""torchaudio for F5-TTS, whose mel spectrogram is torchaudio's: ComfyUI no longer installs it (0.38 dropped it from
its requirements), and a plain `pip install torchaudio` can replace ComfyUI's torch with another build. So when it
is missing, say so with the command that matches the torch that is installed: the same release, from the PyTorch
index of the same build (cpu, cuXYZ, rocmX.Y, xpu), with --no-deps so pip never touches torch.

No ComfyUI import; install.py loads this file by path too.
"""
from __future__ import annotations

import importlib
import re
import sys

PYTORCH_INDEX = "https://download.pytorch.org/whl"
# torch releases whose torchaudio has another number; from torch 2.1 on they are released in step.
_TORCHAUDIO_FOR_TORCH = {(2, 0, 0): "2.0.1", (2, 0, 1): "2.0.2"}


def matching_torchaudio(torch_version: str) -> tuple[str | None, str | None]:
    """(torchaudio requirement, index URL or None for PyPI) for a torch version string such as '2.5.1+cu124'.
    The requirement is None when the build cannot be matched (a source build); the index is None for PyPI's own
    wheels (CUDA on Linux, CPU elsewhere), which PyPI's torchaudio of the same release matches."""
    release, _, label = torch_version.partition("+")
    match = re.match(r"(\d+)\.(\d+)\.(\d+)", release)
    if not match:
        return None, None
    major, minor, patch = (int(x) for x in match.groups())
    nightly = ".dev" in release
    if label and not re.fullmatch(r"cpu|cu\d+|rocm[\d.]+|xpu", label):
        return None, None  # e.g. a local source build: no published torchaudio is known to match it
    if nightly:
        requirement = "--pre torchaudio"
    elif (major, minor, patch) in _TORCHAUDIO_FOR_TORCH:
        requirement = f"torchaudio=={_TORCHAUDIO_FOR_TORCH[(major, minor, patch)]}"
    elif major == 1:
        requirement = f"torchaudio==0.{minor}.{patch}"
    else:
        requirement = f"torchaudio=={major}.{minor}.{patch}"
    if not label:
        return requirement, (f"{PYTORCH_INDEX}/nightly/cpu" if nightly else None)
    return requirement, f"{PYTORCH_INDEX}/{'nightly/' if nightly else ''}{label}"


def torchaudio_install_command(torch_version: str, python: str = sys.executable) -> str | None:
    requirement, index = matching_torchaudio(torch_version)
    if requirement is None:
        return None
    interpreter = f'"{python}"' if " " in python else python
    return f"{interpreter} -m pip install --no-deps {requirement}" + (f" --index-url {index}" if index else "")


def torchaudio_problem() -> str | None:
    """None when torchaudio imports; else why not, and the install command that matches the installed torch."""
    try:
        importlib.import_module("torchaudio")
        return None
    except Exception as exc:  # ImportError when absent; OSError when its compiled part does not fit this torch
        broken = not isinstance(exc, ModuleNotFoundError) or exc.name != "torchaudio"
        cause = f"torchaudio is installed but does not import ({type(exc).__name__}: {exc})" if broken else \
            "torchaudio is not installed (ComfyUI no longer installs it)"
    import torch

    command = torchaudio_install_command(torch.__version__)
    build = f"torch {torch.__version__}" + (f", CUDA {torch.version.cuda}" if torch.version.cuda else "") + \
        (f", ROCm {torch.version.hip}" if getattr(torch.version, "hip", None) else "")
    if command is None:
        return (f"F5-TTS needs torchaudio (its mel spectrogram): {cause}. Your torch ({build}) is not a published "
                "build: install the torchaudio built for it with pip's --no-deps, so that pip leaves torch alone.")
    return (f"F5-TTS needs torchaudio (its mel spectrogram): {cause}. The one that matches your {build}:\n"
            f"  {command}\n(--no-deps keeps your torch as it is; a plain `pip install torchaudio` can replace it with "
            "another build. If pip finds no such torchaudio, none is published for this torch, and nothing changed.)")
