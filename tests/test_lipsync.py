"""Speech → AdvancedLivePortrait mouth command."""
from __future__ import annotations

import math
import re

import pytest
import torch

from ..nodes.mouth.lipsync import LipSettings, lip_command
from .conftest import speech_like

LINE = re.compile(r"^(\d+)=(\d+):(\d+)$")


def parse(command: str) -> list[tuple[int, int, int]]:
    rows = []
    for line in command.splitlines():
        match = LINE.match(line)
        assert match, f"bad line {line!r}"
        rows.append(tuple(map(int, match.groups())))
    return rows


@pytest.mark.parametrize("seconds, fps", [(3.0, 24.0), (2.37, 24.0), (5.0, 30.0), (0.5, 12.5)])
def test_frames_add_up_to_the_audio_length_and_change_is_at_least_one(seconds, fps):
    rate = 24000
    command, frames = lip_command(speech_like(seconds, rate), rate, fps)
    rows = parse(command)
    assert frames == math.ceil(seconds * fps - 1e-9)
    assert sum(c + k for _, c, k in rows) == frames
    assert all(c >= 1 and k >= 0 for _, c, k in rows)


def test_syllables_open_and_close_the_mouth():
    rate, fps = 24000, 24.0
    t = torch.arange(int(4.0 * rate)) / rate
    syllables = (torch.sin(2 * math.pi * 4.0 * t) > 0).float()  # 4 syllables a second: 125 ms on, 125 ms off
    voice = (0.3 * torch.sin(2 * math.pi * 180 * t) * syllables).unsqueeze(0)
    rows = parse(lip_command(voice, rate, fps)[0])
    states = [s for s, _, _ in rows]
    openings = sum(1 for a, b in zip(states, states[1:]) if a == 0 and b > 0)
    assert openings >= 12  # ~16 syllables: the mouth opens on (nearly) each one
    assert 0 in states and max(states) == 3


def test_silence_keeps_the_mouth_closed():
    command, frames = lip_command(torch.zeros(1, 48000), 24000, 24.0)
    rows = parse(command)
    assert frames == 48 and len(rows) == 1 and rows[0][0] == 0 and sum(rows[0][1:]) == 48


def test_hysteresis_stops_flicker_at_a_boundary():
    rate, fps = 24000, 24.0
    t = torch.arange(3 * rate) / rate
    # A steady tone whose level wobbles ±0.5 dB around a band boundary.
    wobble = 10 ** ((0.5 * torch.sign(torch.sin(2 * math.pi * 6 * t))) / 20)
    voice = (0.3 * torch.sin(2 * math.pi * 200 * t) * wobble).unsqueeze(0)
    voice[:, : rate // 2] *= 10 ** (-23.3 / 20)  # first half second sits near a boundary
    rows = parse(lip_command(voice, rate, fps, LipSettings(hysteresis_db=3.0))[0])
    assert len(rows) <= 3


def test_louder_means_wider():
    rate = 24000
    quiet = 10 ** (-25 / 20) * speech_like(1.0, rate)
    loud = speech_like(1.0, rate)
    rows = parse(lip_command(torch.cat([quiet, loud], dim=1), rate, 24.0)[0])
    first_half = max(s for s, _, _ in rows[: len(rows) // 2])
    assert first_half < 3 and max(s for s, _, _ in rows) == 3
