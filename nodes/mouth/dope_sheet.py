"""A dope sheet of the mouth track as an IMAGE for PreviewImage: the waveform, the shape of every video frame as a
coloured strip with its letter, and the words under it (where the timing says they are spoken)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..speech.timing import Span

# One colour per shape: closed shapes dark, open ones warm, rounded ones blue, rest grey.
SHAPE_COLOURS = {"A": "#3b3b58", "B": "#7d6b91", "C": "#e0a458", "D": "#d1495b", "E": "#4f9dde",
                 "F": "#2c6e9b", "G": "#7fb069", "H": "#c97c5d", "X": "#cfcfcf"}
PIXELS_PER_SECOND = 160
MIN_WIDTH, MAX_WIDTH, HEIGHT = 960, 3840, 300


def render_dope_sheet(waveform: torch.Tensor, sample_rate: int, shapes: str, fps: float,
                      words: Sequence[Span] = (), title: str = "") -> torch.Tensor:
    """→ [1, H, W, 3] float32 in 0..1."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    mono = waveform.float().mean(dim=0).numpy() if waveform.dim() == 2 else waveform.float().numpy()
    frames = len(shapes)
    seconds = max(frames / fps, mono.shape[0] / sample_rate, 1e-3)
    width = int(np.clip(seconds * PIXELS_PER_SECOND, MIN_WIDTH, MAX_WIDTH))
    dpi = 100
    figure = Figure(figsize=(width / dpi, HEIGHT / dpi), dpi=dpi)
    FigureCanvasAgg(figure)
    wave_axes = figure.add_axes((0.04, 0.52, 0.94, 0.38))
    strip_axes = figure.add_axes((0.04, 0.14, 0.94, 0.34), sharex=wave_axes)

    # Waveform as a min/max envelope per pixel column (fast for long clips).
    columns = max(1, min(width, mono.shape[0]))
    edges = np.linspace(0, mono.shape[0], columns + 1).astype(int)
    lows = np.array([mono[a:b].min() if b > a else 0.0 for a, b in zip(edges, edges[1:])])
    highs = np.array([mono[a:b].max() if b > a else 0.0 for a, b in zip(edges, edges[1:])])
    times = edges[:-1] / sample_rate
    wave_axes.fill_between(times, lows, highs, color="#444444", linewidth=0)
    peak = float(max(np.abs(lows).max(initial=0.0), np.abs(highs).max(initial=0.0), 1e-6))
    wave_axes.set_ylim(-peak * 1.05, peak * 1.05)
    wave_axes.set_xlim(0, seconds)
    wave_axes.set_yticks([])
    wave_axes.tick_params(labelbottom=False)
    if title:
        wave_axes.set_title(title, fontsize=9, loc="left")

    # One coloured block per run of equal shapes, lettered when wide enough to read.
    frame_s = 1.0 / fps
    start = 0
    pixels_per_frame = width * 0.94 / max(frames, 1)
    for i in range(1, frames + 1):
        if i == frames or shapes[i] != shapes[start]:
            shape = shapes[start]
            strip_axes.add_patch(Rectangle((start * frame_s, 0.5), (i - start) * frame_s, 0.5,
                                           facecolor=SHAPE_COLOURS.get(shape, "#ffffff"), edgecolor="white",
                                           linewidth=0.3))
            if (i - start) * pixels_per_frame >= 7:
                strip_axes.text((start + i) / 2 * frame_s, 0.75, shape, ha="center", va="center", fontsize=7,
                                color="white" if shape in "ADFB" else "black")
            start = i
    for k, word in enumerate(words):
        strip_axes.text((word.start + word.end) / 2, 0.32 if k % 2 == 0 else 0.1, word.label, ha="center",
                        va="center", fontsize=7, clip_on=True)
        strip_axes.plot([word.start, word.start], [0.0, 0.45], color="#999999", linewidth=0.4)
    strip_axes.set_ylim(0, 1)
    strip_axes.set_yticks([])
    strip_axes.set_xlabel(f"seconds ({frames} frames at {fps:g} fps)", fontsize=8)
    strip_axes.tick_params(labelsize=7)
    figure.canvas.draw()
    rgba = np.asarray(figure.canvas.buffer_rgba(), dtype=np.uint8)
    image = torch.from_numpy(rgba[..., :3].astype(np.float32) / 255.0)
    return image.unsqueeze(0).contiguous()
