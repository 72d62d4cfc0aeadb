"""Stopping long model calls when the user presses Cancel.

ComfyUI's interrupt flag reaches these plain modules through two hooks the extension installs (`install`), so no
module here imports ComfyUI; outside ComfyUI nothing ever asks to stop.
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
