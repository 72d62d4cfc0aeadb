"""The scenario library (assets/scenarios.json): 25 short clips, each a visual prompt, a script, a voice style,
background music and an optional sound effect, and dialogue variants of some of them: a script of `[voice_style]`
lines for Script / Dialogue, with the speakers it names. Every scenario is checked when the library loads, each
error naming the scenario."""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Collection

from ..speech.script import ScriptError, parse_script
from ..voices.library import VOICE_STYLES
from .assets import ASSETS_DIR, UnknownAssetError

SCENARIOS_FILE = ASSETS_DIR / "scenarios.json"
REQUIRED = ("id", "name", "prompt", "script", "voice_style")


class ScenarioError(ValueError):
    """A scenario of the library that cannot be used; the message names the scenario and the fix."""


@dataclass(frozen=True)
class Scenario:
    id: str
    name: str
    prompt: str
    script: str
    voice_style: str              # a dialogue: its first speaker
    bgm: str | None
    sfx: str | None
    speakers: tuple[str, ...] = ()  # a dialogue's speakers, in the order they first speak; () for one voice
    variant_of: str | None = None   # the scenario a dialogue variant retells

    @property
    def is_dialogue(self) -> bool:
        """The script is `[voice_style]` lines for Script / Dialogue; Speak would read its tags aloud."""
        return bool(self.speakers)


def _scenario(item: dict, known_styles: Collection[str]) -> Scenario:
    sid = item.get("id")
    where = f"scenario {sid!r}"
    missing = [key for key in REQUIRED if not isinstance(item.get(key), str) or not item[key].strip()]
    if missing:
        raise ScenarioError(f"{where}: {', '.join(missing)} missing or empty")
    if item["voice_style"] not in known_styles:
        raise ScenarioError(f"{where}: unknown voice style {item['voice_style']!r}; known: "
                            f"{', '.join(sorted(known_styles))}")
    listed = item.get("speakers")
    tagged = any(line.strip().startswith("[") for line in item["script"].splitlines())
    if listed is not None and not tagged:
        raise ScenarioError(f"{where}: it lists speakers {listed!r} but its script has no [voice_style] tags; tag "
                            "each speaker's lines, or leave out \"speakers\" for a one-voice scenario")
    try:  # a plain script is spoken by its voice style; a tag in it makes it a dialogue
        parsed = parse_script(item["script"], known_styles, default_speaker=None if tagged else item["voice_style"])
    except ScriptError as exc:
        raise ScenarioError(f"{where}: its script cannot be spoken: {exc}") from None
    if not tagged:
        return Scenario(sid, item["name"], item["prompt"], item["script"], item["voice_style"], item.get("bgm"),
                        item.get("sfx"), (), item.get("variant_of"))
    if len(parsed.speakers) < 2:
        raise ScenarioError(f"{where}: a dialogue needs two speakers or more; its script has {list(parsed.speakers)}. "
                            "Tag the lines of a second voice style, or write a plain script without tags.")
    if listed is None or list(listed) != list(parsed.speakers):
        raise ScenarioError(f"{where}: its script is a dialogue of {list(parsed.speakers)}; list them as \"speakers\" "
                            f"(in the order they first speak), not {listed!r}")
    if item["voice_style"] != parsed.speakers[0]:
        raise ScenarioError(f"{where}: voice_style must be the dialogue's first speaker, {parsed.speakers[0]!r}")
    return Scenario(sid, item["name"], item["prompt"], item["script"], item["voice_style"], item.get("bgm"),
                    item.get("sfx"), parsed.speakers, item.get("variant_of"))


def parse_library(data: dict, known_styles: Collection[str] = tuple(VOICE_STYLES)) -> dict[str, Scenario]:
    """The library's scenarios by id, in file order; a bad one is refused with a ScenarioError naming it: a missing
    field, an unknown voice style, a script that does not parse, a dialogue with one speaker or with `speakers`
    that are not its script's, a repeated id, a variant of a scenario that is not in the library."""
    scenarios: dict[str, Scenario] = {}
    for item in data.get("scenarios", []):
        scenario = _scenario(item, known_styles)
        if scenario.id in scenarios:
            raise ScenarioError(f"scenario {scenario.id!r} is in the library twice; give the second one another id")
        scenarios[scenario.id] = scenario
    for scenario in scenarios.values():
        if scenario.variant_of is not None and scenario.variant_of not in scenarios:
            raise ScenarioError(f"scenario {scenario.id!r}: variant_of names {scenario.variant_of!r}, which is not in "
                                "the library")
    if not scenarios:
        raise ScenarioError("the scenario library is empty")
    return scenarios


def read_library(path: Path = SCENARIOS_FILE) -> dict[str, Scenario]:
    try:
        return parse_library(json.loads(path.read_text(encoding="utf-8")))
    except ScenarioError as exc:
        raise ScenarioError(f"{path.name}: {exc}") from None


@lru_cache(maxsize=1)
def load_scenarios() -> dict[str, Scenario]:
    return read_library(SCENARIOS_FILE)


def get_scenario(scenario_id: str) -> Scenario:
    scenarios = load_scenarios()
    if scenario_id not in scenarios:
        raise UnknownAssetError(f"unknown scenario {scenario_id!r}. Known scenarios: {', '.join(scenarios)}.")
    return scenarios[scenario_id]
