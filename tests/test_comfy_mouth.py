"""Mouth Shapes in a real ComfyUI through /prompt: Speak → Mouth Shapes gives a command AdvancedLivePortrait
accepts, as many frames as Audio → Frame Count says, one shape per frame; recordings are aligned from their text."""
from __future__ import annotations

import io
import math
import re

import pytest
from PIL import Image

from .support.alp_command import parse_command, video_frames
from .support.comfy_server import ComfyError

TEXT = "My mom makes marvellous pumpkin pie, but nobody may eat it before Monday."


def mouth_graph(voice: list, fps: float = 24.0, **inputs) -> dict:
    return {
        "10": {"class_type": "ToonGenMouthShapes", "inputs": {"voice": voice, "fps": fps, **inputs}},
        "11": {"class_type": "PreviewAny", "inputs": {"source": ["10", 0]}},
        "12": {"class_type": "PreviewAny", "inputs": {"source": ["10", 1]}},
        "13": {"class_type": "PreviewImage", "inputs": {"images": ["10", 3]}},
        "14": {"class_type": "ToonGenAudioToFrames", "inputs": {"audio": voice, "fps": fps, "min_frames": 1,
                                                                 "multiple_of": 1}},
        "15": {"class_type": "PreviewAny", "inputs": {"source": ["14", 0]}},
    }


def results(comfy, entry: dict) -> dict:
    outputs = entry["outputs"]
    shown = outputs["10"]["text"]
    return {"command": outputs["11"]["text"][0], "frames": int(outputs["12"]["text"][0]),
            "audio_frames": int(outputs["15"]["text"][0]), "source": shown[0], "shown": shown,
            "shapes": shown[-1], "sheet": Image.open(io.BytesIO(comfy.fetch(outputs["13"]["images"][0])))}


def test_speak_to_mouth_shapes_with_the_engines_timing(comfy):
    graph = {"1": {"class_type": "ToonGenSpeak", "inputs": {
        "text": TEXT, "engine": "kokoro", "voice_style": "(none)", "kokoro_voice": "jm_kumo", "speed": 1.1, "seed": 0}},
        **mouth_graph(["1", 0], 25.0, timing=["1", 2])}
    got = results(comfy, comfy.run(graph, timeout=600))
    segments = parse_command(got["command"], editors=8)  # ALP's rules: idx=change:keep, change ≥ 1, k ≤ 8 editors
    assert video_frames(segments) == got["frames"] == got["audio_frames"] == len(got["shapes"])
    assert re.fullmatch(r"source: engine timing \(kokoro-onnx-(int8|fp32|fp16)\)", got["source"]) and len(got["shown"]) == 2
    assert set(got["shapes"]) <= set("ABCDEFGHX") and got["shapes"].count("A") >= 8  # m m m m p b m m: closures
    assert got["sheet"].size[1] == 300 and got["sheet"].size[0] >= 960


@pytest.fixture(scope="module")
def recording(comfy):
    """A 'recording' without timing: another voice than the aligner's guides, 44.1 kHz stereo, in input/."""
    import torchaudio.functional as AF

    from ..nodes.audio.files import save_wav_pcm16
    from ..nodes.mouth.aligner import GUIDE_VOICES
    from ..nodes.speech.engines import embedded_kokoro

    assert "jf_tebukuro" not in GUIDE_VOICES
    spoken = embedded_kokoro().speak(TEXT, "jf_tebukuro", 0.9)
    stereo = AF.resample(spoken.samples.unsqueeze(0), 24000, 44100).repeat(2, 1)
    save_wav_pcm16(comfy.base_dir / "input" / "mouth_recording.wav", stereo, 44100)
    return "mouth_recording.wav", stereo.shape[-1] / 44100


def test_a_recording_is_aligned_from_its_text(comfy, recording):
    name, seconds = recording
    graph = {"1": {"class_type": "LoadAudio", "inputs": {"audio": name}},
             **mouth_graph(["1", 0], 24.0, text=TEXT)}
    got = results(comfy, comfy.run(graph, timeout=600))
    assert got["source"].startswith("source: aligner (confidence ")
    assert video_frames(parse_command(got["command"], 8)) == got["frames"] == got["audio_frames"]
    assert got["frames"] == math.ceil(seconds * 24 - 1e-9) == len(got["shapes"])


def test_text_that_does_not_match_falls_back_to_loudness_with_a_warning(comfy, recording):
    name, _ = recording
    graph = {"1": {"class_type": "LoadAudio", "inputs": {"audio": name}},
             **mouth_graph(["1", 0], 30.0, text="Seven lazy zebras sat quietly under the tall green tree, sighing.")}
    got = results(comfy, comfy.run(graph, timeout=600))
    assert got["source"] == "source: loudness"
    assert "does not sound like the text" in got["shown"][1] and "loudness only" in got["shown"][1]
    assert video_frames(parse_command(got["command"], 8)) == got["frames"] == got["audio_frames"] == len(got["shapes"])


@pytest.mark.parametrize("fps, message", [(0.0, "smaller than min"), (500.0, "bigger than max")])
def test_fps_outside_the_range_is_refused_when_queued(comfy, recording, fps, message):
    graph = {"1": {"class_type": "LoadAudio", "inputs": {"audio": recording[0]}}, **mouth_graph(["1", 0], fps)}
    graph["14"]["inputs"]["fps"] = 24.0
    with pytest.raises(ComfyError, match=message):
        comfy.queue(graph)


def test_clip_length_sets_the_commands_length_the_mouth_resting_after_the_voice(comfy, recording):
    name, seconds = recording
    graph = {"1": {"class_type": "LoadAudio", "inputs": {"audio": name}},
             "2": {"class_type": "ToonGenClipLength", "inputs": {"voice": ["1", 0], "fps": 12.0, "tail_s": 1.5,
                                                                 "min_frames": 16, "multiple_of": 1}},
             "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 2]}},
             **mouth_graph(["1", 0], ["2", 1], text=TEXT, frame_count=["2", 0])}
    entry = comfy.run(graph, timeout=600)
    got = results(comfy, entry)
    expected = math.ceil((seconds + 1.5) * 12 - 1e-9)
    assert got["frames"] == expected == len(got["shapes"]) == video_frames(parse_command(got["command"], 8))
    assert got["shapes"].endswith("X" * 12) and got["audio_frames"] == math.ceil(seconds * 12 - 1e-9)
    mix_tail = float(entry["outputs"]["3"]["text"][0])
    assert mix_tail == pytest.approx(expected / 12 - seconds, abs=1e-6)


def test_a_frame_count_shorter_than_the_voice_is_refused_with_the_fix(comfy, recording):
    graph = {"1": {"class_type": "LoadAudio", "inputs": {"audio": recording[0]}},
             "2": {"class_type": "PrimitiveInt", "inputs": {"value": 5}},
             **mouth_graph(["1", 0], 24.0, text=TEXT, frame_count=["2", 0])}
    with pytest.raises(ComfyError, match="frame_count 5 is shorter than the voice .* Link frame_count from Clip Length"):
        comfy.run(graph, timeout=600)
