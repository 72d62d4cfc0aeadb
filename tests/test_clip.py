"""The clip, made: the shipped GGUF and fp8 clip workflows run node for node in a real ComfyUI 0.33.0 with the real
video packs (AdvancedLivePortrait, AnimateDiff-Evolved, ComfyUI-GGUF, VideoHelperSuite) on random-weight model files
in the exact layouts their loaders read (tests/support/clip_models.py). Only widget values change to fit a CPU (tests/support/clip_graph.py):
64×64 frames, two sampler steps, the shortest scenario line at 2 fps, which is shorter than 16 frames.

What a run proves: every node executed; the MP4 has exactly the frames Clip Length promised, at its fps, with an AAC
track as long as the video; LivePortrait followed Mouth Shapes' command frame for frame; no TTS model was loaded
while Flux sampled; re-queued unchanged nothing runs, and a mix change re-runs only the audio path and the muxer."""
from __future__ import annotations

import pytest

from .support.alp_command import parse_command, video_frames
from .support.clip_graph import (CPU_FPS, EXECUTED_WORKFLOWS, VARIANT, clip_server, clip_unavailable, cpu_widgets,
                                 ensure_models, executed_nodes, first_clip_run, load_api_workflow, node_of,
                                 set_widgets)
from .support.mp4_probe import mp4_of, read_mp4

RUN_TIMEOUT = 3600  # one CPU run of the whole graph; generous because CI machines are shared
pytestmark = [pytest.mark.real_server, pytest.mark.timeout(2 * RUN_TIMEOUT)]


@pytest.fixture(scope="module", params=EXECUTED_WORKFLOWS)
def workflow(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def server(tmp_path_factory, workflow):
    """A fresh server per workflow: each run starts from nothing loaded and nothing cached."""
    reason = clip_unavailable()
    if reason:
        pytest.skip(reason)
    models = ensure_models((VARIANT[workflow],))
    server = clip_server(tmp_path_factory.mktemp("clip"), models)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def graph(workflow) -> dict:
    return cpu_widgets(load_api_workflow(workflow))


@pytest.fixture(scope="module")
def first_run(server, graph):
    return first_clip_run(server, graph, RUN_TIMEOUT)


def mouth_shapes_shown(graph: dict, entry: dict) -> str:
    return entry["outputs"][node_of(graph, "ToonGenMouthShapes")]["text"][-1]


def test_every_node_of_the_workflow_executed(graph, first_run):
    executed, cached = executed_nodes(first_run["messages"])
    assert executed == set(graph), f"not executed: {sorted(set(graph) - executed)}; cached: {sorted(cached)}"


def test_the_mp4_has_the_promised_frames_and_a_track_as_long(server, graph, first_run):
    shapes = mouth_shapes_shown(graph, first_run["entry"])
    (alp_run,) = first_run["probe"]["liveportrait"]
    frames = len(shapes)
    # the line lasts about 5 s: 11 frames of speech at 2 fps, so the clip is AnimateDiff's minimum of 16, the mouth
    # resting and the music playing after the voice (no frame and no sound cut)
    assert frames == 16 and shapes.endswith("XX")
    assert video_frames(parse_command(alp_run["command"], editors=8)) == frames == len(alp_run["frames"])
    video = read_mp4(mp4_of(server, first_run["entry"], node_of(graph, "VHS_VideoCombine")))
    assert video["fps"] == CPU_FPS and video["frames"] == frames
    assert video["codec"] == "aac" and abs(video["audio_s"] - video["video_s"]) <= 1.0 / CPU_FPS
    tail = video["audio"][:, -int(video["rate"] * 1.5):]
    assert abs(tail).max() > 1e-3, "the music after the voice is silent: the clip's tail was cut"


def test_liveportrait_holds_where_the_command_keeps_and_moves_where_it_changes(first_run):
    (alp_run,) = first_run["probe"]["liveportrait"]
    moves, previous_target = [], 0  # frame by frame: does this frame move the face? (the source face is index 0)
    for segment in parse_command(alp_run["command"], editors=8):
        moves += [segment.index != previous_target] * segment.change + [False] * segment.keep
        previous_target = segment.index
    digests = alp_run["frames"]
    changed = [digests[i] != digests[i - 1] for i in range(1, len(digests))]
    assert changed == moves[1:], f"command:\n{alp_run['command']}"
    assert any(changed) and not all(changed)


def test_no_tts_model_is_loaded_while_flux_samples(first_run):
    samplings = first_run["probe"]["samplings"]
    flux = [s for s in samplings if s["model"].startswith("Flux")]
    assert len(flux) == 1 and len(samplings) == 2, [s["model"] for s in samplings]  # Flux, then AnimateDiff's SD1.5
    assert flux[0]["loaded"] == [] and flux[0]["comfy_managed"] == [] and flux[0]["live_objects"] == 0


def test_requeued_unchanged_nothing_runs(server, graph, first_run):
    messages, entry = server.run_watching(graph, timeout=RUN_TIMEOUT)
    executed, cached = executed_nodes(messages)
    assert entry["status"]["status_str"] == "success"
    assert executed == set() and cached == set(graph)


def test_a_mix_change_reruns_only_the_audio_and_the_muxer(server, graph, first_run):
    mix = node_of(graph, "ToonGenMixAudio")
    changed = set_widgets(graph, {mix: {"mix_ratio": 0.5, "duck_db": 6.0}})
    messages, entry = server.run_watching(changed, timeout=RUN_TIMEOUT)
    executed, _ = executed_nodes(messages)
    assert entry["status"]["status_str"] == "success"
    assert executed == {mix, node_of(graph, "ToonGenLoudnessNormalize"), node_of(graph, "VHS_VideoCombine")}
    video = read_mp4(mp4_of(server, entry, node_of(graph, "VHS_VideoCombine")))
    assert video["frames"] == len(mouth_shapes_shown(graph, first_run["entry"]))
