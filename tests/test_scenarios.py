"""The scenario library: the 25 one-voice scenarios of the seed plan, unchanged, and their dialogue variants (new ids,
a script of [voice_style] lines for Script / Dialogue), every scenario checked when the library loads, a bad one
refused with an error that names it."""
from __future__ import annotations

import copy
import json

import pytest

from ..nodes.library.scenarios import SCENARIOS_FILE, ScenarioError, load_scenarios, parse_library, read_library
from ..nodes.speech.script import MAX_PAUSE_S, Pause, parse_script
from ..nodes.voices.library import VOICE_STYLES

DATA = json.loads(SCENARIOS_FILE.read_text(encoding="utf-8"))


def variant(**changes) -> dict:
    """The library with a dialogue variant of fake_doors added, changed as given."""
    data = copy.deepcopy(DATA)
    item = {"id": "bad_dialogue", "name": "Bad", "prompt": "two characters", "variant_of": "fake_doors",
            "script": "[excited_host] Welcome!\n[nervous_morty] Hi.", "voice_style": "excited_host",
            "speakers": ["excited_host", "nervous_morty"], "bgm": None, "sfx": None}
    item.update(changes)
    data["scenarios"].append(item)
    return data


def test_the_library_is_the_25_scenarios_and_at_least_five_dialogue_variants():
    library = load_scenarios()
    assert list(library) == [item["id"] for item in DATA["scenarios"]] and len(set(library)) == len(library)
    plain = [s for s in library.values() if not s.is_dialogue]
    variants = [s for s in library.values() if s.is_dialogue]
    assert len(plain) == 25 and len(variants) >= 5
    assert list(library)[:25] == [s.id for s in plain]  # the originals first, in their order
    for s in variants:
        assert s.id.endswith("_dialogue") and s.variant_of in {p.id for p in plain}
        original = library[s.variant_of]
        assert (s.bgm, s.sfx) == (original.bgm, original.sfx)  # the same clip's sound, two characters


def test_each_variant_parses_into_two_distinct_known_speakers_and_short_lines():
    for s in load_scenarios().values():
        if not s.is_dialogue:
            assert "[" not in s.script and s.speakers == ()
            assert parse_script(s.script, VOICE_STYLES, default_speaker=s.voice_style).speakers == (s.voice_style,)
            continue
        script = parse_script(s.script, VOICE_STYLES)
        assert len(set(script.speakers)) >= 2 and set(script.speakers) <= set(VOICE_STYLES), s.id
        assert s.speakers == script.speakers and s.voice_style == script.speakers[0], s.id
        assert 2 <= len(script.lines) <= 4, s.id  # short enough to speak quickly on a CPU
        words = sum(len(line.text.split()) for line in script.lines)
        assert words <= 20, (s.id, words)  # about 6 s of speech
        pauses = [item.seconds for item in script.items if isinstance(item, Pause)]
        assert all(0 < p <= MAX_PAUSE_S for p in pauses), s.id


def test_a_good_variant_loads():
    library = parse_library(variant())
    assert library["bad_dialogue"].speakers == ("excited_host", "nervous_morty")
    assert library["bad_dialogue"].is_dialogue and library["bad_dialogue"].voice_style == "excited_host"


@pytest.mark.parametrize("changes, message", [
    ({"script": "[excited_host] Welcome!\n[singing_toaster] Hi."}, "unknown voice style [singing_toaster]"),
    ({"script": "[excited_host Welcome!\n[nervous_morty] Hi."}, "never closed"),
    ({"script": "[excited_host] Welcome!\n[nervous_morty] Hi [there."}, "never closed"),
    ({"script": "[excited_host] Welcome!\n[pause 12]\n[nervous_morty] Hi."}, "outside 0–10 s"),
    ({"script": "[excited_host] Welcome!\nStill me."}, "two speakers or more"),
    ({"speakers": ["nervous_morty", "excited_host"]}, "list them as \"speakers\""),
    ({"speakers": None}, "list them as \"speakers\""),
    ({"voice_style": "nervous_morty"}, "voice_style must be the dialogue's first speaker"),
    ({"voice_style": "singing_toaster"}, "unknown voice style 'singing_toaster'"),
    ({"script": "Welcome! Hi."}, "no [voice_style] tags"),
    ({"id": "fake_doors"}, "in the library twice"),
    ({"variant_of": "no_such_scenario"}, "not in the library"),
    ({"prompt": ""}, "prompt missing or empty"),
])
def test_a_bad_variant_is_refused_at_load_naming_the_scenario(changes, message):
    data = variant(**changes)
    with pytest.raises(ScenarioError) as refused:
        parse_library(data)
    assert f"scenario {data['scenarios'][-1]['id']!r}" in str(refused.value) and message in str(refused.value)


def test_a_bad_library_file_is_refused_naming_the_file_and_the_scenario(tmp_path):
    path = tmp_path / "scenarios.json"
    path.write_text(json.dumps(variant(script="[excited_host] Welcome!\n[excited_hots] Hi.")))
    with pytest.raises(ScenarioError, match=r"scenarios.json: scenario 'bad_dialogue'.*Did you mean \[excited_host\]"):
        read_library(path)


def test_a_one_voice_scenario_with_brackets_in_its_script_is_refused():
    data = copy.deepcopy(DATA)
    data["scenarios"][0]["script"] = "I'm Ants in My Eyes [Johnson]!"
    with pytest.raises(ScenarioError, match="scenario 'ants_in_eyes'.*inside the text"):
        parse_library(data)
