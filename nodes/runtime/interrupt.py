"""Stopping long model calls when the user presses Cancel.

ComfyUI's interrupt flag reaches these plain modules through two hooks the extension installs (`install`), so no
module here imports ComfyUI; outside ComfyUI nothing ever asks to stop. Where the engines look:

* ONNX Runtime calls: a watcher thread sets `RunOptions.terminate` (onnx_session.run);
* torch models (F5-TTS's DiT and Vocos, Kokoro's KModel): `check_before_every_layer` — a forward pre-hook on each
  submodule, so a run stops at its next layer: inside a flow step of F5 (its ODE calls the transformer once per
  step, through torchdiffeq) and inside one Kokoro segment, never after the whole chunk.
"""
from __future__ import annotations

from typing import Callable


class SpeechInterrupted(RuntimeError):
    """Raised where no ComfyUI is installed to raise its own InterruptProcessingException."""


def _never() -> bool:
    return False


_requested: Callable[[], bool] = _never
_raise: Callable[[], None] | None = None


def install(requested: Callable[[], bool], raise_if_requested: Callable[[], None]) -> None:
    """`requested()` reads the flag without clearing it; `raise_if_requested()` raises the host's interrupt
    exception (and clears the flag) when it is set."""
    global _requested, _raise
    _requested, _raise = requested, raise_if_requested


def requested() -> bool:
    return _requested()


def check() -> None:
    """Raise the host's interrupt exception if the user asked to stop."""
    if _raise is not None:
        _raise()
    elif _requested():
        raise SpeechInterrupted("interrupted")


def _check_hook(module, args) -> None:
    check()


def check_before_every_layer(module) -> list:
    """Make a torch module stop at its next layer when the user cancels: a forward pre-hook on it and on every
    submodule calls `check()`. Returns the hook handles (`handle.remove()` undoes it). Costs one flag read per layer
    call; nothing else changes."""
    return [sub.register_forward_pre_hook(_check_hook) for sub in module.modules()]
