"""A dialogue script: one line per utterance, `[voice_style] text` (a line without a tag keeps the last speaker),
`[pause 0.8]` on a line of its own for seconds of silence, and a tag alone on a line to set the speaker of the lines
under it. Blank lines are ignored. Parsing checks everything that can be checked without speaking and names the
line and the fix."""
from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from typing import Collection

MAX_SPEAKERS = 8
MAX_PAUSE_S = 10.0
EXAMPLE = "[excited_host] Welcome back to the show!\n[pause 0.8]\n[nervous_morty] Th-thanks for having me."

_LEADING_TAG = re.compile(r"^\[([^\[\]]*)\]\s*")
_PAUSE = re.compile(r"pause(?![A-Za-z_])\s*(.*)", re.IGNORECASE | re.DOTALL)
_ANY_TAG = re.compile(r"\[[^\[\]]*\]")


class ScriptError(ValueError):
    """A script that cannot be spoken; the message names the line, the problem and the fix."""


@dataclass(frozen=True)
class ScriptLine:
    speaker: str      # the voice style that speaks it
    text: str
    line_number: int  # 1-based, in the script as written


@dataclass(frozen=True)
class Pause:
    seconds: float
    line_number: int


@dataclass(frozen=True)
class Script:
    items: tuple[ScriptLine | Pause, ...]

    @property
    def lines(self) -> tuple[ScriptLine, ...]:
        return tuple(item for item in self.items if isinstance(item, ScriptLine))

    @property
    def speakers(self) -> tuple[str, ...]:
        """Every speaker once, in the order they first speak."""
        return tuple(dict.fromkeys(line.speaker for line in self.lines))


def _pause_seconds(argument: str, number: int) -> float:
    value = argument.strip()
    if value.lower().endswith("s"):
        value = value[:-1].strip()
    if not value:
        raise ScriptError(f"line {number}: [pause] needs its length in seconds, e.g. [pause 0.8].")
    try:
        seconds = float(value)
    except ValueError:
        raise ScriptError(f"line {number}: the pause {argument.strip()!r} is not a number of seconds; "
                          "write it like [pause 0.8].") from None
    if not (math.isfinite(seconds) and 0.0 <= seconds <= MAX_PAUSE_S):
        raise ScriptError(f"line {number}: a pause of {argument.strip()} s is outside 0–{MAX_PAUSE_S:g} s; "
                          "use a length in that range (for a longer silence, put several pauses one under the other).")
    return seconds


def _known_speaker(name: str, known: Collection[str], number: int) -> str:
    if name in known:
        return name
    folded = {k.lower(): k for k in known}
    if name.lower() in folded:
        return folded[name.lower()]
    if not name:
        raise ScriptError(f"line {number}: the tag [] is empty; write a voice style in it, e.g. [excited_host].")
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f" Did you mean [{close[0]}]?" if close else ""
    listed = ", ".join(sorted(known)) or "none installed"
    raise ScriptError(f"line {number}: unknown voice style [{name}].{hint} Known styles: {listed} "
                      "(add your own to models/tts/voices).")


def _check_text(text: str, number: int) -> None:
    """Brackets inside the text: a tag that is not at the start of the line, or one left open."""
    tag = _ANY_TAG.search(text)
    if tag is not None:
        raise ScriptError(f"line {number}: the tag {tag.group(0)} is inside the text; a speaker tag starts its line and "
                          "[pause …] stands on a line of its own. Move it, or remove the brackets.")
    if "[" in text:
        raise ScriptError(f"line {number}: a tag is opened with '[' but never closed; close it with ']' "
                          "(e.g. [excited_host]) or remove the '['.")
    if "]" in text:
        raise ScriptError(f"line {number}: a ']' closes no tag; remove it or open the tag with '['.")


def parse_script(text: str, known_styles: Collection[str], default_speaker: str | None = None) -> Script:
    """The script as lines and pauses. `known_styles` are the voice styles a tag may name (matched exactly, else
    case-insensitively); `default_speaker` speaks untagged lines before the first tag (none: they are an error)."""
    if not isinstance(text, str) or not text.strip():
        raise ScriptError(f"the script is empty; write one line per utterance, e.g.\n{EXAMPLE}")
    known = set(known_styles)
    speaker = (default_speaker or "").strip() or None
    if speaker is not None and speaker not in known:
        listed = ", ".join(sorted(known)) or "none installed"
        raise ScriptError(f"the default voice style {speaker!r} is unknown; pick one of {listed}, or start the "
                          "first line with a tag.")
    items: list[ScriptLine | Pause] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        tag = _LEADING_TAG.match(line)
        if tag is None and line.startswith("["):
            raise ScriptError(f"line {number}: the tag {line[:24]!r} is never closed; close it with ']', "
                              "e.g. [excited_host] or [pause 0.8].")
        if tag is not None:
            name, rest = tag.group(1).strip(), line[tag.end():].strip()
            pause = _PAUSE.fullmatch(name)
            if pause is not None:
                if rest:
                    raise ScriptError(f"line {number}: [pause …] stands on a line of its own; move {rest[:30]!r} "
                                      "to the next line.")
                items.append(Pause(_pause_seconds(pause.group(1), number), number))
                continue
            speaker = _known_speaker(name, known, number)
            line = rest
            if not line:  # a tag alone sets the speaker of the lines under it
                continue
        _check_text(line, number)
        if speaker is None:
            raise ScriptError(f"line {number} has no speaker: start it with a voice style tag, e.g. "
                              f"[{min(known) if known else 'excited_host'}] {line[:30]}")
        items.append(ScriptLine(speaker, line, number))
    script = Script(tuple(items))
    if not script.lines:
        raise ScriptError(f"the script has nothing to say (only pauses or tags); add lines of text, e.g.\n{EXAMPLE}")
    if len(script.speakers) > MAX_SPEAKERS:
        raise ScriptError(f"the script has {len(script.speakers)} speakers ({', '.join(script.speakers)}); at most "
                          f"{MAX_SPEAKERS} can speak in one dialogue. Split it into several scripts.")
    return script
