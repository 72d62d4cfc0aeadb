"""TTS models under ComfyUI's memory manager.

Each torch module of a loaded engine is wrapped in a ModelPatcher and loaded with `load_models_gpu`, so it sits in
`comfy.model_management.current_loaded_models` like ComfyUI's own models: ComfyUI evicts it when Flux needs the
memory, and "Unload models" / `POST /free` frees it. When ComfyUI unloads one (it calls `detach`), ToonGen's cache
forgets the engine too, so the weights are really released and the next use reloads them.
"""
from __future__ import annotations

import gc
import threading
from typing import Hashable

import comfy.model_management as mm
import comfy.model_patcher
import torch

from . import model_cache

_lock = threading.RLock()
_patchers: dict[Hashable, list["TTSModelPatcher"]] = {}
# Patchers ComfyUI has unloaded, emptied of their module. They must outlive the unload call itself: ComfyUI
# registers a finalizer on the patched object that edits its loaded-model list, and it may not fire while
# ComfyUI is still walking that list. Cleared at the next safe point (our own calls).
_retired: list["TTSModelPatcher"] = []


class ModuleHolder(torch.nn.Module):
    """Holds an engine's module for ModelPatcher, which sets attributes (`device`, …) on the module it manages —
    some engines' modules have read-only ones (kokoro's KModel.device)."""

    def __init__(self, module: torch.nn.Module):
        super().__init__()
        self.inner = module


class TTSModelPatcher(comfy.model_patcher.ModelPatcher):
    """A ToonGen TTS module as ComfyUI sees its models; unloading it evicts the engine from ToonGen's cache.

    Deliberately the classic ModelPatcher, not `comfy.model_patcher.CoreModelPatcher`: with dynamic VRAM (on by
    default on NVIDIA GPUs in ComfyUI 0.33, comfy-aimdo) CoreModelPatcher becomes ModelPatcherDynamic, which
    streams weights through ComfyUI's own cast layers (comfy.ops); the TTS engines are plain torch layers and must
    be loaded whole. ComfyUI treats classic patchers beside dynamic ones as it treats its own (text encoders with
    dynamic VRAM off):
    `is_dynamic()` is False, so `partially_unload_ram` and the pin eviction never touch them, and
    `model_patches_models()` is empty (no transformer_options patches).
    """

    def __init__(self, module, cache_key: Hashable, load_device, offload_device):
        super().__init__(ModuleHolder(module), load_device=load_device, offload_device=offload_device)
        self.toongen_cache_key = cache_key

    def detach(self, unpatch_all: bool = True):
        result = super().detach(unpatch_all)
        # detach(unpatch_all=False) is not an unload: load_models_gpu re-seats an already loaded model that way,
        # and ModelPatcher.__del__ uses it too. Only a real unload retires the engine, and only once.
        if unpatch_all and self.model.inner is not None:
            self.model.inner = None  # the engine's weights no longer hang off ComfyUI's records
            retire(self.toongen_cache_key)
        return result


def retire(key: Hashable) -> None:
    """ComfyUI unloaded this engine: forget it, so its memory is freed and the next use reloads it."""
    with _lock:
        _retired.extend(_patchers.pop(key, []))
    model_cache.evict(key)


def _clear_retired() -> None:
    with _lock:
        done = _retired[:]
        _retired.clear()
    del done  # dropped outside the lock: a patcher's __del__ calls detach


def make_resident(key: Hashable, engine) -> None:
    """Register the engine's torch modules with ComfyUI (once per load) and have ComfyUI load them to its device
    (evicting other models if it must). Engines without torch modules (ONNX Runtime) are left alone."""
    _clear_retired()
    modules = list(getattr(engine, "torch_modules", lambda: [])())
    if not modules:
        return
    with _lock:
        patchers = _patchers.get(key)
        if patchers is None:
            device = modules[0].parameters().__next__().device
            patchers = [TTSModelPatcher(m, key, device, mm.unet_offload_device()) for m in modules]
            _patchers[key] = patchers
    # Whole-model loads: the TTS modules are plain torch layers without ComfyUI's low-VRAM weight casting.
    mm.load_models_gpu(patchers, force_full_load=True)


_unload_epoch = 0  # see unload_fingerprint


def unload_fingerprint() -> int:
    """The Unload node's fingerprint, taken by ComfyUI once per prompt before any node runs, and part of the cache
    key of every node after it.

    It must change when TTS models are loaded as the prompt starts (the node must run and free them before what
    follows it), and otherwise stay what it was when the node last ran (a cached chain stays cached). So it is the
    total number of model loads so far, sampled only while something is loaded: a model left loaded by a
    speech-only run gives a new number once (Unload and the chain after it run), the next prompt finds nothing
    loaded and gets that same number (all cached). New speech in the same prompt needs no new number: the Unload
    node's audio input changes its cache key anyway, so it runs after the speech."""
    global _unload_epoch
    with _lock:
        if model_cache.loaded_keys():
            _unload_epoch = sum(model_cache.load_counts.values())
        return _unload_epoch


def comfy_managed_keys() -> list[Hashable]:
    """Cache keys whose modules ComfyUI's loaded-model list holds right now."""
    held = [loaded.model for loaded in mm.current_loaded_models]
    return [key for key, patchers in list(_patchers.items()) if any(p in held for p in patchers)]


def unload_tts_models(unload_comfy_models: bool = False, empty_cache: bool = True) -> int:
    """Drop every TTS model: out of ComfyUI's loaded-model list and out of ToonGen's cache. Optionally unload
    ComfyUI's own models too. Safe when nothing is loaded. Returns how many TTS models were dropped."""
    dropped = len(model_cache.loaded_keys())
    ours = {id(p) for patchers in list(_patchers.values()) for p in patchers}
    for index in range(len(mm.current_loaded_models) - 1, -1, -1):
        loaded = mm.current_loaded_models[index]
        if id(loaded.model) in ours:
            loaded.model_unload()  # calls detach → retire
            mm.current_loaded_models.pop(index)
    with _lock:
        _patchers.clear()
    _clear_retired()
    model_cache.unload_models(empty_cuda_cache=False)
    if unload_comfy_models:
        mm.unload_all_models()
    gc.collect()
    if empty_cache:
        mm.soft_empty_cache()
    return dropped
