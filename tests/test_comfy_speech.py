"""Speech and the audio-only workflow inside a real headless ComfyUI: /prompt runs, progress over the websocket,
Cancel inside a chunk, the speech cache across restarts, bad input refused with the fix."""
from __future__ import annotations

import copy
import io
import json
import math

import pytest
import soundfile

from .support import bs1770_meter
from .support.comfy_server import REPO, ComfyError

WORKFLOW = json.loads((REPO / "workflows" / "api" / "toongen_audio_only.json").read_text())


def test_audio_only_workflow_renders_a_scenario_to_wav(comfy):
    graph = copy.deepcopy(WORKFLOW)
    graph["1"]["inputs"]["scenario"] = "fake_doors"
    messages, entry = comfy.run_watching(graph, timeout=600)
    assert entry["status"]["status_str"] == "success", entry["status"]
    assert any(m["type"] == "executed" and m["data"]["node"] == "6" for m in messages)
    wav = next(f for f in comfy.output_files(entry) if f["filename"].endswith(".wav"))
    data, rate = soundfile.read(io.BytesIO(comfy.fetch(wav)), always_2d=True)
    seconds = data.shape[0] / rate
    assert rate == 44100 and data.shape[1] == 2
    assert 4.0 < seconds < 15.0                      # two short sentences + 1 s tail, padded to whole frames
    assert abs(seconds * 24 - round(seconds * 24)) < 1e-3  # whole video frames at 24 fps
    assert abs(bs1770_meter.integrated_lufs(data.T, rate) + 16.0) <= 0.5
    assert 20 * math.log10(abs(data).max()) <= -0.9


def test_speak_reports_which_engine_and_progress_per_chunk(comfy):
    text = " ".join(["Come on down to Real Fake Doors, that's us, the only store that sells fake doors."] * 5)
    graph = {
        "1": {"class_type": "ToonGenSpeak", "inputs": {"text": text, "engine": "auto", "voice_style": "excited_host",
                                                       "kokoro_voice": "jf_alpha", "speed": 1.0, "seed": 1}},
        "2": {"class_type": "ToonGenSaveWAV", "inputs": {"audio": ["1", 0], "filename_prefix": "toongen/progress"}},
    }
    messages, entry = comfy.run_watching(graph, timeout=600)
    progress = [m["data"] for m in messages if m["type"] == "progress" and m["data"].get("node") == "1"]
    assert len(progress) >= 3 and progress[-1]["value"] == progress[-1]["max"]
    wav = next(f for f in comfy.output_files(entry) if f["filename"].endswith(".wav"))
    info = soundfile.info(io.BytesIO(comfy.fetch(wav)))
    assert info.samplerate == 24000 and info.channels == 1 and info.duration > 15.0
    # A second run of the same graph is answered from ComfyUI's cache: nothing executes, nothing is re-synthesized.
    messages, entry = comfy.run_watching(graph, timeout=600)
    assert entry["status"]["status_str"] == "success"
    cached = {node for m in messages if m["type"] == "execution_cached" for node in m["data"]["nodes"]}
    assert {"1", "2"} <= cached
    assert not [m for m in messages if m["type"] == "executing" and m["data"].get("node") in ("1", "2")]


def speech_cache_files(cache_dir) -> set:
    return {p.name for p in cache_dir.rglob("*.wav")} if cache_dir.is_dir() else set()


def test_interrupt_stops_speech_inside_the_running_chunk(comfy):
    """Cancel pressed while the first of many chunks is being spoken: the prompt ends interrupted before that chunk
    is finished — no chunk of audio made (progress never leaves 0), nothing cached, nothing written."""
    sentence = ("This is a very long infomercial that simply refuses to end, folks, so keep on listening to every "
                "single word of it, because the deals on fake doors, fake windows and fake plumbuses never stop. ")
    graph = {
        "1": {"class_type": "ToonGenKokoroTTS", "inputs": {"text": sentence * 20, "voice": "jm_kumo", "speed": 1.0}},
        "2": {"class_type": "ToonGenSaveWAV", "inputs": {"audio": ["1", 0], "filename_prefix": "toongen/never"}},
    }
    cache_dir = comfy.base_dir / "user" / "toongen" / "speech-cache"
    cached_before = speech_cache_files(cache_dir)
    sent = []

    def interrupt_when_speech_starts(server, message):
        if message["type"] == "progress" and message["data"].get("node") == "1" and not sent:
            sent.append(message["data"])
            server.post_json("/interrupt", {})

    messages, entry = comfy.run_watching(graph, on_message=interrupt_when_speech_starts, timeout=600)
    assert sent and sent[0]["value"] == 0, "the first progress message comes before the first chunk is spoken"
    total_chunks = sent[0]["max"]
    assert total_chunks >= 10
    assert messages[-1]["type"] == "execution_interrupted"
    chunks_made = max(m["data"]["value"] for m in messages if m["type"] == "progress" and m["data"].get("node") == "1")
    assert chunks_made == 0  # stopped inside chunk 1 of total_chunks: the engine itself saw the Cancel
    assert speech_cache_files(cache_dir) == cached_before
    assert not comfy.output_files(entry)


def test_a_restarted_server_answers_cached_speech_without_loading_a_model(comfy):
    """The speech cache key names the model by its files' digests, so after a restart a cached line loads nothing."""
    from .conftest import TOONGEN_NODE_IDS
    from .support.comfy_server import ComfyServer

    graph = {
        "1": {"class_type": "ToonGenKokoroTTS", "inputs": {"text": "Cached across restarts, folks.", "voice": "jf_alpha",
                                                           "speed": 1.0}},
        "2": {"class_type": "ToonGenSaveWAV", "inputs": {"audio": ["1", 0], "filename_prefix": "toongen/restart"}},
    }
    first = comfy.run(graph)
    cache_dir = comfy.base_dir / "user" / "toongen" / "speech-cache"
    assert speech_cache_files(cache_dir)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TOONGEN_CACHE_DIR", str(cache_dir))
        with ComfyServer().start(expect_nodes=TOONGEN_NODE_IDS) as restarted:
            entry = restarted.run(graph)
            state = restarted.get_json("/toongen/models")
            assert state["loaded"] == [] and state["live_objects"] == 0
            assert state["loads_since_start"] == 0  # not even loaded and dropped again
            again = soundfile.read(io.BytesIO(restarted.fetch(restarted.output_files(entry)[0])))[0]
    assert (again == soundfile.read(io.BytesIO(comfy.fetch(comfy.output_files(first)[0])))[0]).all()


@pytest.mark.parametrize("inputs, expected", [
    ({"text": "", "engine": "kokoro"}, "text is empty"),
    ({"text": "Hi.", "engine": "f5_tts", "voice_style": "(none)"}, "needs a voice reference"),
])
def test_bad_speech_input_fails_with_the_fix(comfy, inputs, expected):
    node = {"text": "Hello.", "engine": "auto", "voice_style": "(none)", "kokoro_voice": "jf_alpha", "speed": 1.0,
            "seed": 0, **inputs}
    graph = {"1": {"class_type": "ToonGenSpeak", "inputs": node},
             "2": {"class_type": "ToonGenSaveWAV", "inputs": {"audio": ["1", 0], "filename_prefix": "toongen/bad"}}}
    entry = comfy.wait(comfy.queue(graph))
    assert entry["status"]["status_str"] == "error"
    assert expected in json.dumps(entry["status"]["messages"])


@pytest.mark.parametrize("node, inputs, expected", [
    ("ToonGenSpeak", {"text": "Hi.", "engine": "auto", "voice_style": "../../secret", "kokoro_voice": "jf_alpha",
                      "speed": 1.0, "seed": 0}, "unknown voice style"),
    ("ToonGenKokoroTTS", {"text": "Hi.", "voice": "af_nonexistent", "speed": 1.0}, "unknown Kokoro voice"),
    ("ToonGenScenario", {"scenario": "no_such_scenario", "sfx_time_s": 0.0}, "no_such_scenario"),
])
def test_unknown_names_are_refused_at_validation(comfy, node, inputs, expected):
    graph = {"1": {"class_type": node, "inputs": inputs},
             "2": {"class_type": "PreviewAudio", "inputs": {"audio": ["1", 0] if node != "ToonGenScenario" else ["1", 3]}}}
    with pytest.raises(ComfyError, match=expected):
        comfy.queue(graph)


def test_mixer_combo_values_are_checked(comfy):
    graph = {
        "1": {"class_type": "ToonGenLoadSFX", "inputs": {"name": "static_glitch"}},
        "2": {"class_type": "ToonGenMixAudio", "inputs": {
            "voice": ["1", 0], "mix_ratio": 0.3, "loop_bgm": True, "duck_db": 12.0, "duck_attack_ms": 30.0,
            "duck_release_ms": 400.0, "fade_in_s": 0.0, "fade_out_s": 0.5, "tail_s": 0.0, "sample_rate": "12345",
            "channels": "stereo"}},
        "3": {"class_type": "PreviewAudio", "inputs": {"audio": ["2", 0]}},
    }
    with pytest.raises(ComfyError, match="unknown sample_rate '12345'"):
        comfy.queue(graph)


def speak_graph(**inputs) -> dict:
    node = {"text": "Come on down to Real Fake Doors!", "engine": "auto", "voice_style": "deadpan_narrator",
            "kokoro_voice": "jf_alpha", "speed": 1.0, "seed": 0, "nfe_steps": 4, **inputs}
    return {"1": {"class_type": "ToonGenSpeak", "inputs": node},
            "2": {"class_type": "ToonGenSaveWAV", "inputs": {"audio": ["1", 0], "filename_prefix": "toongen/f5"}}}


def engine_used(entry: dict) -> str:
    return entry["outputs"]["1"]["text"][0]


def test_speak_clones_with_f5_when_weights_exist(comfy, f5_weights_in_comfy):
    assert engine_used(comfy.run(speak_graph(engine="f5_tts"))).startswith("engine=f5_tts, cloning deadpan_narrator")
    entry = comfy.run(speak_graph(engine="auto", seed=1))
    assert engine_used(entry).startswith("auto: cloning deadpan_narrator")
    info = soundfile.info(io.BytesIO(comfy.fetch(next(f for f in comfy.output_files(entry) if f["filename"].endswith(".wav")))))
    assert info.samplerate == 24000 and info.channels == 1


def test_auto_falls_back_to_kokoro_when_f5_fails(comfy, f5_weights_in_comfy):
    from ..nodes.audio.files import save_wav_pcm16
    from .conftest import speech_like

    voices = comfy.base_dir / "models" / "tts" / "voices"
    save_wav_pcm16(voices / "tiny_clip.wav", speech_like(0.5), 24000)  # too short for F5 to clone
    (voices / "tiny_clip.txt").write_text("Hi.")
    try:
        entry = comfy.run(speak_graph(engine="auto", voice_style="tiny_clip"))
        assert engine_used(entry).startswith("auto: F5-TTS failed (AudioInputError")
        failed = comfy.wait(comfy.queue(speak_graph(engine="f5_tts", voice_style="tiny_clip", seed=5)))
        assert failed["status"]["status_str"] == "error"  # explicit f5_tts: no fallback
        assert "F5-TTS needs 5–10 s" in json.dumps(failed["status"]["messages"], ensure_ascii=False)
    finally:
        (voices / "tiny_clip.wav").unlink()
        (voices / "tiny_clip.txt").unlink()


def test_f5_node_clones_a_reference_linked_in_the_graph(comfy, f5_weights_in_comfy):
    from ..nodes.audio.files import save_wav_pcm16
    from .conftest import speech_like

    save_wav_pcm16(comfy.base_dir / "input" / "my_reference.wav", speech_like(6.0, 48000).repeat(2, 1), 48000)
    graph = {
        "1": {"class_type": "LoadAudio", "inputs": {"audio": "my_reference.wav"}},
        "2": {"class_type": "ToonGenF5TTS", "inputs": {
            "text": "Hello from a linked reference.", "voice_style": "(none)", "speed": 1.0, "seed": 0, "nfe_steps": 4,
            "cfg_strength": 2.0, "cross_fade_s": 0.15, "reference_audio": ["1", 0],
            "reference_text": "This is what the reference says, more or less."}},
        "3": {"class_type": "ToonGenSaveWAV", "inputs": {"audio": ["2", 0], "filename_prefix": "toongen/f5_linked"}},
    }
    entry = comfy.run(graph)
    wav = next(f for f in comfy.output_files(entry) if f["filename"].endswith(".wav"))
    assert soundfile.info(io.BytesIO(comfy.fetch(wav))).samplerate == 24000


def test_auto_without_f5_weights_speaks_the_styles_recipe_and_says_why(comfy):
    entry = comfy.run(speak_graph(engine="auto", seed=9))
    used = engine_used(entry)
    assert used.startswith("auto: offline voice because F5-TTS cannot run")
    assert "voice style deadpan_narrator through its recipe (jm_kumo, speed 0.9, pitch ×0.8" in used
    # what a remote user reads names the folder the way ComfyUI does, once, and no server path
    assert used.count("models/tts/f5-tts") == 1 and str(comfy.base_dir) not in used, used
    assert "\n" not in used and len(used) < 300, used


def _voice_of(comfy, entry) -> "numpy.ndarray":
    wav = next(f for f in comfy.output_files(entry) if f["filename"].endswith(".wav"))
    data, rate = soundfile.read(io.BytesIO(comfy.fetch(wav)), dtype="float32")
    assert rate == 24000
    return data


def test_styles_without_f5_are_different_characters_and_the_widget_only_speaks_without_a_style(comfy):
    """Two styles through their recipes (a Piper voice and a Kokoro blend) and the same text without a style (the
    kokoro_voice widget): three different voices, each as long as its recipe's tempo makes it."""
    text = "Come on down to Real Fake Doors!"
    salesman = comfy.run(speak_graph(text=text, voice_style="manic_salesman", kokoro_voice="hibari_heart"))
    morty = comfy.run(speak_graph(text=text, voice_style="nervous_morty", kokoro_voice="hibari_heart"))
    plain = comfy.run(speak_graph(text=text, voice_style="(none)", kokoro_voice="hibari_heart"))
    assert "through its recipe (piper_joe" in engine_used(salesman)
    assert "through its recipe (jm_kumo timbre with jf_alpha prosody" in engine_used(morty)
    assert engine_used(plain).endswith("→ voice hibari_heart")
    clips = [_voice_of(comfy, e) for e in (salesman, morty, plain)]
    assert len({len(c) for c in clips}) == 3  # not one voice (the widget's) for every style


@pytest.mark.parametrize("files, expected", [
    ({"bad_pitch.recipe.json": '{"voice": "jm_kumo", "pitch": 3.0}'}, "pitch 3 is outside 0.5"),
    ({"empty_blend.recipe.json": '{"blend": {}}'}, "mix of nothing"),
    ({"ghost.recipe.json": '{"voice": "af_nobody"}'}, "voice 'af_nobody' is not installed"),
    ({"mute.wav": None}, "mute.wav has no transcript"),
])
def test_broken_user_styles_are_refused_at_validation_with_the_fix(comfy, files, expected):
    from ..nodes.audio.files import save_wav_pcm16
    from .conftest import speech_like

    voices = comfy.base_dir / "models" / "tts" / "voices"
    voices.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        if content is None:
            save_wav_pcm16(voices / name, speech_like(6.0), 24000)
        else:
            (voices / name).write_text(content)
    style = next(iter(files)).split(".")[0]
    try:
        with pytest.raises(ComfyError, match=expected):
            comfy.queue(speak_graph(voice_style=style))
    finally:
        for name in files:
            (voices / name).unlink()


@pytest.mark.parametrize("text, named", [
    ("こんにちは、カタカナとひらがな", "HIRAGANA LETTER KO"),
    ("Hello Мир, 你好", "CYRILLIC CAPITAL LETTER EM"),
    ("I love 🍕 so much!", "SLICE OF PIZZA"),
])
def test_text_a_voice_cannot_read_is_refused_with_the_characters_named(comfy, text, named):
    graph = {"1": {"class_type": "ToonGenKokoroTTS", "inputs": {"text": text, "voice": "jf_alpha", "speed": 1.0}},
             "2": {"class_type": "PreviewAudio", "inputs": {"audio": ["1", 0]}}}
    with pytest.raises(ComfyError, match=named):
        comfy.queue(graph)
    with pytest.raises(ComfyError, match=named):
        comfy.queue(speak_graph(text=text, engine="kokoro"))


def test_voice_node_lists_every_offline_voice_and_speaks_each_engine(comfy):
    info = comfy.get_json("/object_info/ToonGenKokoroTTS")["ToonGenKokoroTTS"]
    assert info["display_name"] == "Voice (ToonGen)"
    spec = info["input"]["required"]["voice"]
    options = spec[1]["options"] if spec[0] == "COMBO" else spec[0]
    from ..nodes.speech.engines import embedded_kokoro_voices

    embedded = set(embedded_kokoro_voices())
    assert options[:2] == ["hibari_heart", "piper_joe"] and {"jf_alpha", "jm_kumo"} <= embedded <= set(options)
    for voice in ("piper_joe", "hibari_heart"):
        graph = {"1": {"class_type": "ToonGenKokoroTTS", "inputs": {"text": "Real fake doors!", "voice": voice,
                                                                    "speed": 1.0}},
                 "2": {"class_type": "ToonGenSaveWAV", "inputs": {"audio": ["1", 0], "filename_prefix": f"toongen/{voice}"}}}
        assert 0.5 < len(_voice_of(comfy, comfy.run(graph))) / 24000 < 4.0

