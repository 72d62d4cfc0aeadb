"""One loaded instance per (engine, weights, device, dtype), held in this module — never on node classes,
which ComfyUI clones per run. `unload_models` drops them; the next use reloads transparently."""
from __future__ import annotations

import contextlib
import gc
import threading
import weakref
from collections import Counter
from typing import Callable, Hashable, TypeVar

T = TypeVar("T")

_lock = threading.RLock()
_loaded: dict[Hashable, object] = {}
load_counts: Counter = Counter()  # how often each key was really loaded (tests count cache hits with it)
_ever_loaded: "weakref.WeakSet[object]" = weakref.WeakSet()  # every engine object still alive anywhere
# Called with (key, model) on every use; inside ComfyUI it registers the model with ComfyUI's memory manager.
on_use: Callable[[Hashable, object], None] | None = None


def get_or_load(key: Hashable, loader: Callable[[], T]) -> T:
    with _lock:
        if key not in _loaded:
            _loaded[key] = loader()
            load_counts[key] += 1
            try:
                _ever_loaded.add(_loaded[key])
            except TypeError:  # not weak-referenceable: it is simply not counted by live_count()
                pass
        model = _loaded[key]
    if on_use is not None:
        on_use(key, model)
    return model  # type: ignore[return-value]


def evict(key: Hashable) -> bool:
    """Forget one model (ComfyUI unloaded it); True when it was cached."""
    with _lock:
        return _loaded.pop(key, None) is not None


def live_count() -> int:
    """How many engine objects ever loaded are still alive (0 after an unload once nothing else holds them)."""
    gc.collect()
    return len(_ever_loaded)


def loaded_keys() -> list[Hashable]:
    with _lock:
        return list(_loaded)


def unload_models(empty_cuda_cache: bool = True) -> int:
    """Drop every cached model, collect garbage and (when torch has CUDA) return the freed memory to the driver.
    Returns how many models were dropped; safe when nothing is loaded."""
    with _lock:
        count = len(_loaded)
        _loaded.clear()
    gc.collect()
    release_freed_heap()
    if empty_cuda_cache:
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass
    return count


def release_freed_heap() -> None:
    """Hand freed heap pages back to the OS (glibc keeps them otherwise, so the process size would not drop)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl): nothing to do
        pass



@contextlib.contextmanager
def heap_released_after():
    """Around a speech job: whatever it freed (chunk buffers, engine scratch) goes back to the OS when it ends,
    finished or cancelled, instead of staying in the process as free heap."""
    try:
        yield
    finally:
        release_freed_heap()
