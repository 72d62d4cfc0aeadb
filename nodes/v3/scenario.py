"""V3 node class for ToonGen/scenario: one scenario of the library as graph values."""
from __future__ import annotations

import torch
from comfy_api.latest import io

from ..audio.contract import make_audio
from ..audio.files import DEFAULT_MAX_SECONDS, load_audio_file
from ..audio.mix import DEFAULT_SFX_GAIN, SfxEvent
from ..library.assets import check_choice, list_audio_assets, resolve_name
from ..library.scenarios import get_scenario, load_scenarios
from .audio import SfxEvents


class ScenarioNode(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        library = load_scenarios()
        ids = list(library)
        dialogues = sum(item.is_dialogue for item in library.values())
        return io.Schema(
            node_id="ToonGenScenario",
            display_name="Scenario (ToonGen)",
            category="ToonGen/scenario",
            description="A scenario of the library: the visual prompt (→ CLIPTextEncode), the script and voice style "
                        "(→ Speak), its music (→ Mix bgm) and its effect placed at sfx_time_s "
                        "(→ Mix sfx_events). A dialogue variant (id ending in _dialogue) gives a script of "
                        "[voice_style] lines for Script / Dialogue's script, and its first speaker as voice_style.",
            inputs=[
                io.Combo.Input("scenario", options=ids, default=ids[0],
                               tooltip=f"Which scenario: {len(ids) - dialogues} with one voice (→ Speak) and "
                                       f"{dialogues} dialogue variants, ids ending in _dialogue "
                                       "(→ Script / Dialogue)."),
                io.Float.Input("sfx_time_s", default=0.0, min=0.0, max=600.0, step=0.1,
                               tooltip="Where the scenario's sound effect starts, in seconds."),
            ],
            outputs=[
                io.String.Output(display_name="prompt"),
                io.String.Output(display_name="script",
                                 tooltip="What is said: plain text for Speak, or a dialogue variant's "
                                         "[voice_style] lines for Script / Dialogue."),
                io.String.Output(display_name="voice_style",
                                 tooltip="The character's voice style; a dialogue's first speaker."),
                io.Audio.Output(display_name="bgm"),
                SfxEvents.Output(display_name="sfx_events"),
                io.String.Output(display_name="name"),
            ],
        )

    @classmethod
    def validate_inputs(cls, scenario: str) -> bool | str:
        return check_choice(scenario, list(load_scenarios()), "scenario")

    @classmethod
    def execute(cls, scenario: str, sfx_time_s: float) -> io.NodeOutput:
        item = get_scenario(scenario)
        if item.bgm:
            bgm_wave, bgm_rate = load_audio_file(resolve_name(item.bgm, list_audio_assets("bgm"), "BGM track"),
                                                 name=item.bgm, max_seconds=DEFAULT_MAX_SECONDS)
        else:  # no music: a short silence keeps the graph the same shape (the mixer then adds nothing)
            bgm_wave, bgm_rate = torch.zeros(1, 2400), 24000
        events = []
        if item.sfx:
            sfx_wave, sfx_rate = load_audio_file(resolve_name(item.sfx, list_audio_assets("sfx"), "sound effect"),
                                                 name=item.sfx, max_seconds=DEFAULT_MAX_SECONDS)
            events.append(SfxEvent(sfx_wave, sfx_rate, sfx_time_s, DEFAULT_SFX_GAIN))
        return io.NodeOutput(item.prompt, item.script, item.voice_style, make_audio(bgm_wave, bgm_rate), events, item.name)


SCENARIO_NODES = [ScenarioNode]
