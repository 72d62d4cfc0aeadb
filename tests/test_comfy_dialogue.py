"""Dialogue through a real ComfyUI: a two-character script → one voice whisper understands, two stems that sound
like two people and add up to it, captions that cover every word once, in order, never overlapping and inside the
audio, a mouth per character that rests through the other's lines, captions burned onto frames that change exactly
at the cue boundaries — and every bad input refused with its error."""
from __future__ import annotations

import io
import math
import re

import numpy as np
import pytest
import soundfile
from PIL import Image

from .support.comfy_server import ComfyError

HOST, CALLER = "manic_salesman", "old_timey"
LINES = [
    (HOST, "Folks, this portal gun cleans your whole kitchen in seconds!"),
    (CALLER, "Does it come with a warranty?"),
    (HOST, "No, but it comes with a second portal gun!"),
]
SCRIPT = (f"[{HOST}] {LINES[0][1]}\n[{CALLER}] {LINES[1][1]}\n[pause 0.6]\n[{HOST}] {LINES[2][1]}")
FPS = 12.0
LSB = 1 / 32768


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z' ]", " ", text.lower()).split()


def dialogue_graph(script: str = SCRIPT) -> dict:
    wav = "ToonGenSaveWAV"
    return {
        "1": {"class_type": "ToonGenScript", "inputs": {"script": script, "engine": "auto", "speed": 1.0, "seed": 0}},
        "2": {"class_type": wav, "inputs": {"audio": ["1", 0], "filename_prefix": "dialogue/voice"}},
        "3": {"class_type": "ToonGenSpeakerStem", "inputs": {"voice": ["1", 0], "timing": ["1", 1], "speaker": HOST}},
        "4": {"class_type": wav, "inputs": {"audio": ["3", 0], "filename_prefix": "dialogue/host"}},
        "5": {"class_type": "ToonGenSpeakerStem", "inputs": {"voice": ["1", 0], "timing": ["1", 1], "speaker": CALLER}},
        "6": {"class_type": wav, "inputs": {"audio": ["5", 0], "filename_prefix": "dialogue/caller"}},
        "7": {"class_type": "ToonGenCaptions", "inputs": {"timing": ["1", 1], "speaker_names": False,
                                                          "filename_prefix": "dialogue/captions"}},
        "8": {"class_type": "ToonGenMouthShapes", "inputs": {"voice": ["1", 0], "fps": FPS, "timing": ["1", 1],
                                                             "speaker": HOST}},
        "9": {"class_type": "ToonGenMouthShapes", "inputs": {"voice": ["1", 0], "fps": FPS, "timing": ["1", 1],
                                                             "speaker": "speaker 2"}},  # the caller speaks second
        "10": {"class_type": "ToonGenAudioToFrames", "inputs": {"audio": ["1", 0], "fps": FPS, "min_frames": 1,
                                                                "multiple_of": 1}},
        "11": {"class_type": "EmptyImage", "inputs": {"width": 256, "height": 144, "batch_size": ["10", 0],
                                                      "color": 0x336699}},
        "12": {"class_type": "ToonGenBurnCaptions", "inputs": {"images": ["11", 0], "timing": ["1", 1], "fps": FPS,
                                                               "background": "outline", "speaker_names": True}},
        "13": {"class_type": "SaveImage", "inputs": {"images": ["12", 0], "filename_prefix": "dialogue/frame"}},
        "14": {"class_type": "PreviewAny", "inputs": {"source": ["1", 2]}},
        "15": {"class_type": "PreviewAny", "inputs": {"source": ["1", 3]}},
        "16": {"class_type": "PreviewAny", "inputs": {"source": ["7", 1]}},
        "17": {"class_type": "PreviewAny", "inputs": {"source": ["8", 2]}},
        "18": {"class_type": "PreviewAny", "inputs": {"source": ["9", 2]}},
    }


def read_wav(comfy, entry: dict, node: str) -> tuple[np.ndarray, int]:
    audio, rate = soundfile.read(io.BytesIO(comfy.fetch(entry["outputs"][node]["audio"][0])), dtype="float32",
                                 always_2d=True)
    return audio.mean(axis=1), rate


SRT_TIME = r"(\d\d):(\d\d):(\d\d)[,.](\d\d\d)"


def _seconds(match: tuple[str, ...]) -> float:
    h, m, s, ms = (int(x) for x in match)
    return h * 3600 + m * 60 + s + ms / 1000


def parse_cues(text: str, vtt: bool = False) -> list[tuple[float, float, str]]:
    """(start, end, text) per cue, read as a player reads the file: blocks of [index], a timing line, text lines."""
    blocks = [b for b in text.strip().split("\n\n") if b.strip()]
    if vtt:
        assert blocks[0].strip() == "WEBVTT"
        blocks = blocks[1:]
    cues = []
    for number, block in enumerate(blocks, start=1):
        lines = block.split("\n")
        if not vtt:
            assert lines[0] == str(number), block
            lines = lines[1:]
        timing = re.fullmatch(f"{SRT_TIME} --> {SRT_TIME}", lines[0])
        assert timing, block
        groups = timing.groups()
        assert 1 <= len(lines[1:]) <= 2 and all(len(line) <= 42 for line in lines[1:]), block
        cues.append((_seconds(groups[:4]), _seconds(groups[4:]), " ".join(lines[1:])))
    return cues


@pytest.fixture(scope="module")
def spoken(comfy):
    comfy.reset_outputs()
    entry = comfy.run(dialogue_graph(), timeout=900)
    output = comfy.base_dir / "output" / "dialogue"
    voice, rate = read_wav(comfy, entry, "2")
    return {"entry": entry, "voice": voice, "rate": rate, "host": read_wav(comfy, entry, "4")[0],
            "caller": read_wav(comfy, entry, "6")[0], "srt": next(output.glob("captions_*.srt")).read_text(),
            "vtt": next(output.glob("captions_*.vtt")).read_text(), "outputs": entry["outputs"]}


def test_the_script_is_one_voice_that_whisper_understands(spoken):
    from .support import voice_measure

    reference = " ".join(text for _, text in LINES)
    heard = voice_measure.transcribe(spoken["voice"], spoken["rate"])
    wer = voice_measure.word_error_rate(reference, heard)
    assert wer <= 0.10, f"WER {wer:.2f}: heard {heard!r}"
    assert spoken["outputs"]["14"]["text"][0] == f"{HOST}, {CALLER}"
    engine_used = spoken["outputs"]["15"]["text"][0]
    assert HOST in engine_used and CALLER in engine_used and "recipe" in engine_used, engine_used


def test_the_stems_are_two_people_and_add_up_to_the_voice(spoken):
    from .support import voice_measure

    voice, host, caller, rate = spoken["voice"], spoken["host"], spoken["caller"], spoken["rate"]
    assert host.shape == caller.shape == voice.shape
    assert np.abs(host + caller - voice).max() <= 2 * LSB  # each WAV rounds once to 16 bits
    assert np.abs(host).max() > 0.05 and np.abs(caller).max() > 0.05
    assert not np.any((np.abs(host) > 2 * LSB) & (np.abs(caller) > 2 * LSB))  # never both at once
    embeddings = {name: voice_measure.speaker_embedding(stem[np.abs(stem) > 0], rate)
                  for name, stem in (("host", host), ("caller", caller))}
    cosine = float(np.dot(embeddings["host"], embeddings["caller"]))
    assert cosine <= 0.75, f"the two stems sound alike: speaker cosine {cosine:.2f}"


def test_captions_cover_every_word_once_in_order_without_overlap_inside_the_audio(spoken):
    duration = len(spoken["voice"]) / spoken["rate"]
    srt, vtt = parse_cues(spoken["srt"]), parse_cues(spoken["vtt"], vtt=True)
    assert [(a, b) for a, b, _ in srt] == [(a, b) for a, b, _ in vtt]
    assert [words(text) for *_, text in srt] == [words(text) for *_, text in vtt]
    assert sum((words(text) for *_, text in srt), []) == sum((words(text) for _, text in LINES), [])
    assert all(start < end for start, end, _ in srt)
    assert all(a[1] <= b[0] for a, b in zip(srt, srt[1:]))
    assert srt[0][0] >= 0 and srt[-1][1] <= duration + 0.0005
    assert spoken["outputs"]["16"]["text"][0] == spoken["vtt"]  # the vtt output is the saved file's text
    assert len(srt) >= 3  # a new cue at each speaker change and at the pause


def _voiced_frames(stem: np.ndarray, rate: int, frames: int) -> list[int]:
    hop = rate / FPS
    return [i for i in range(frames)
            if np.abs(stem[int(i * hop):int((i + 1) * hop)]).max(initial=0.0) > 0.01]


def test_each_mouth_rests_through_the_other_speakers_lines(spoken):
    outputs, rate = spoken["outputs"], spoken["rate"]
    host_shapes, caller_shapes = outputs["17"]["text"][0], outputs["18"]["text"][0]
    frames = math.ceil(len(spoken["voice"]) / rate * FPS - 1e-9)
    assert len(host_shapes) == len(caller_shapes) == frames
    for shapes, other in ((host_shapes, spoken["caller"]), (caller_shapes, spoken["host"])):
        while_other_speaks = _voiced_frames(other, rate, frames)
        assert while_other_speaks and all(shapes[i] == "X" for i in while_other_speaks), shapes
        assert set(shapes) - {"X"}  # their own lines move the mouth
    assert host_shapes != caller_shapes


def test_burned_captions_change_exactly_at_the_cue_boundaries(comfy, spoken):
    cues = parse_cues(spoken["srt"])
    images = [Image.open(io.BytesIO(comfy.fetch(item))).convert("RGB") for item in spoken["outputs"]["13"]["images"]]
    frames = [np.asarray(image) for image in images]
    assert len(frames) == math.ceil(len(spoken["voice"]) / spoken["rate"] * FPS - 1e-9)
    blank = np.full_like(frames[0], (0x33, 0x66, 0x99))

    def showing(i: int) -> int | None:
        t = i / FPS
        return next((n for n, (start, end, _) in enumerate(cues) if start <= t < end), None)

    for i, frame in enumerate(frames):
        assert np.array_equal(frame, blank) == (showing(i) is None), f"frame {i}"
    for i in range(1, len(frames)):
        same_cue = showing(i) == showing(i - 1)
        assert np.array_equal(frames[i], frames[i - 1]) == same_cue, f"frames {i - 1} and {i}"
    assert {showing(i) for i in range(len(frames))} - {None} == set(range(len(cues)))


def test_changing_one_line_speaks_that_line_only(comfy, spoken):
    cache = comfy.base_dir / "user" / "toongen" / "speech-cache"
    before = {path: path.stat().st_mtime_ns for path in cache.rglob("*.wav")}
    edited = SCRIPT.replace("Does it come with a warranty?", "Is it safe for my cat?")
    entry = comfy.run(dialogue_graph(edited), timeout=900)
    after = {path: path.stat().st_mtime_ns for path in cache.rglob("*.wav")}
    new = set(after) - set(before)
    assert new and all(after[path] == before[path] for path in before)  # nothing spoken before was re-made
    from ..nodes.speech.timing import SpeechTiming

    for path in new:
        timing = SpeechTiming.from_json(path.with_suffix(".timing.json").read_text())
        assert [w.lower().strip("?,.!") for w in (s.label for s in timing.words)] == words("Is it safe for my cat?")
    voice, rate = read_wav(comfy, entry, "2")
    first_line = slice(0, round(1.5 * rate))  # the salesman's first line, unchanged
    assert np.array_equal(voice[first_line], spoken["voice"][first_line])


@pytest.mark.parametrize("script, error", [
    ("[excited_hostt] Hello there.", r"line 1: unknown voice style \[excited_hostt\]\. Did you mean \[excited_host\]"),
    ("[excited_host Hello there.", r"line 1: the tag .* is never closed"),
    ("  \n \n", r"the script is empty"),
    ("[excited_host] Hi.\n[pause 12]\n[excited_host] Bye.", r"line 2: a pause of 12 s is outside 0"),
    ("\n".join(f"[{s}] Hi." for s in ("excited_host", "manic_salesman", "nervous_morty", "monotone_bot",
                                       "whispering_creep", "deadpan_narrator", "angry_chef", "surfer_dude",
                                       "old_timey")), r"the script has 9 speakers .* at most 8 can speak in one dialogue"),
])
def test_a_bad_script_is_refused_when_queued(comfy, script, error):
    with pytest.raises(ComfyError, match=error):
        comfy.queue({"1": {"class_type": "ToonGenScript", "inputs": {"script": script, "engine": "kokoro",
                                                                     "speed": 1.0, "seed": 0}},
                     "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 2]}}})


def _run_error(comfy, graph: dict) -> str:
    entry = comfy.wait(comfy.queue(graph), timeout=600)
    assert entry["status"]["status_str"] == "error"
    return next(m[1]["exception_message"] for m in entry["status"]["messages"] if m[0] == "execution_error")


def test_a_speaker_missing_from_the_dialogue_or_a_single_voice_timing_is_refused_when_run(comfy):
    script = {"1": {"class_type": "ToonGenScript", "inputs": {"script": f"[{HOST}] Hello there.", "engine": "kokoro",
                                                              "speed": 1.0, "seed": 0}}}
    stem = {**script, "2": {"class_type": "ToonGenSpeakerStem",
                            "inputs": {"voice": ["1", 0], "timing": ["1", 1], "speaker": CALLER}},
            "3": {"class_type": "PreviewAudio", "inputs": {"audio": ["2", 0]}}}
    assert re.search(f"'{CALLER}' does not speak in this dialogue; its speakers are {HOST}", _run_error(comfy, stem))
    single = {"1": {"class_type": "ToonGenKokoroTTS", "inputs": {"text": "Hello there.", "voice": "hibari_heart",
                                                                 "speed": 1.0}},
              "2": {"class_type": "ToonGenMouthShapes", "inputs": {"voice": ["1", 0], "fps": FPS, "timing": ["1", 1],
                                                                   "speaker": HOST}},
              "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 2]}}}
    assert "needs a dialogue's timing" in _run_error(comfy, single)
    with pytest.raises(ComfyError, match="unknown speaker 'nobody'|nobody"):
        comfy.queue({**single, "2": {**single["2"], "inputs": {**single["2"]["inputs"], "speaker": "nobody"}}})


def test_cloned_lines_are_timed_for_captions_and_mouths(comfy, f5_weights_in_comfy):
    """engine f5_tts: every line cloned (a clone has no timing of its own; the dialogue aligns or estimates its
    words), and the captions and both mouths still follow who speaks."""
    graph = dialogue_graph()
    graph["1"]["inputs"].update(engine="f5_tts", nfe_steps=4)
    for node in ("2", "4", "6", "13"):
        graph[node]["inputs"]["filename_prefix"] = "cloned/" + graph[node]["inputs"]["filename_prefix"].split("/")[-1]
    graph["7"]["inputs"]["filename_prefix"] = "cloned/captions"
    entry = comfy.run(graph, timeout=900)
    engine_used = entry["outputs"]["15"]["text"][0].splitlines()
    assert len(engine_used) == 3 and all("engine=f5_tts, cloning" in line for line in engine_used), engine_used
    cues = parse_cues(entry["outputs"]["16"]["text"][0], vtt=True)
    assert sum((words(text) for *_, text in cues), []) == sum((words(text) for _, text in LINES), [])
    assert all(a[1] <= b[0] for a, b in zip(cues, cues[1:]))
    voice, rate = read_wav(comfy, entry, "2")
    host, caller = read_wav(comfy, entry, "4")[0], read_wav(comfy, entry, "6")[0]
    assert np.abs(host + caller - voice).max() <= 2 * LSB
    frames = math.ceil(len(voice) / rate * FPS - 1e-9)
    for shapes, other in ((entry["outputs"]["17"]["text"][0], caller), (entry["outputs"]["18"]["text"][0], host)):
        assert len(shapes) == frames and all(shapes[i] == "X" for i in _voiced_frames(other, rate, frames))
