"""Where long-lived output tensors live.

ComfyUI keeps every node's outputs in its cache, often for the life of the server. A clip-length tensor allocated
the ordinary way can land inside a malloc heap of ComfyUI's worker thread (glibc raises its mmap threshold up to
32 MiB after big frees, and a 5-minute mono clip at 24 kHz is 31 MiB): held there by the cache, it pins the whole
heap, and the freed memory around it never returns to the OS — not even after the Unload node's `malloc_trim`.
An output copied into its own anonymous memory mapping pins nothing, and is unmapped when the cache drops it.
"""
from __future__ import annotations

import mmap

import numpy as np
import torch

OWN_MAPPING_MIN_BYTES = 1 << 20  # below this an output is small wherever it lands


def _anonymous_mapping(nbytes: int) -> mmap.mmap:
    if hasattr(mmap, "MAP_PRIVATE"):  # POSIX: private, or it would count as shared memory and be shared on fork
        return mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    return mmap.mmap(-1, nbytes)  # Windows: an anonymous mapping backed by the paging file


def in_own_mapping(tensor: torch.Tensor) -> torch.Tensor:
    """A contiguous CPU copy of `tensor` in its own memory mapping (small or non-CPU tensors: contiguous, as they
    are)."""
    if tensor.device.type != "cpu" or tensor.numel() * tensor.element_size() < OWN_MAPPING_MIN_BYTES:
        return tensor.contiguous()
    nbytes = tensor.numel() * tensor.element_size()
    storage = np.frombuffer(_anonymous_mapping(nbytes), dtype=np.uint8)  # the array keeps the mapping alive
    copy = torch.from_numpy(storage).view(tensor.dtype).view(tensor.shape)
    copy.copy_(tensor)
    return copy
