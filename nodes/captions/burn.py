"""Caption cues drawn onto an IMAGE batch ([frames, H, W, C] float 0..1) at the video's frame rate: frame i shows
the cue on screen at i / fps, in white bold text centred near the bottom, with a dark outline or on a translucent box
so it reads on any background. The font is DejaVu Sans Bold, which ships with matplotlib (a pack requirement)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from .cues import Cue, cue_at

BACKGROUNDS = ("outline", "box")
MIN_FPS, MAX_FPS = 1.0, 120.0
MIN_FONT_PX = 6


class CaptionInputError(ValueError):
    """Frames or settings the captions cannot be drawn on; the message names the fix."""


@dataclass(frozen=True)
class CaptionStyle:
    background: str = "outline"   # "outline": a dark edge around each letter; "box": a translucent dark box
    text_height: float = 0.055    # font size as a fraction of the frame height
    bottom_margin: float = 0.06   # space under the captions, as a fraction of the frame height
    max_width: float = 0.92       # the widest line may take this fraction of the frame width (else the font shrinks)
    line_spacing: float = 1.15


def font_path() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans-Bold.ttf"


def _font(size: int):
    from PIL import ImageFont

    return ImageFont.truetype(str(font_path()), size)


def font_size(cues: Sequence[Cue], width: int, height: int, style: CaptionStyle) -> int:
    """One size for the whole clip: `text_height` of the frame, smaller when the widest line would not fit."""
    size = max(MIN_FONT_PX, round(height * style.text_height))
    lines = [line for cue in cues for line in cue.lines]
    if not lines:
        return size
    font = _font(size)
    widest = max(font.getlength(line) for line in lines) + 2 * _stroke(size)
    if widest > width * style.max_width:
        size = max(MIN_FONT_PX, math.floor(size * width * style.max_width / widest))
    return size


def _stroke(size: int) -> int:
    return max(1, round(size * 0.09))


def render_cue(lines: Sequence[str], width: int, size: int, style: CaptionStyle) -> torch.Tensor:
    """The cue's text as an RGBA band [band_height, width, 4] float 0..1, the lines centred."""
    from PIL import Image, ImageDraw

    font = _font(size)
    ascent, descent = font.getmetrics()
    step = round((ascent + descent) * style.line_spacing)
    stroke = _stroke(size) if style.background == "outline" else 0
    pad = max(stroke, round(size * 0.35)) if style.background == "box" else stroke
    band_height = step * (len(lines) - 1) + ascent + descent + 2 * pad
    band = Image.new("RGBA", (width, band_height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(band)
    if style.background == "box":
        widest = max(font.getlength(line) for line in lines)
        left = max(0, round((width - widest) / 2) - pad)
        draw.rectangle((left, 0, min(width - 1, width - left), band_height - 1), fill=(0, 0, 0, 180))
    for index, line in enumerate(lines):
        draw.text((width / 2, pad + index * step), line, font=font, anchor="ma", fill=(255, 255, 255, 255),
                  stroke_width=stroke, stroke_fill=(0, 0, 0, 255))
    return torch.frombuffer(bytearray(band.tobytes()), dtype=torch.uint8).view(band_height, width, 4).float() / 255


def check_frames(images: torch.Tensor, fps: float) -> float:
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[-1] not in (3, 4):
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise CaptionInputError(f"images must be an IMAGE batch [frames, height, width, 3], got {shape}; link the "
                                "frames of the video (e.g. AdvancedLivePortrait's images).")
    if images.shape[0] == 0:
        raise CaptionInputError("the image batch is empty; link the video's frames.")
    fps = float(fps)
    if not (math.isfinite(fps) and MIN_FPS <= fps <= MAX_FPS):
        raise CaptionInputError(f"fps {fps} is outside {MIN_FPS:g}–{MAX_FPS:g}; use the video's frame rate (e.g. 24).")
    return fps


def frame_cues(cues: Sequence[Cue], frames: int, fps: float) -> list[Cue | None]:
    """The cue on screen in each frame (frame i is shown at i / fps)."""
    return [cue_at(cues, index / fps) for index in range(frames)]


def burn_captions(images: torch.Tensor, cues: Sequence[Cue], fps: float,
                  style: CaptionStyle = CaptionStyle()) -> torch.Tensor:
    """A copy of `images` with each frame's cue drawn on it; frames without a cue are left as they were."""
    fps = check_frames(images, fps)
    if style.background not in BACKGROUNDS:
        raise CaptionInputError(f"caption background {style.background!r} is unknown; use one of {', '.join(BACKGROUNDS)}.")
    frames, height, width, _ = images.shape
    shown = frame_cues(cues, frames, fps)
    out = images.clone()
    if not any(shown):
        return out
    size = font_size([c for c in cues if c in shown], width, height, style)
    bands: dict[int, torch.Tensor] = {}
    for index, cue in enumerate(shown):
        if cue is None:
            continue
        band = bands.get(id(cue))
        if band is None:
            band = bands[id(cue)] = render_cue(cue.lines, width, size, style).to(images.device, images.dtype)
        bottom = height - round(height * style.bottom_margin)
        top = max(0, bottom - band.shape[0])
        band = band[band.shape[0] - (bottom - top):]  # a band taller than the frame keeps its last lines
        rgb, alpha = band[..., :3], band[..., 3:]
        region = out[index, top:bottom, :, :3]
        out[index, top:bottom, :, :3] = region * (1 - alpha) + rgb * alpha
    return out
