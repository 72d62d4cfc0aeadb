"""Random-weight model files in the exact layouts and key names that ComfyUI 0.33.0 and the video packs load, so the
clip workflows (workflows/api/toongen_clip_flux_{gguf,fp8,nf4}.json) execute end to end on a CPU.

Every state dict is enumerated from the real module classes (ComfyUI's comfy.*, AnimateDiff-Evolved's motion module,
AdvancedLivePortrait's modules and its models.yaml, ultralytics' YOLOv8n) built on the meta device, or on the CPU where
a class cannot be built on meta, and every tensor is then filled explicitly: ComfyUI skips weight initialisation on a
CPU, so a key left out would be uninitialised memory (NaN) rather than a random weight. Fills:
  ≥2-D weights   ≈N(0, 1/fan_in): an Irwin–Hall sum of four 16-bit uniforms from a PCG64 stream seeded by the
                 tensor's name (PCG64 and SeedSequence are fixed algorithms), so the values depend only on
                 GENERATOR_VERSION (the pickled YOLO also on ultralytics' classes, NF4 on bitsandbytes' quantiser);
                 tensors above TILE elements repeat their first TILE values (T5-XXL is 4.76 B parameters)
  norm weights   ones; biases, running means, GRN gamma/beta: zeros; running variances: ones
  buffers        the values the loaders expect (AnimateDiff v3's 32-frame sinusoidal pos_encoder.pe, spectral-norm
                 vectors that keep σ ≈ 2, YOLO's DFL bins)
Files are streamed tensor by tensor (a small safetensors and GGUF writer of our own) into `<file>.partial` and renamed
when complete, so an interrupted run never leaves a file that looks finished and a rerun writes only what is missing.

Usage (the ComfyUI 0.33.0 venv, from the repo root; TOONGEN_COMFYUI_DIR names the ComfyUI tree):
    python -m tests.support.clip_models [--out DIR] [--variant gguf|fp8|nf4 ...]
"""
from __future__ import annotations

import argparse
import fcntl
import hashlib
import importlib
import importlib.util
import json
import math
import os
import re
import struct
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from .comfy_server import ENV_ROOT, comfy_dir

if TYPE_CHECKING:
    import torch

GENERATOR_VERSION = 1
VARIANTS = ("gguf", "fp8", "nf4")
PACKS_DIR = ENV_ROOT / "custom-nodes"
# 32 × 131071 (a prime): whole GGUF blocks, and not a multiple of any row length, so repeats land shifted.
TILE = 32 * 131071

SD15_UNET = {  # comfy/model_detection.py's SD15 config: the only UNet that detects as SD1.5 (supported_models.SD15)
    "use_checkpoint": False, "image_size": 32, "out_channels": 4, "use_spatial_transformer": True, "legacy": False,
    "adm_in_channels": None, "in_channels": 4, "model_channels": 320, "num_res_blocks": [2, 2, 2, 2],
    "transformer_depth": [1, 1, 1, 1, 1, 1, 0, 0], "channel_mult": [1, 2, 4, 4], "transformer_depth_middle": 1,
    "use_linear_in_transformer": False, "context_dim": 768, "num_heads": 8,
    "transformer_depth_output": [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0],
    "use_temporal_attention": False, "use_temporal_resblock": False,
}
# The smallest Flux ComfyUI accepts: num_heads = hidden // sum(axes_dim) = 1. Schnell: no guidance_in.
# context_in_dim and vec_in_dim must match T5-XXL (4096) and CLIP-L's pooled output (768).
TINY_FLUX = {
    "image_model": "flux", "in_channels": 16, "out_channels": 16, "vec_in_dim": 768, "context_in_dim": 4096,
    "hidden_size": 128, "mlp_ratio": 4.0, "num_heads": 1, "depth": 1, "depth_single_blocks": 1,
    "axes_dim": [16, 56, 56], "theta": 10000, "patch_size": 2, "qkv_bias": True, "guidance_embed": False,
    "txt_ids_dims": [],
}
VAE_DDCONFIG = {"double_z": True, "z_channels": 4, "resolution": 256, "in_channels": 3, "out_ch": 3, "ch": 128,
                "ch_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_resolutions": [], "dropout": 0.0}
FLUX_VAE_DECODER_CH = 32  # ComfyUI infers the decoder width from decoder.conv_in; the encoder stays at ch 128
AD_CHANNELS = (320, 640, 1280, 1280)  # motion_module_ad.py hard-codes SD1.5's widths
AD_V3_PE_LEN = 32  # normalize_ad_state_dict: an SD1.5 module with a 32-long pos_encoder.pe is v3
LIVEPORTRAIT_MODELS = ("appearance_feature_extractor", "motion_extractor", "warping_module", "spade_generator")
STITCHING_PREFIXES = {"stitching": "retarget_shoulder_module.", "lip": "retarget_mouth_module.",
                      "eye": "retarget_eye_module."}
YOLO_NO_FACE_BIAS = -10.0  # class logits stay far below ALP's conf=0.7, so the whole frame is used as the face
# llama.cpp's T5 encoder names (ComfyUI-GGUF maps them back with loader.py's T5_SD_MAP).
T5_GGUF_NAMES = {
    "layer.0.SelfAttention.q.weight": "attn_q.weight", "layer.0.SelfAttention.k.weight": "attn_k.weight",
    "layer.0.SelfAttention.v.weight": "attn_v.weight", "layer.0.SelfAttention.o.weight": "attn_o.weight",
    "layer.0.layer_norm.weight": "attn_norm.weight",
    "layer.0.SelfAttention.relative_attention_bias.weight": "attn_rel_b.weight",
    "layer.1.DenseReluDense.wi_0.weight": "ffn_gate.weight", "layer.1.DenseReluDense.wi_1.weight": "ffn_up.weight",
    "layer.1.DenseReluDense.wo.weight": "ffn_down.weight", "layer.1.layer_norm.weight": "ffn_norm.weight",
}


# --- fills and tensor specs -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Fill:
    """How a tensor's values are made: noise ("normal", seeded by `seed`), a constant, or explicit values."""
    kind: str                                      # "normal" | "const" | "array"
    seed: str = ""
    std: float = 0.0
    value: float = 0.0
    array: Callable[[], np.ndarray] | None = None

    @staticmethod
    def normal(seed: str, std: float) -> Fill:
        return Fill("normal", seed=seed, std=std)

    @staticmethod
    def const(value: float) -> Fill:
        return Fill("const", value=value)

    @staticmethod
    def values(make: Callable[[], np.ndarray]) -> Fill:
        return Fill("array", array=make)


@dataclass(frozen=True)
class Spec:
    name: str
    shape: tuple[int, ...]
    dtype: str  # safetensors dtype (F32, F16, F8_E4M3, I64, U8), or GGML type in a GGUF (F32, F16, Q4_1)
    fill: Fill

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


def _seed(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"toongen-clip-models/v{GENERATOR_VERSION}/{key}".encode(),
                                          digest_size=16).digest(), "little")


def _raw(key: str, n: int) -> np.ndarray:
    """n uint64 from PCG64 seeded by `key` (PCG64's raw output is fixed by the algorithm, not by NumPy's version)."""
    return np.random.PCG64(_seed(key)).random_raw(n).astype("<u8", copy=False)


def noise(key: str, n: int) -> np.ndarray:
    """n float32 ≈ N(0, 1): the centred sum of four 16-bit uniforms per 64-bit draw (exact integer arithmetic, then
    one rounding), so the values are the same on every machine."""
    total = _raw(key, n).view("<u2").reshape(n, 4).sum(axis=1, dtype=np.int32) - 2 * 65535
    return total.astype(np.float32) * np.float32(math.sqrt(3.0) / 65536)


def _tile(spec: Spec) -> np.ndarray:
    """The values the tensor repeats (all of them when it has at most TILE elements), flat, float32 or int64."""
    n = min(spec.numel, TILE)
    fill = spec.fill
    if fill.kind == "normal":
        return noise(fill.seed, n) * np.float32(fill.std)
    if fill.kind == "const":
        return np.full(n, fill.value, dtype=np.int64 if spec.dtype == "I64" else np.float32)
    assert fill.array is not None
    values = np.ascontiguousarray(fill.array()).reshape(-1)
    if values.size != spec.numel:
        raise ValueError(f"{spec.name}: {values.size} values for shape {spec.shape}")
    return values


def full_values(spec: Spec) -> np.ndarray:
    return np.resize(_tile(spec), spec.shape)


_NUMPY_DTYPES = {"F32": "<f4", "F16": "<f2", "I64": "<i8", "U8": "u1"}
_ITEMSIZE = {"F32": 4, "F16": 2, "F8_E4M3": 1, "I64": 8, "U8": 1}


def _encode(values: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "F8_E4M3":
        import torch
        return torch.from_numpy(values.astype(np.float32)).to(torch.float8_e4m3fn).view(torch.uint8).numpy()
    return values.astype(_NUMPY_DTYPES[dtype])


def _chunks(block: np.ndarray, total: int) -> Iterator[memoryview]:
    """`total` bytes of `block` repeated."""
    data = memoryview(block.reshape(-1).view(np.uint8))
    full, rest = divmod(total, len(data))
    for _ in range(full):
        yield data
    if rest:
        yield data[:rest]


# --- writers --------------------------------------------------------------------------------------------------

@contextmanager
def _atomic(path: Path) -> Iterator[IO[bytes]]:
    """Write `<path>.partial`, rename it to `path` once complete; on an error nothing is left behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    try:
        with open(partial, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)


def write_safetensors(path: Path, specs: list[Spec]) -> None:
    specs = sorted(specs, key=lambda s: (-_ITEMSIZE[s.dtype], s.name))  # widest first keeps every tensor aligned
    header: dict[str, Any] = {}
    offset = 0
    for spec in specs:
        size = spec.numel * _ITEMSIZE[spec.dtype]
        header[spec.name] = {"dtype": spec.dtype, "shape": list(spec.shape), "data_offsets": [offset, offset + size]}
        offset += size
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    with _atomic(path) as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for spec in specs:
            for chunk in _chunks(_encode(_tile(spec), spec.dtype), spec.numel * _ITEMSIZE[spec.dtype]):
                f.write(chunk)


GGUF_ALIGNMENT = 32
_GGML_TYPES = {"F32": 0, "F16": 1, "Q4_1": 3}
Q4_1_BLOCK_BYTES = 20  # fp16 d, fp16 m, 16 bytes of 32 nibbles
Q4_1_UNIT_STD = math.sqrt((16 ** 2 - 1) / 12)  # std of (q - 7.5) for q uniform on 0..15


def _gguf_nbytes(spec: Spec) -> int:
    if spec.dtype == "Q4_1":
        return spec.numel // 32 * Q4_1_BLOCK_BYTES
    return spec.numel * _ITEMSIZE[spec.dtype]


def _q4_1_tile(spec: Spec) -> np.ndarray:
    """Q4_1 blocks of random nibbles with a fixed scale d and offset m = -7.5·d: values d·(q − 7.5), symmetric,
    with the spec's std. Written as raw blocks: no float quantisation of billions of values."""
    if spec.fill.kind != "normal" or spec.shape[-1] % 32:
        raise ValueError(f"{spec.name}: Q4_1 needs a noise fill and rows of whole 32-blocks")
    blocks = min(spec.numel, TILE) // 32
    scale = np.float16(spec.fill.std / Q4_1_UNIT_STD)
    offset = np.float16(-7.5 * float(scale))
    out = np.empty((blocks, Q4_1_BLOCK_BYTES), dtype=np.uint8)
    out[:, 0:2] = np.frombuffer(scale.astype("<f2").tobytes(), np.uint8)
    out[:, 2:4] = np.frombuffer(offset.astype("<f2").tobytes(), np.uint8)
    out[:, 4:] = _raw(spec.fill.seed, blocks * 2).view(np.uint8).reshape(blocks, 16)
    return out


def _gguf_string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def write_gguf(path: Path, arch: str, specs: list[Spec]) -> None:
    """GGUF v3 with general.architecture = `arch`; tensor dims are stored innermost first (reversed torch shape)."""
    kv = (_gguf_string("general.architecture") + struct.pack("<I", 8) + _gguf_string(arch)
          + _gguf_string("general.quantization_version") + struct.pack("<II", 4, 2))
    infos, offset = b"", 0
    for spec in specs:
        infos += (_gguf_string(spec.name) + struct.pack("<I", len(spec.shape))
                  + struct.pack(f"<{len(spec.shape)}Q", *reversed(spec.shape))
                  + struct.pack("<IQ", _GGML_TYPES[spec.dtype], offset))
        offset += -(-_gguf_nbytes(spec) // GGUF_ALIGNMENT) * GGUF_ALIGNMENT
    head = b"GGUF" + struct.pack("<IQQ", 3, len(specs), 2) + kv + infos
    with _atomic(path) as f:
        f.write(head + b"\0" * (-len(head) % GGUF_ALIGNMENT))
        for spec in specs:
            size = _gguf_nbytes(spec)
            block = _q4_1_tile(spec) if spec.dtype == "Q4_1" else _encode(_tile(spec), spec.dtype)
            for chunk in _chunks(block, size):
                f.write(chunk)
            f.write(b"\0" * (-size % GGUF_ALIGNMENT))


# --- module enumeration ---------------------------------------------------------------------------------------

def default_fill(seed: str, owner: str, leaf: str, shape: tuple[int, ...]) -> Fill:
    if leaf in ("bias", "running_mean", "num_batches_tracked", "gamma", "beta"):  # gamma/beta: ConvNeXt-V2's GRN
        return Fill.const(0.0)
    if leaf == "running_var" or ("norm" in owner.lower() and leaf in ("weight", "scale")):
        return Fill.const(1.0)
    if len(shape) >= 2:
        return Fill.normal(seed, 1.0 / math.sqrt(math.prod(shape[1:])))
    raise ValueError(f"no fill rule for {seed} {shape} in a {owner}")


SpecialFill = Callable[[str, tuple[int, ...]], "Fill | None"]


def module_specs(module: torch.nn.Module, stream: str, dtype: str = "F16",
                 special: SpecialFill | None = None) -> list[Spec]:
    """One spec per state-dict entry of `module`; seeds are `<stream>/<key>`, independent of later renames."""
    import torch

    specs = []
    for key, tensor in module.state_dict(keep_vars=True).items():
        owner_path, _, leaf = key.rpartition(".")
        shape = tuple(tensor.shape)
        fill = (special(key, shape) if special else None) or default_fill(
            f"{stream}/{key}", type(module.get_submodule(owner_path)).__name__, leaf, shape)
        specs.append(Spec(key, shape, "I64" if tensor.dtype == torch.int64 else dtype, fill))
    return specs


def prefixed(specs: Iterable[Spec], prefix: str, dtype: str | None = None) -> list[Spec]:
    return [replace(s, name=prefix + s.name, dtype=dtype if dtype and s.dtype != "I64" else s.dtype) for s in specs]


class _Env:
    """ComfyUI's model code and the packs' modules, imported when the first missing file is built."""

    def __init__(self) -> None:
        import torch

        tree = str(comfy_dir())
        if tree not in sys.path:
            sys.path.insert(0, tree)
        import comfy.cli_args
        if not torch.cuda.is_available():
            comfy.cli_args.args.cpu = True  # comfy.model_management asks CUDA for a device at import otherwise
        import comfy.ops
        self.torch = torch
        self.ops = comfy.ops.disable_weight_init

    def meta(self, build: Callable[[], torch.nn.Module]) -> torch.nn.Module:
        with self.torch.device("meta"):
            return build()

    def pack_module(self, alias: str, folder: Path, module: str) -> Any:
        """`module` from a pack sub-folder, imported as `<alias>.<module>` (pack folders have hyphens in their
        names, and their package __init__ registers nodes and imports far more than the model classes)."""
        if alias not in sys.modules:
            if not folder.is_dir():
                raise FileNotFoundError(f"{folder} is missing: tests/bootstrap.sh unpacks the packs into {PACKS_DIR}")
            package = importlib.util.module_from_spec(importlib.util.spec_from_loader(alias, None, is_package=True))
            package.__path__ = [str(folder)]
            sys.modules[alias] = package
        return importlib.import_module(f"{alias}.{module}")

    # the models --------------------------------------------------------------------------------------------
    def sd15_unet(self) -> list[Spec]:
        from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel
        return module_specs(self.meta(lambda: UNetModel(**SD15_UNET, operations=self.ops)), "sd15-unet")

    def clip_l(self) -> list[Spec]:
        """CLIP-L as comfy/sd1_clip_config.json builds it: text_model.* (196) and text_projection.weight."""
        from comfy.clip_model import CLIPTextModel
        config = json.loads((comfy_dir() / "comfy" / "sd1_clip_config.json").read_text())
        return module_specs(self.meta(lambda: CLIPTextModel(config, None, "meta", self.ops)), "clip-l")

    def sd15_vae(self) -> list[Spec]:
        from comfy.ldm.models.autoencoder import AutoencoderKL
        return module_specs(self.meta(lambda: AutoencoderKL(ddconfig=VAE_DDCONFIG, embed_dim=4)), "sd15-vae")

    def flux_vae(self) -> list[Spec]:
        from comfy.ldm.models.autoencoder import AutoencodingEngine
        encoder = {**VAE_DDCONFIG, "z_channels": 16}
        decoder = {**encoder, "ch": FLUX_VAE_DECODER_CH}
        model = "comfy.ldm.modules.diffusionmodules.model"
        return module_specs(self.meta(lambda: AutoencodingEngine(
            regularizer_config={"target": "comfy.ldm.models.autoencoder.DiagonalGaussianRegularizer"},
            encoder_config={"target": f"{model}.Encoder", "params": encoder},
            decoder_config={"target": f"{model}.Decoder", "params": decoder})), "flux-vae")

    def flux_dit(self) -> list[Spec]:
        """The tiny FluxSchnell, with the released files' QK-norm names (`*_norm.scale`; ComfyUI renames them)."""
        from comfy.ldm.flux.model import Flux
        specs = module_specs(self.meta(lambda: Flux(**TINY_FLUX, operations=self.ops)), "flux-dit")
        return [replace(s, name=re.sub(r"_norm\.weight$", "_norm.scale", s.name)) for s in specs]

    def t5xxl(self) -> list[Spec]:
        """T5-XXL's encoder as comfy/text_encoders/t5_config_xxl.json builds it (219 keys, 4.76 B parameters)."""
        from comfy.text_encoders.t5 import T5
        config = json.loads((comfy_dir() / "comfy" / "text_encoders" / "t5_config_xxl.json").read_text())
        return module_specs(self.meta(lambda: T5(config, None, "meta", self.ops)), "t5xxl")

    def motion_module(self) -> list[Spec]:
        """AnimateDiff v3: the module AnimateDiff-Evolved builds from a v3 file's keys (down and up blocks, two
        attention blocks each, no mid block), with its own sinusoidal pos_encoder.pe of length 32."""
        ade = self.pack_module("toongen_ade", PACKS_DIR / "ComfyUI-AnimateDiff-Evolved" / "animatediff",
                               "motion_module_ad")
        torch = self.torch
        keys = {}
        for blocks, channels in (("down_blocks", AD_CHANNELS), ("up_blocks", tuple(reversed(AD_CHANNELS)))):
            for index, width in enumerate(channels):
                for attention in (0, 1):
                    keys[f"{blocks}.{index}.motion_modules.0.temporal_transformer.transformer_blocks.0."
                         f"attention_blocks.{attention}.pos_encoder.pe"] = torch.empty(1, AD_V3_PE_LEN, width,
                                                                                       device="meta")
        state, info = ade.normalize_ad_state_dict(keys, "v3_sd15_mm.ckpt")
        if info.mm_version != "v3":
            raise RuntimeError(f"AnimateDiff-Evolved reads these keys as {info.get_string()}, not v3")
        model = self.meta(lambda: ade.AnimateDiffModel(state, info))

        def positional_encoding(key: str, shape: tuple[int, ...]) -> Fill | None:
            if not key.endswith("pos_encoder.pe"):
                return None
            return Fill.values(lambda: ade.PositionalEncoding(shape[2], max_len=shape[1]).pe.numpy())
        return module_specs(model, "ad-v3", special=positional_encoding)

    def liveportrait(self, name: str) -> list[Spec]:
        """One of AdvancedLivePortrait's models as its models.yaml configures it (built on the CPU: ConvNeXt-V2
        calls .item() in __init__); the stitching file holds the three retargeting MLPs under the prefixes of
        Kijai's safetensors (the pack keeps `retarget_shoulder_module.*`)."""
        import yaml

        root = PACKS_DIR / "ComfyUI-AdvancedLivePortrait" / "LivePortrait"
        config = yaml.safe_load((root / "config" / "models.yaml").read_text())["model_params"]
        classes = {"appearance_feature_extractor": ("appearance_feature_extractor", "AppearanceFeatureExtractor"),
                   "motion_extractor": ("motion_extractor", "MotionExtractor"),
                   "warping_module": ("warping_network", "WarpingNetwork"),
                   "spade_generator": ("spade_generator", "SPADEDecoder"),
                   "stitching_retargeting_module": ("stitching_retargeting_network", "StitchingRetargetingNetwork")}
        module_name, class_name = classes[name]
        cls = getattr(self.pack_module("toongen_alp_modules", root / "modules", module_name), class_name)
        if name != "stitching_retargeting_module":
            return module_specs(cls(**config[f"{name}_params"]), f"lp-{name}", special=spectral_norm_fill(name))
        parts = config["stitching_retargeting_module_params"]
        return [spec for part, prefix in STITCHING_PREFIXES.items()
                for spec in prefixed(module_specs(cls(**parts[part]), f"lp-{part}"), prefix)]


def spectral_norm_fill(stream: str) -> SpecialFill:
    """Spectral-normed convs (LivePortrait's SPADE) divide weight_orig by σ = uᵀ·W·v in eval mode. Random u, v
    could put σ near 0; fixed unit vectors u, v and a 2·u·vᵀ term in weight_orig make σ ≈ 2."""
    def unit(seed: str, n: int) -> np.ndarray:
        return np.where(noise(seed, n) >= 0, 1.0, -1.0).astype(np.float32) / np.float32(math.sqrt(n))

    def fill(key: str, shape: tuple[int, ...]) -> Fill | None:
        base, _, leaf = key.rpartition(".")
        seed = f"lp-{stream}/{base}"
        if leaf == "weight_u":
            return Fill.values(lambda: unit(f"{seed}.u", shape[0]))
        if leaf == "weight_v":
            return Fill.values(lambda: unit(f"{seed}.v", shape[0]))
        if leaf == "weight_orig":
            rows, cols = shape[0], math.prod(shape[1:])
            return Fill.values(lambda: noise(f"{seed}.weight", rows * cols).reshape(rows, cols)
                               * np.float32(1 / math.sqrt(cols))
                               + np.float32(2.0) * np.outer(unit(f"{seed}.u", rows), unit(f"{seed}.v", cols)))
        return None
    return fill


# --- the files ------------------------------------------------------------------------------------------------

def _sd15_checkpoint(env: _Env, path: Path) -> None:
    """ToonYou's layout: a full SD1.5 (UNet, CLIP-L text_model, VAE) under the original LDM prefixes."""
    text_model = [s for s in env.clip_l() if s.name.startswith("text_model.")]  # SD1.5 files carry no projection
    write_safetensors(path, prefixed(env.sd15_unet(), "model.diffusion_model.")
                      + prefixed(text_model, "cond_stage_model.transformer.")
                      + prefixed(env.sd15_vae(), "first_stage_model."))


def _motion_module_file(env: _Env, path: Path) -> None:
    torch = env.torch
    state = {s.name: torch.from_numpy(full_values(s).astype(np.float16)) for s in env.motion_module()}
    with _atomic(path) as f:
        torch.save(state, f)


def _liveportrait_file(name: str) -> Callable[[_Env, Path], None]:
    def build(env: _Env, path: Path) -> None:
        write_safetensors(path, env.liveportrait(name))
    return build


def _yolo_file(env: _Env, path: Path) -> None:
    """A YOLOv8n face detector (nc=1) pickled the way ultralytics saves one, every weight filled here: DFL keeps its
    0..15 bins and the class logits are biased to YOLO_NO_FACE_BIAS."""
    torch = env.torch
    with tempfile.TemporaryDirectory() as settings:
        own_settings = "YOLO_CONFIG_DIR" not in os.environ
        if own_settings:
            os.environ["YOLO_CONFIG_DIR"] = settings  # ultralytics writes a settings file on import
        try:
            from ultralytics.nn.tasks import DetectionModel
            model = DetectionModel("yolov8n.yaml", nc=1, verbose=False)
        finally:
            if own_settings:
                del os.environ["YOLO_CONFIG_DIR"]
    model.names = {0: "face"}
    state = model.state_dict()

    def keep_or_bias(key: str, shape: tuple[int, ...]) -> Fill | None:
        if ".dfl." in key:
            return Fill.values(lambda: state[key].numpy().copy())
        if re.search(r"\.cv3\.\d+\.2\.bias$", key):
            return Fill.const(YOLO_NO_FACE_BIAS)
        return None
    with torch.no_grad():
        for spec in module_specs(model, "yolov8n-face", special=keep_or_bias):
            state[spec.name].copy_(torch.from_numpy(full_values(spec)))
    with _atomic(path) as f:
        torch.save({"model": model.half(), "train_args": {"task": "detect", "imgsz": 640}}, f)


def _gguf_flux(env: _Env, path: Path) -> None:
    specs = env.flux_dit()
    write_gguf(path, "flux", [replace(s, dtype="Q4_1" if len(s.shape) == 2 else "F32") for s in specs])


def _gguf_name(key: str) -> str:
    if key == "shared.weight":
        return "token_embd.weight"
    if key == "encoder.final_layer_norm.weight":
        return "enc.output_norm.weight"
    block, part = re.fullmatch(r"encoder\.block\.(\d+)\.(.+)", key).groups()
    return f"enc.blk.{block}.{T5_GGUF_NAMES[part]}"


def _gguf_t5(env: _Env, path: Path) -> None:
    """T5-XXL's encoder, llama.cpp names, arch t5encoder: matrices Q4_1, norms F32, relative bias F16."""
    def gguf_dtype(spec: Spec) -> str:
        if len(spec.shape) == 1:
            return "F32"
        return "F16" if spec.name.endswith("relative_attention_bias.weight") else "Q4_1"
    write_gguf(path, "t5encoder", [replace(s, name=_gguf_name(s.name), dtype=gguf_dtype(s)) for s in env.t5xxl()])


def _clip_l_file(env: _Env, path: Path) -> None:
    write_safetensors(path, env.clip_l())


def _flux_vae_file(env: _Env, path: Path) -> None:
    write_safetensors(path, env.flux_vae())


def _flux_checkpoint(env: _Env, path: Path, dit: list[Spec]) -> None:
    """An all-in-one schnell: `dit` under model.diffusion_model., fp16 CLIP-L, fp8 T5-XXL, fp16 VAE."""
    write_safetensors(path, prefixed(dit, "model.diffusion_model.")
                      + prefixed(env.clip_l(), "text_encoders.clip_l.transformer.")
                      + prefixed(env.t5xxl(), "text_encoders.t5xxl.transformer.", "F8_E4M3")
                      + prefixed(env.flux_vae(), "vae."))


def _flux_fp8_checkpoint(env: _Env, path: Path) -> None:
    """Comfy-Org's layout: the DiT in fp8 too."""
    _flux_checkpoint(env, path, prefixed(env.flux_dit(), "", "F8_E4M3"))


def _flux_nf4_checkpoint(env: _Env, path: Path) -> None:
    """The Forge layout of the published NF4 files: every DiT Linear weight pre-quantised by bitsandbytes (packed
    uint8 [n/2, 1] plus its quant_state keys), which the NF4 pack loads as is. Generating it needs bitsandbytes.
    ComfyUI 0.33.0 cannot run such a file on any device: model_detection.py reads the Flux widths from those packed
    shapes (hidden_size, context_in_dim, vec_in_dim), so the model is built with the wrong widths."""
    try:
        import bitsandbytes.functional as bnb
    except ImportError as error:
        raise RuntimeError("the nf4 variant is quantised with bitsandbytes: pip install bitsandbytes") from error
    torch = env.torch
    dtypes = {torch.uint8: "U8", torch.float16: "F16", torch.float32: "F32"}
    dit = []
    for spec in env.flux_dit():
        if len(spec.shape) != 2:
            dit.append(spec)
            continue
        packed, state = bnb.quantize_4bit(torch.from_numpy(full_values(spec)).half(), blocksize=64,
                                          compress_statistics=True, quant_type="nf4")
        for suffix, tensor in {"": packed, **{f".{k}": v for k, v in state.as_dict(packed=True).items()}}.items():
            values = tensor.contiguous().numpy()
            dit.append(Spec(spec.name + suffix, tuple(tensor.shape), dtypes[tensor.dtype],
                            Fill.values(lambda values=values: values)))
    _flux_checkpoint(env, path, dit)


Builder = Callable[[_Env, Path], None]
SHARED_FILES: dict[str, Builder] = {
    "checkpoints/toonyou_beta6.safetensors": _sd15_checkpoint,
    "animatediff_models/v3_sd15_mm.ckpt": _motion_module_file,
    **{f"liveportrait/{name}.safetensors": _liveportrait_file(name)
       for name in (*LIVEPORTRAIT_MODELS, "stitching_retargeting_module")},
    "ultralytics/face_yolov8n.pt": _yolo_file,
}
VARIANT_FILES: dict[str, dict[str, Builder]] = {
    "gguf": {
        "diffusion_models/flux1-schnell-Q4_K_S.gguf": _gguf_flux,
        "text_encoders/t5-v1_1-xxl-encoder-Q5_K_M.gguf": _gguf_t5,
        "text_encoders/clip_l.safetensors": _clip_l_file,
        "vae/ae.safetensors": _flux_vae_file,
    },
    "fp8": {"checkpoints/flux1-schnell-fp8.safetensors": _flux_fp8_checkpoint},
    "nf4": {"checkpoints/flux1-schnell-bnb-nf4.safetensors": _flux_nf4_checkpoint},
}


def model_files(variants: Iterable[str] = ("gguf",)) -> dict[str, Builder]:
    """Path (relative to the models root: `<ComfyUI models folder>/<file>`) → builder, for `variants`."""
    files = dict(SHARED_FILES)
    for variant in variants:
        if variant not in VARIANT_FILES:
            raise ValueError(f"unknown variant {variant!r}; choose from {VARIANTS}")
        files.update(VARIANT_FILES[variant])
    return files


def default_root() -> Path:
    return ENV_ROOT / "fake-models" / f"v{GENERATOR_VERSION}"


def ensure_clip_models(variants: Iterable[str] = ("gguf",), root: Path | None = None) -> Path:
    """Write the files of `variants` that `root` lacks (default: default_root()) and return `root`, a folder laid
    out like ComfyUI's models/. Imports ComfyUI's model code (and the packs' modules) only when a file is missing."""
    root = Path(root) if root is not None else default_root()
    files = model_files(variants)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one writer per root; a second process waits, then finds the files
        for partial in root.rglob("*.partial"):  # left by a killed run
            partial.unlink()
        missing = {rel: build for rel, build in files.items() if not (root / rel).is_file()}
        env = _Env() if missing else None
        for rel, build in missing.items():
            start = time.monotonic()
            build(env, root / rel)
            size = (root / rel).stat().st_size
            print(f"clip models: wrote {rel} ({size / 1e6:.1f} MB) in {time.monotonic() - start:.1f} s",
                  file=sys.stderr, flush=True)
    return root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.clip_models", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help=f"the models root (default: {default_root()})")
    parser.add_argument("--variant", action="append", choices=VARIANTS,
                        help="a clip workflow's model variant; repeat for several (default: gguf)")
    args = parser.parse_args(argv)
    print(ensure_clip_models(args.variant or ("gguf",), args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
