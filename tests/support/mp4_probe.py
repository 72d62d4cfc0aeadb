"""Reading the MP4s a workflow wrote back with PyAV: frames, frame rate, the decoded audio (tests only)."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np


def mp4_of(comfy, entry: dict, node: str) -> Path:
    """The MP4 a node reported in its UI output (VHS: "gifs", SaveVideo: "images"/"videos"), as a local path."""
    found = [item for items in entry["outputs"].get(node, {}).values() if isinstance(items, list)
             for item in items if isinstance(item, dict) and str(item.get("filename", "")).endswith(".mp4")]
    assert found, f"node {node} reported no mp4: {entry['outputs'].get(node)}"
    item = found[-1]  # VHS lists the silent video first, then the one with audio
    return comfy.base_dir / "output" / item.get("subfolder", "") / item["filename"]


def read_mp4(path: Path) -> dict:
    with av.open(str(path)) as container:
        assert container.streams.audio, f"{path.name} has no audio stream"
        video = container.streams.video[0]
        frames = sum(1 for _ in container.decode(video=0))
        rate = float(video.average_rate)
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        chunks = [frame.to_ndarray().reshape(stream.channels, -1) if frame.format.is_planar
                  else frame.to_ndarray().reshape(-1, stream.channels).T
                  for frame in container.decode(audio=0)]
        sample_rate = stream.rate
        codec = stream.codec_context.name
    audio = np.concatenate(chunks, axis=1).astype(np.float64)
    return {"frames": frames, "fps": rate, "video_s": frames / rate, "audio": audio, "rate": sample_rate,
            "audio_s": audio.shape[1] / sample_rate, "codec": codec}
