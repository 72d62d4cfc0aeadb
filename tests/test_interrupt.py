"""Cancel inside the torch engines: F5-TTS stops inside a flow step, Kokoro (KModel) inside a segment, and the
next run after a Cancel makes exactly what a clean run makes. Cancel is "pressed" after a counted number of layer
calls, so every run stops at the same place (no timers)."""
from __future__ import annotations

import contextlib

import pytest
import torch

from ..nodes.runtime import interrupt
from ..nodes.speech.f5 import F5Engine
from ..nodes.speech.kokoro import TorchKokoro
from .support.tiny_models import build_f5, build_kokoro


@contextlib.contextmanager
def cancel_after(module: torch.nn.Module, calls: int):
    """Press Cancel once `module` has finished `calls` forward calls; yields the list of finished calls."""
    finished: list[int] = []
    handle = module.register_forward_hook(lambda *_: finished.append(1))
    pressed = lambda: len(finished) >= calls  # noqa: E731

    def raise_if_pressed() -> None:
        if pressed():
            raise interrupt.SpeechInterrupted("cancelled")

    interrupt.install(pressed, raise_if_pressed)
    try:
        yield finished
    finally:
        interrupt.install(lambda: False, lambda: None)
        handle.remove()


def count_calls(module: torch.nn.Module) -> list[int]:
    calls: list[int] = []
    module.register_forward_hook(lambda *_: calls.append(1))
    return calls


@pytest.fixture(scope="module")
def f5(tmp_path_factory) -> F5Engine:
    return F5Engine(build_f5(tmp_path_factory.mktemp("models") / "f5-tts"))


def test_f5_stops_inside_a_flow_step_and_the_next_run_is_clean(f5, narrator):
    clean = f5.speak_batch(narrator, ["Come on down."], nfe_steps=8, seed=3)[0]
    blocks = f5.model.transformer.transformer_blocks
    first_block, second_block = count_calls(blocks[0]), count_calls(blocks[1])
    steps = count_calls(f5.model.transformer)
    # Cancel while the third flow step is between its first and second DiT block.
    with cancel_after(blocks[0], 3), pytest.raises(interrupt.SpeechInterrupted):
        f5.speak_batch(narrator, ["Something else entirely, and a lot longer than that."], nfe_steps=8, seed=3)
    assert (len(steps), len(first_block), len(second_block)) == (2, 3, 2)  # 2 of 8 steps done, the 3rd cut short
    # CFM.sample caches the text embedding; an interrupted run must not leave the other text's behind.
    again = f5.speak_batch(narrator, ["Come on down."], nfe_steps=8, seed=3)[0]
    assert torch.equal(clean, again)
    with cancel_after(blocks[0], 1), pytest.raises(interrupt.SpeechInterrupted):  # f5-tts's own inference path
        f5.speak(narrator, ["Come on down."], nfe_steps=8)
    assert torch.equal(f5.speak_batch(narrator, ["Come on down."], nfe_steps=8, seed=3)[0], clean)


def test_torch_kokoro_stops_inside_a_segment(tmp_path):
    kokoro = TorchKokoro(build_kokoro(tmp_path / "kokoro"))
    model = kokoro.pipeline.model
    decoded = count_calls(model.decoder)
    kokoro.speak("Come on down. Every door is fake!", "af_heart", 1.0)
    assert decoded  # the uninterrupted run reaches the decoder
    decoded.clear()
    with cancel_after(model.predictor.duration_proj, 1), pytest.raises(interrupt.SpeechInterrupted):
        kokoro.speak("Come on down. Every door is fake!", "af_heart", 1.0)
    assert not decoded  # durations predicted, then stopped before the decoder made any audio

