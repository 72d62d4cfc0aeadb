"""The scenario library (assets/scenarios.json): 25 short clips, each a visual prompt, a script, a voice style,
background music and an optional sound effect."""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

from .assets import ASSETS_DIR, UnknownAssetError

SCENARIOS_FILE = ASSETS_DIR / "scenarios.json"


@dataclass(frozen=True)
class Scenario:
    id: str
    name: str
    prompt: str
    script: str
    voice_style: str
    bgm: str | None
    sfx: str | None


@lru_cache(maxsize=1)
def load_scenarios() -> dict[str, Scenario]:
    data = json.loads(SCENARIOS_FILE.read_text(encoding="utf-8"))
    return {item["id"]: Scenario(**{k: item.get(k) for k in Scenario.__dataclass_fields__}) for item in data["scenarios"]}


def get_scenario(scenario_id: str) -> Scenario:
    scenarios = load_scenarios()
    if scenario_id not in scenarios:
        raise UnknownAssetError(f"unknown scenario {scenario_id!r}. Known scenarios: {', '.join(scenarios)}.")
    return scenarios[scenario_id]
