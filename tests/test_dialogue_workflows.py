"""The two dialogue workflows, run for real as shipped (their API twins through /prompt).

- `toongen_dialogue_audio` on the suite's CPU server (every ComfyUI version): a two-character script spoken with
  `engine: auto`, mixed with music, normalized, saved as a WAV; Captions saves the SRT and VTT beside it. Read back:
  the WAV (16-bit, -16 LUFS by the independent meter, the voices and the mix's tail), the SRT and VTT (parsed: cues in
  order, inside the WAV, each speaker named and their words there, in the script's order).
- `toongen_dialogue_clip` on a clip server (ComfyUI 0.33.0, the real video packs, the random-weight models of
  tests/support/clip_models.py, as tests/test_clip.py), widget values changed only (tests/support/clip_graph.py:
  `dialogue_cpu_widgets`): every node executed; the MP4 has Clip Length's frames side by side (two faces wide) with
  an AAC track as long; each face's Mouth Shapes (its `speaker`) forms its own line and rests through the other's;
  each AdvancedLivePortrait followed its own command frame for frame; Flux sampled with no TTS model loaded; a mix
  change re-runs only the audio and the muxer.
"""
from __future__ import annotations

import json
import re

import pytest
import soundfile

from .support import bs1770_meter
from .support.alp_command import parse_command, video_frames
from .support.clip_graph import (API_DIR, CPU_FPS, DIALOGUE_MIN_FRAMES, DIALOGUE_SPEAKERS, DIALOGUE_WORKFLOW,
                                 clip_server, clip_unavailable, dialogue_cpu_widgets, ensure_models, executed_nodes,
                                 first_clip_run, node_of, set_widgets)
from .support.mp4_probe import mp4_of, read_mp4

RUN_TIMEOUT = 3600  # one CPU run of the whole clip graph; generous because CI machines are shared
TIME = re.compile(r"(\d\d):(\d\d):(\d\d)[,.](\d\d\d)")


def load(name: str) -> dict:
    return json.loads((API_DIR / f"{name}.json").read_text())


def seconds(stamp: str) -> float:
    h, m, s, ms = map(int, TIME.fullmatch(stamp).groups())
    return 3600 * h + 60 * m + s + ms / 1000


def parse_cues(text: str, arrow_line: re.Pattern) -> list[tuple[float, float, str]]:
    """(start, end, text) of every cue of an SRT or VTT file."""
    cues = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = block.strip().splitlines()
        for i, line in enumerate(lines):
            match = arrow_line.fullmatch(line.strip())
            if match:
                cues.append((seconds(match[1]), seconds(match[2]), " ".join(lines[i + 1:])))
                break
    return cues


SRT_TIMES = re.compile(r"(\d\d:\d\d:\d\d,\d\d\d) --> (\d\d:\d\d:\d\d,\d\d\d)")
VTT_TIMES = re.compile(r"(\d\d:\d\d:\d\d\.\d\d\d) --> (\d\d:\d\d:\d\d\.\d\d\d).*")


def script_lines(script: str) -> list[tuple[str, str]]:
    return [(m[1], m[2]) for m in re.finditer(r"^\[(\w+)\]\s*(.+)$", script, re.M) if not m[1].startswith("pause")]


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


# --- the audio workflow (CPU, every version) --------------------------------------------------------------------

@pytest.fixture(scope="module")
def audio_run(comfy):
    graph = load("toongen_dialogue_audio")
    entry = comfy.run(graph, timeout=600)
    assert entry["status"]["status_str"] == "success", f"{entry['status']}\n{comfy.log_tail()}"
    return graph, entry


def saved_wav(comfy, graph: dict, entry: dict):
    (saved,) = entry["outputs"][node_of(graph, "ToonGenSaveWAV")]["audio"]
    assert saved["type"] == "output"
    return comfy.base_dir / "output" / saved.get("subfolder", "") / saved["filename"]


def test_dialogue_audio_saves_a_wav_at_the_target_loudness(comfy, audio_run):
    graph, entry = audio_run
    wav = saved_wav(comfy, graph, entry)
    info = soundfile.info(str(wav))
    assert (info.samplerate, info.channels, info.subtype) == (44100, 2, "PCM_16")
    audio, rate = soundfile.read(str(wav), always_2d=True)
    assert bs1770_meter.integrated_lufs(audio.T, rate) == pytest.approx(-16.0, abs=0.5)
    script = entry["outputs"][node_of(graph, "ToonGenScript")]["text"]
    assert script[0] == ", ".join(DIALOGUE_SPEAKERS)  # both characters spoke


def test_dialogue_audio_saves_srt_and_vtt_naming_both_speakers_in_order(comfy, audio_run):
    graph, entry = audio_run
    duration = soundfile.info(str(saved_wav(comfy, graph, entry))).duration
    shown = entry["outputs"][node_of(graph, "ToonGenCaptions")]["text"]
    srt_path, vtt_path = (comfy.base_dir / p for p in shown[:2])  # "output/toongen/dialogue_00001_.srt"
    assert srt_path.suffix == ".srt" and vtt_path.suffix == ".vtt" and srt_path.stem == vtt_path.stem
    srt, vtt = srt_path.read_text(), vtt_path.read_text()
    assert vtt.startswith("WEBVTT")
    cues, vtt_cues = parse_cues(srt, SRT_TIMES), parse_cues(vtt, VTT_TIMES)
    assert cues and [c[:2] for c in cues] == [c[:2] for c in vtt_cues]
    assert all(0 <= start < end for start, end, _ in cues)
    assert all(a[1] <= b[0] for a, b in zip(cues, cues[1:]))           # in order, never overlapping
    assert cues[-1][1] <= duration - 0.9                               # the mix's 1 s tail follows the last word
    # each cue opens with its speaker's name; the speakers alternate as in the script, each saying their words
    lines = script_lines(graph[node_of(graph, "ToonGenScript")]["inputs"]["script"])
    names = {s: " ".join(p.capitalize() for p in s.split("_")) for s in DIALOGUE_SPEAKERS}
    said: list[tuple[str, list[str]]] = []
    for _, _, text in cues:
        speaker = next(s for s, name in names.items() if text.startswith(f"{name}:"))
        spoken = words(text[len(names[speaker]) + 1:])
        if said and said[-1][0] == speaker:
            said[-1][1].extend(spoken)
        else:
            said.append((speaker, spoken))
    assert [s for s, _ in said] == [s for s, _ in lines]
    for (speaker, spoken), (_, line) in zip(said, lines):
        assert spoken == words(line), (speaker, spoken, line)


# --- the clip (ComfyUI 0.33.0, the video packs, random-weight models) -------------------------------------------

@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A fresh clip server (nothing loaded, nothing cached) and the dialogue clip at CPU widget values."""
    reason = clip_unavailable()
    if reason:
        pytest.skip(reason)
    server = clip_server(tmp_path_factory.mktemp("dialogue-clip"), ensure_models(("gguf",)))
    yield server, dialogue_cpu_widgets(load(DIALOGUE_WORKFLOW))
    server.stop()


@pytest.fixture(scope="module")
def clip_run(clip):
    server, graph = clip
    return first_clip_run(server, graph, RUN_TIMEOUT)


def mouths(graph: dict, entry: dict) -> dict[str, str]:
    """speaker → the shapes its Mouth Shapes showed, one letter per frame."""
    ids = [k for k, n in graph.items() if n["class_type"] == "ToonGenMouthShapes"]
    return {graph[k]["inputs"]["speaker"]: entry["outputs"][k]["text"][-1] for k in ids}


def clip_test(test):
    """A clip test: run on every ComfyUI version that has the video packs (0.33.0; skipped elsewhere)."""
    return pytest.mark.real_server(pytest.mark.timeout(2 * RUN_TIMEOUT)(test))


@clip_test
def test_dialogue_clip_every_node_executed(clip, clip_run):
    _, graph = clip
    executed, cached = executed_nodes(clip_run["messages"])
    assert executed == set(graph), f"not executed: {sorted(set(graph) - executed)}; cached: {sorted(cached)}"


@clip_test
def test_dialogue_clip_mp4_is_both_faces_wide_with_the_promised_frames_and_track(clip, clip_run):
    server, graph = clip
    shapes = mouths(graph, clip_run["entry"])
    (frames,) = {len(s) for s in shapes.values()}
    assert frames >= DIALOGUE_MIN_FRAMES
    mp4 = mp4_of(server, clip_run["entry"], node_of(graph, "VHS_VideoCombine"))
    video = read_mp4(mp4)
    assert video["fps"] == CPU_FPS and video["frames"] == frames
    assert video["codec"] == "aac" and abs(video["audio_s"] - video["video_s"]) <= 1.0 / CPU_FPS
    import av

    with av.open(str(mp4)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (128, 64)  # the two 64×64 faces side by side


@clip_test
def test_each_face_speaks_its_own_line_and_rests_through_the_others(clip, clip_run):
    _, graph = clip
    shapes = mouths(graph, clip_run["entry"])
    left, right = DIALOGUE_SPEAKERS
    assert set(shapes) == {left, right} and shapes[left] != shapes[right]
    print(f"mouth shapes at {CPU_FPS:g} fps: {shapes}")
    talking = {s: [i for i, shape in enumerate(track) if shape != "X"] for s, track in shapes.items()}
    assert len(talking[left]) >= 2 and len(talking[right]) >= 2, shapes  # each forms its words over frames
    # the host speaks first, the salesman second: the host's mouth is closed from the salesman's first shape on,
    # the salesman's closed until the host's last; both rest after the voices
    assert max(talking[left]) < min(talking[right]), shapes
    assert shapes[left].endswith("X") and shapes[right].endswith("X")


@clip_test
def test_each_liveportrait_follows_its_own_command_frame_for_frame(clip, clip_run):
    _, graph = clip
    runs = clip_run["probe"]["liveportrait"]
    assert len(runs) == 2 and runs[0]["command"] != runs[1]["command"]
    frames = len(next(iter(mouths(graph, clip_run["entry"]).values())))
    for run in runs:
        segments = parse_command(run["command"], editors=8)
        assert video_frames(segments) == frames == len(run["frames"])
        moves, previous = [], 0
        for segment in segments:
            moves += [segment.index != previous] * segment.change + [False] * segment.keep
            previous = segment.index
        digests = run["frames"]
        changed = [digests[i] != digests[i - 1] for i in range(1, len(digests))]
        assert changed == moves[1:], f"command:\n{run['command']}"
        assert any(changed) and not all(changed)


@clip_test
def test_dialogue_clip_flux_samples_with_no_tts_model_loaded(clip_run):
    samplings = clip_run["probe"]["samplings"]
    flux = [s for s in samplings if s["model"].startswith("Flux")]
    assert len(flux) == 1 and len(samplings) == 2, [s["model"] for s in samplings]
    assert flux[0]["loaded"] == [] and flux[0]["comfy_managed"] == [] and flux[0]["live_objects"] == 0


@clip_test
def test_dialogue_clip_mix_change_reruns_only_the_audio_and_the_muxer(clip, clip_run):
    server, graph = clip
    mix = node_of(graph, "ToonGenMixAudio")
    messages, entry = server.run_watching(set_widgets(graph, {mix: {"mix_ratio": 0.5}}), timeout=RUN_TIMEOUT)
    executed, _ = executed_nodes(messages)
    assert entry["status"]["status_str"] == "success"
    assert executed == {mix, node_of(graph, "ToonGenLoudnessNormalize"), node_of(graph, "VHS_VideoCombine")}
