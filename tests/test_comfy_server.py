"""The pack inside a real headless ComfyUI: loads as V3, shows its nodes, runs a graph into core SaveAudio."""
from __future__ import annotations

import io
import math

import pytest
import soundfile

from ..workflows.render import database_args
from .conftest import TOONGEN_NODE_IDS
from .support.comfy_server import comfy_dir


def test_our_nodes_are_registered_as_v3_with_prefix_and_categories(comfy):
    info = comfy.get_json("/object_info")
    for node_id in TOONGEN_NODE_IDS:
        node = info[node_id]
        assert node_id.startswith("ToonGen")
        assert node["category"].startswith("ToonGen/")
        assert node["display_name"][0].isupper()
        for section in ("required", "optional"):
            for name, spec in node["input"].get(section, {}).items():
                assert name == name.lower() and " " not in name, f"{node_id}.{name} is not snake_case"
                if spec[0] not in ("AUDIO", "TOONGEN_SFX_EVENTS"):
                    assert spec[1].get("tooltip"), f"{node_id}.{name} has no tooltip"
    # V3 nodes answer with their module under custom_nodes; a V1 load would have no such entry for the pack.
    assert "custom_nodes" in info["ToonGenMixAudio"]["python_module"]


def test_the_server_keeps_its_database_in_its_own_base_directory(comfy):
    """ComfyUI 0.3.6x+ opens <ComfyUI>/user/comfyui.db by default, beside main.py and not under --base-directory:
    there the folder is missing ("unable to open database file") and servers of one tree share one file."""
    if not database_args(comfy_dir(), comfy.base_dir):
        pytest.skip("this ComfyUI keeps no database")
    assert "Failed to initialize database" not in comfy.log_text()
    assert (comfy.base_dir / "user" / "comfyui.db").is_file()


def test_bgm_to_frames_to_core_save_audio(comfy):
    graph = {
        "1": {"class_type": "ToonGenLoadBGM", "inputs": {"name": "static_void_hum"}},
        "2": {"class_type": "ToonGenAudioToFrames", "inputs": {"audio": ["1", 0], "fps": 24.0, "min_frames": 16,
                                                               "multiple_of": 16}},
        "3": {"class_type": "SaveAudio", "inputs": {"audio": ["2", 2], "filename_prefix": "audio/frames_test"}},
    }
    entry = comfy.run(graph)
    files = comfy.output_files(entry)
    assert len(files) == 1 and files[0]["filename"].endswith(".flac")
    data, rate = soundfile.read(io.BytesIO(comfy.fetch(files[0])), always_2d=True)
    frames = math.ceil(32.0 * 24)  # the 32 s loop → 768 frames, already a multiple of 16
    assert rate == 24000
    assert data.shape == (round(frames / 24 * rate), 2)
    assert abs(data).max() > 0.1


def test_unknown_asset_name_is_refused_at_validation_with_the_known_names(comfy):
    graph = {
        "1": {"class_type": "ToonGenLoadBGM", "inputs": {"name": "../../etc/passwd"}},
        "2": {"class_type": "SaveAudio", "inputs": {"audio": ["1", 0], "filename_prefix": "audio/x"}},
    }
    try:
        comfy.queue(graph)
    except Exception as exc:  # ComfyError with the server's node_errors
        message = str(exc)
    else:
        raise AssertionError("the path-like name was accepted")
    assert "cheesy_elevator" in message and "not paths" in message


def test_bgm_mix_loudness_to_wav_through_comfyui(comfy):
    """Load BGM → Mix (voice from core LoadAudio) → Loudness → SaveAudio and our 16-bit WAV writer."""
    from ..nodes.audio.files import save_wav_pcm16
    from .conftest import speech_like
    from .support import bs1770_meter

    save_wav_pcm16(comfy.base_dir / "input" / "voice_test.wav", speech_like(6.0, 24000), 24000)
    graph = {
        "1": {"class_type": "LoadAudio", "inputs": {"audio": "voice_test.wav"}},
        "2": {"class_type": "ToonGenLoadBGM", "inputs": {"name": "cheesy_elevator"}},
        "3": {"class_type": "ToonGenLoadSFX", "inputs": {"name": "explosion_short"}},
        "4": {"class_type": "ToonGenSFXEvents", "inputs": {"sfx": ["3", 0], "times_s": "1.0, 4.5", "gain": 0.6}},
        "5": {"class_type": "ToonGenMixAudio", "inputs": {
            "voice": ["1", 0], "bgm": ["2", 0], "sfx_events": ["4", 0], "mix_ratio": 0.3, "loop_bgm": True,
            "duck_db": 12.0, "duck_attack_ms": 30.0, "duck_release_ms": 400.0, "fade_in_s": 0.0, "fade_out_s": 0.5,
            "tail_s": 1.0, "sample_rate": "44100", "channels": "stereo"}},
        "6": {"class_type": "ToonGenLoudnessNormalize", "inputs": {"audio": ["5", 0], "target_lufs": -16.0,
                                                                   "true_peak_db": -1.0}},
        "7": {"class_type": "SaveAudio", "inputs": {"audio": ["6", 0], "filename_prefix": "audio/mix_test"}},
        "8": {"class_type": "ToonGenSaveWAV", "inputs": {"audio": ["6", 0], "filename_prefix": "toongen/mix_test"}},
    }
    entry = comfy.run(graph)
    files = comfy.output_files(entry)
    wav = next(f for f in files if f["filename"].endswith(".wav"))
    assert any(f["filename"].endswith(".flac") for f in files)
    path = comfy.base_dir / "output" / wav["subfolder"] / wav["filename"]
    info = soundfile.info(str(path))
    assert info.subtype == "PCM_16" and info.samplerate == 44100 and info.channels == 2
    assert info.frames == 7 * 44100  # 6 s of voice + 1 s tail
    data, rate = soundfile.read(io.BytesIO(comfy.fetch(wav)), always_2d=True)
    assert abs(bs1770_meter.integrated_lufs(data.T, rate) - (-16.0)) <= 0.5
