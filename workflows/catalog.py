"""What the shipped workflows need from outside ToonGen: the node packs (with the ids ComfyUI-Manager and the
frontend read from a node's properties to offer "Install missing custom nodes") and the model files (name, folder,
published size, download address).

Registry ids are each pack's `[project] name` in its pyproject.toml, lower-cased as the Comfy Registry stores
them (VideoHelperSuite's read from ../shared/upstream; the others from their repositories). A node's `ver` is the
commit its interface was measured at (workflows/sources/node_specs.json), which is what Manager writes for a pack
installed from git.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Pack:
    repo: str            # GitHub owner/name: the node's `aux_id`
    title: str
    cnr_id: str          # Comfy Registry id: the node's `cnr_id`


CORE_CNR_ID = "comfy-core"
TOONGEN = Pack("toongen/comfyui-toongen", "ToonGen (this pack)", "comfyui-toongen")

PACKS = {p.repo: p for p in (
    Pack("Kosinkadink/ComfyUI-VideoHelperSuite", "ComfyUI-VideoHelperSuite", "comfyui-videohelpersuite"),
    Pack("PowerHouseMan/ComfyUI-AdvancedLivePortrait", "ComfyUI-AdvancedLivePortrait", "comfyui-advancedliveportrait"),
    Pack("Kosinkadink/ComfyUI-AnimateDiff-Evolved", "ComfyUI-AnimateDiff-Evolved", "comfyui-animatediff-evolved"),
    Pack("city96/ComfyUI-GGUF", "ComfyUI-GGUF", "comfyui-gguf"),
    # The registry entry of the NF4 loaders is published from silveroxides' fork of this repository (same nodes).
    Pack("comfyanonymous/ComfyUI_bitsandbytes_NF4", "ComfyUI_bitsandbytes_NF4 (NF4 loaders)", "comfyui_bnb_nf4_loaders"),
)}


@dataclass(frozen=True)
class ModelFile:
    name: str
    folder: str          # ComfyUI model folder name (models/<folder>/)
    size: str            # the published file's size; "≈" where only approximate
    url: str
    source: str          # where it comes from, for people

    @property
    def approximate(self) -> bool:
        return self.size.startswith("≈")


# Sizes: ComfyUI-Manager 4.3's model-list.json where it lists the file, else byte counts of the published files
# recorded by others (exact figures given in GB of 10^9 bytes).
MODELS = {m.name: m for m in (
    ModelFile("flux1-schnell-bnb-nf4.safetensors", "checkpoints", "11.5 GB",
              "https://huggingface.co/silveroxides/flux1-nf4-weights/resolve/main/flux1-schnell-bnb-nf4.safetensors",
              "silveroxides/flux1-nf4-weights (Flux schnell NF4 + T5 + CLIP-L + VAE in one file)"),
    ModelFile("flux1-schnell-fp8.safetensors", "checkpoints", "17.2 GB",
              "https://huggingface.co/Comfy-Org/flux1-schnell/resolve/main/flux1-schnell-fp8.safetensors",
              "Comfy-Org/flux1-schnell (ComfyUI's own schnell checkpoint: fp8 UNet + T5 + CLIP-L + VAE)"),
    ModelFile("flux1-schnell-Q4_K_S.gguf", "diffusion_models", "6.78 GB",
              "https://huggingface.co/city96/FLUX.1-schnell-gguf/resolve/main/flux1-schnell-Q4_K_S.gguf",
              "city96/FLUX.1-schnell-gguf (models/unet works too)"),
    ModelFile("t5-v1_1-xxl-encoder-Q5_K_M.gguf", "text_encoders", "3.39 GB",
              "https://huggingface.co/city96/t5-v1_1-xxl-encoder-gguf/resolve/main/t5-v1_1-xxl-encoder-Q5_K_M.gguf",
              "city96/t5-v1_1-xxl-encoder-gguf (models/clip works too)"),
    ModelFile("clip_l.safetensors", "text_encoders", "246 MB",
              "https://huggingface.co/comfyanonymous/flux_text_encoders/resolve/main/clip_l.safetensors",
              "comfyanonymous/flux_text_encoders"),
    ModelFile("ae.safetensors", "vae", "335 MB",
              "https://huggingface.co/black-forest-labs/FLUX.1-schnell/resolve/main/ae.safetensors",
              "black-forest-labs/FLUX.1-schnell (the Flux VAE)"),
    ModelFile("toonyou_beta6.safetensors", "checkpoints", "2.30 GB",
              "https://civitai.com/api/download/models/125771",
              "ToonYou Beta 6 on Civitai (SD 1.5, VAE included)"),
    ModelFile("v3_sd15_mm.ckpt", "animatediff_models", "1.67 GB",
              "https://huggingface.co/guoyww/animatediff/resolve/main/v3_sd15_mm.ckpt",
              "guoyww/animatediff (AnimateDiff v3 motion module)"),
)}

# Downloaded by AdvancedLivePortrait itself on its first run (nodes.py: LP_Engine.load_model / get_detect_model).
LIVEPORTRAIT_FILES = (
    ModelFile("appearance_feature_extractor, motion_extractor, warping_module, spade_generator, "
              "stitching_retargeting_module (.safetensors)", "liveportrait", "≈ 0.5 GB in all",
              "https://huggingface.co/Kijai/LivePortrait_safetensors", "Kijai/LivePortrait_safetensors"),
    ModelFile("face_yolov8n.pt", "ultralytics", "6.2 MB",
              "https://huggingface.co/Bingsu/adetailer/resolve/main/face_yolov8n.pt", "Bingsu/adetailer"),
)

# Optional for the audio-only workflow (voice cloning); sizes from the parameter counts bench-speech measures.
F5_FILES = (
    ModelFile("F5TTS_v1_Base/model_1250000.safetensors + vocab.txt", "tts/f5-tts", "≈ 1.35 GB",
              "https://huggingface.co/SWivid/F5-TTS/tree/main/F5TTS_v1_Base", "SWivid/F5-TTS (337 M params, fp32)"),
    ModelFile("vocos-mel-24khz/config.yaml + pytorch_model.bin", "tts/f5-tts", "≈ 54 MB",
              "https://huggingface.co/charactr/vocos-mel-24khz", "charactr/vocos-mel-24khz (13.5 M params, fp32)"),
)
