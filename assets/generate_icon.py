"""Draw the pack's icon for the Comfy Registry (assets/icon.png, 256×256): an old television whose screen shows a
cartoon mouth made of a speech waveform.

    python assets/generate_icon.py        # any Python with Pillow (ComfyUI installs it)
"""
from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw

SIZE = 256
OUT = Path(__file__).resolve().parent / "icon.png"


def draw_icon(size: int = SIZE) -> Image.Image:
    scale = 4  # drawn large, then reduced: smooth edges without an anti-aliasing API
    s = size * scale
    image = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    unit = s / 32
    # antennas
    for end_x in (10, 22):
        draw.line([(16 * unit, 8 * unit), (end_x * unit, 2 * unit)], fill=(40, 30, 60, 255), width=int(unit))
        draw.ellipse([(end_x - 1) * unit, 1 * unit, (end_x + 1) * unit, 3 * unit], fill=(255, 196, 0, 255))
    # cabinet and screen
    draw.rounded_rectangle([2 * unit, 8 * unit, 30 * unit, 30 * unit], radius=4 * unit, fill=(124, 77, 255, 255),
                           outline=(40, 30, 60, 255), width=int(unit))
    draw.rounded_rectangle([5 * unit, 11 * unit, 27 * unit, 27 * unit], radius=3 * unit, fill=(32, 230, 170, 255),
                           outline=(40, 30, 60, 255), width=int(0.8 * unit))
    # eyes
    for x in (11, 21):
        draw.ellipse([(x - 2) * unit, 13.5 * unit, (x + 2) * unit, 17.5 * unit], fill=(255, 255, 255, 255),
                     outline=(40, 30, 60, 255), width=int(0.5 * unit))
        draw.ellipse([(x - 0.8) * unit, 15 * unit, (x + 0.8) * unit, 16.6 * unit], fill=(40, 30, 60, 255))
    # the mouth: a waveform whose envelope is an open mouth
    points_top, points_bottom = [], []
    for i in range(0, 101):
        t = i / 100
        x = (8 + 16 * t) * unit
        envelope = math.sin(math.pi * t) * 3.2 * unit
        wiggle = 0.55 + 0.45 * abs(math.sin(7 * math.pi * t))
        points_top.append((x, 22 * unit - envelope * wiggle * 0.6))
        points_bottom.append((x, 22 * unit + envelope * wiggle))
    draw.polygon(points_top + points_bottom[::-1], fill=(40, 30, 60, 255))
    return image.resize((size, size), Image.LANCZOS)


if __name__ == "__main__":
    draw_icon().save(OUT, optimize=True)
    print(f"wrote {OUT.relative_to(OUT.parent.parent)}")
