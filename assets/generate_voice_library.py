"""Renders ToonGen's ten voice-style reference clips from their recipes:
assets/voices/{style}.recipe.json → {style}.wav + {style}.txt.

    python assets/generate_voice_library.py [STYLE …]  (in the test environment: bash tests/bootstrap.sh, then
                                                         its bin/python; no STYLE: all ten)

Nobody was recorded: each line below was written by us and spoken offline by the pack's own voices exactly as
`Speak` speaks a style when F5-TTS cannot run (nodes/voices/offline.py `speak_recipe`: the recipe's voice or blend,
speed, pitch, formants, effect, loudness). The embedded Kokoro runs as the int8 weights it installs as, so the
same inputs give the same files on every machine. Numbers in the lines are written as words, as they are spoken
(F5-TTS reads the transcript as it is).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VOICES = REPO / "assets" / "voices"

LINES = {
    "manic_salesman": "Folks, this deal is so good it's practically illegal! Call now, operators are screaming, and "
                      "every third caller gets a second free blender!",
    "nervous_morty": "Oh man, oh man, I don't know about this. This seems really, really dangerous, you know? Can we "
                     "just go home now?",
    "monotone_bot": "Greetings, human. Your satisfaction has been calculated at forty seven percent. Please remain "
                    "calm.",
    "whispering_creep": "Don't turn around. I've been watching your garden grow for three days now, and it is "
                        "beautiful.",
    "excited_host": "Welcome back to the show! Our next contestant has one minute to name every kind of cheese in "
                    "the universe! Let's go!",
    "deadpan_narrator": "The common office worker rarely leaves its cubicle. Here, one attempts to microwave fish.",
    "angry_chef": "What is this? This soup is raw! It's a liquid, and it's still raw! Get out of my kitchen, right "
                  "now!",
    "surfer_dude": "Dude, the waves in this dimension are like, totally made of jelly. Gnarly, but super sticky, man.",
    "old_timey": "Good evening, ladies and gentlemen, and welcome to the radio hour, brought to you by Doctor "
                 "Wiggles' Miracle Tonic!",
    "alien_visitor": "Greetings, Earth citizen. I have come to purchase one of your famous hot dogs. Tell me, is the "
                     "dog actually hot?",
}


def main() -> None:
    os.environ["TOONGEN_KOKORO_VARIANT"] = "int8"  # the weights as installed: the same files everywhere
    sys.path.insert(0, str(REPO / "tests" / "support"))
    from pack_loader import load_pack

    load_pack()
    from toongen.nodes.audio.files import save_wav_pcm16
    from toongen.nodes.voices.offline import speak_recipe
    from toongen.nodes.voices.recipes import load_recipe

    wanted = sys.argv[1:] or list(LINES)
    unknown = sorted(set(wanted) - set(LINES))
    if unknown:
        raise SystemExit(f"unknown style {', '.join(unknown)}; styles: {', '.join(LINES)}")
    for style in wanted:
        line = LINES[style]
        recipe = load_recipe(VOICES / f"{style}.recipe.json")
        speech = speak_recipe(line, recipe, kokoro_folder=VOICES / "no-kokoro-weights")
        if not 5.0 <= speech.seconds <= 10.0:
            raise SystemExit(f"{style}: {speech.seconds:.1f} s is outside 5–10 s; shorten or lengthen its line")
        save_wav_pcm16(VOICES / f"{style}.wav", speech.samples.unsqueeze(0), speech.sample_rate)
        (VOICES / f"{style}.txt").write_text(line + "\n", encoding="utf-8")
        print(f"{style}: {speech.seconds:.1f} s — {recipe.describe()}")


if __name__ == "__main__":
    main()
