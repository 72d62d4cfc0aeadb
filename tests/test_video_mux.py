"""Our AUDIO through real video muxers, in a real ComfyUI: ToonGenSpeak (the embedded Kokoro voice) → Mix → Loudness
→ Audio → Frames, an image batch of exactly frame_count frames (core EmptyImage, batch_size linked), into
VideoHelperSuite's VHS_VideoCombine (h264-mp4 with audio) and into core CreateVideo + SaveVideo. Each MP4 is read
back with PyAV: audio stream present, audio and video lasting the same to within one frame, the decoded audio as
loud as Loudness Normalize reported, exactly the frames our node counted, and the lip command summing to them."""
from __future__ import annotations

import math

import pytest

from .support import bs1770_meter
from .support.comfy_server import vhs_dir
from .support.mp4_probe import mp4_of, read_mp4

FPS = 24.0
TEXT = "Come on down to Real Fake Doors! Every door is fake, and every price is real."
VHS_MISSING = ("VideoHelperSuite is not unpacked: tests/bootstrap.sh unpacks it from "
               "../shared/upstream/ComfyUI-VideoHelperSuite-4ee72c0.tar.gz, which is missing here")


def save_video_inputs(comfy, prefix: str) -> dict:
    """Core SaveVideo's mp4/h264 choice: plain combos in 0.3.75, a dynamic combo ("format" → "format.codec") in 0.33."""
    spec = comfy.get_json("/object_info/SaveVideo")["SaveVideo"]["input"]["required"]["format"]
    if spec[0] == "COMFY_DYNAMICCOMBO_V3":
        return {"filename_prefix": prefix, "format": "mp4", "format.codec": "h264"}
    return {"filename_prefix": prefix, "format": "mp4", "codec": "h264"}


def mux_graph(comfy, with_vhs: bool) -> dict:
    graph = {
        "1": {"class_type": "ToonGenSpeak", "inputs": {"text": TEXT, "engine": "kokoro", "voice_style": "(none)",
                                                       "kokoro_voice": "jf_alpha", "speed": 1.0, "seed": 0}},
        "2": {"class_type": "ToonGenLoadBGM", "inputs": {"name": "cheesy_elevator"}},
        "3": {"class_type": "ToonGenMixAudio", "inputs": {
            "voice": ["1", 0], "bgm": ["2", 0], "mix_ratio": 0.3, "loop_bgm": True, "duck_db": 12.0,
            "duck_attack_ms": 30.0, "duck_release_ms": 400.0, "fade_in_s": 0.0, "fade_out_s": 0.5, "tail_s": 0.0,
            "sample_rate": "44100", "channels": "stereo"}},
        "4": {"class_type": "ToonGenLoudnessNormalize", "inputs": {"audio": ["3", 0], "target_lufs": -16.0,
                                                                   "true_peak_db": -1.0}},
        "5": {"class_type": "ToonGenAudioToFrames", "inputs": {"audio": ["4", 0], "fps": FPS, "min_frames": 16,
                                                               "multiple_of": 1}},
        "6": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": ["5", 0],
                                                     "color": 0x3366AA}},
        "7": {"class_type": "ToonGenLipCommand", "inputs": {"voice": ["1", 0], "fps": FPS, "open_levels": 3,
                                                            "silence_db": -35.0, "hysteresis_db": 3.0,
                                                            "transition_frames": 2}},
        "8": {"class_type": "PreviewAny", "inputs": {"source": ["5", 0]}},   # frame_count
        "9": {"class_type": "PreviewAny", "inputs": {"source": ["4", 1]}},   # measured_lufs
        "10": {"class_type": "PreviewAny", "inputs": {"source": ["7", 0]}},  # the lip command
        "30": {"class_type": "CreateVideo", "inputs": {"images": ["6", 0], "fps": ["5", 3], "audio": ["5", 2]}},
        "31": {"class_type": "SaveVideo", "inputs": {"video": ["30", 0],
                                                     **save_video_inputs(comfy, "video/toongen_core_mux")}},
    }
    if with_vhs:
        graph["20"] = {"class_type": "VHS_VideoCombine", "inputs": {
            "images": ["6", 0], "audio": ["5", 2], "frame_rate": ["5", 3], "loop_count": 0,
            "filename_prefix": "toongen/vhs_mux", "format": "video/h264-mp4", "pix_fmt": "yuv420p", "crf": 19,
            "save_metadata": True, "trim_to_audio": False, "pingpong": False, "save_output": True}}
    return graph


@pytest.fixture(scope="module")
def muxed(comfy):
    with_vhs = vhs_dir() is not None
    entry = comfy.run(mux_graph(comfy, with_vhs), timeout=600)
    text = {node: "".join(entry["outputs"][node]["text"]) for node in ("8", "9", "10")}
    lip_frames = sum(int(change) + int(keep) for line in text["10"].splitlines()
                     for change, keep in [line.split("=", 1)[1].split(":")])
    return {"entry": entry, "frame_count": int(text["8"]), "reported_lufs": float(text["9"]),
            "lip_frames": lip_frames, "with_vhs": with_vhs}


def check_mp4(comfy, muxed: dict, node: str) -> dict:
    probe = read_mp4(mp4_of(comfy, muxed["entry"], node))
    measured = bs1770_meter.integrated_lufs(probe["audio"], probe["rate"])
    print(f"\nComfyUI {comfy.version} node {node}: {probe['frames']} frames @ {probe['fps']:g} fps = "
          f"{probe['video_s']:.3f} s video, {probe['audio_s']:.3f} s {probe['codec']} audio at {probe['rate']} Hz "
          f"× {probe['audio'].shape[0]} ch; {measured:.2f} LUFS decoded vs {muxed['reported_lufs']:.2f} reported")
    assert probe["fps"] == FPS
    assert probe["frames"] == muxed["frame_count"] == muxed["lip_frames"]
    assert abs(probe["audio_s"] - probe["video_s"]) <= 1.0 / FPS
    assert abs(measured - muxed["reported_lufs"]) <= 1.0
    return probe


def test_frames_loudness_and_lip_command_agree_before_muxing(muxed):
    assert muxed["frame_count"] >= 16 and muxed["frame_count"] == muxed["lip_frames"]
    assert math.isclose(muxed["reported_lufs"], -16.0, abs_tol=0.5)  # speech + ducked music reach the target


def test_core_create_video_and_save_video_carry_our_audio(comfy, muxed):
    check_mp4(comfy, muxed, "31")


def test_videohelpersuite_video_combine_carries_our_audio(comfy, muxed):
    if not muxed["with_vhs"]:
        pytest.skip(VHS_MISSING)
    probe = check_mp4(comfy, muxed, "20")
    assert probe["codec"] == "aac" and probe["audio"].shape[0] == 2 and probe["rate"] == 44100
