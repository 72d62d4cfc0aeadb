"""Script text → sentence-sized chunks that fit an engine's input budget."""
from __future__ import annotations

import re
import unicodedata

MAX_TEXT_CHARS = 20_000
# Symbols outside ASCII that the English readers say as words ("degrees", "euros", "times" …).
SPOKEN_SYMBOLS = frozenset("€£¢°©®™×÷±½¼¾¹²³§¶•→←")


class TextInputError(ValueError):
    """Text a speech node cannot speak; the message says what to change."""


def clean_text(text: str, max_chars: int = MAX_TEXT_CHARS) -> str:
    if not isinstance(text, str):
        raise TextInputError(f"text must be a string, got {type(text).__name__}.")
    text = re.sub(r"\s+", " ", text.replace("\x00", " ")).strip()
    if not re.search(r"\w", text):
        raise TextInputError("text is empty: type what the character should say.")
    if len(text) > max_chars:
        raise TextInputError(
            f"text has {len(text)} characters; one node speaks at most {max_chars}. "
            "Split the script over several speech nodes and join them with AudioConcat."
        )
    return text


def unspeakable_characters(text: str, allow_han: bool = False) -> list[str]:
    """The characters of `text` an English voice cannot read, in order of appearance: letters of other scripts,
    digits other than 0–9, emoji and other pictographs, control characters and symbols without an English word.
    (Han characters are allowed with `allow_han`: F5-TTS v1 speaks Chinese.)"""
    bad: list[str] = []
    for ch in dict.fromkeys(text):
        if ch.isspace() or (ch.isascii() and ch.isprintable()) or ch in SPOKEN_SYMBOLS:
            continue
        category, name = unicodedata.category(ch), unicodedata.name(ch, "")
        if category.startswith("L") and (name.startswith("LATIN") or (allow_han and name.startswith("CJK UNIFIED"))):
            continue
        if category.startswith(("P", "Z")) or category == "Mn" and "COMBINING" in name:
            continue
        bad.append(ch)
    return bad


def check_speakable(text: str, allow_han: bool = False, who: str = "ToonGen's offline voices") -> str:
    """`text`, or a TextInputError naming the characters the voice cannot read (it would spell them out as "Japanese
    letter …" or guess a word for an emoji) and the fix."""
    bad = unspeakable_characters(text, allow_han)
    if not bad:
        return text
    shown = ", ".join(f"{ch!r} ({unicodedata.name(ch, f'U+{ord(ch):04X}')})" for ch in bad[:8])
    more = f" and {len(bad) - 8} more" if len(bad) > 8 else ""
    languages = "English (and Chinese)" if allow_han else "English"
    raise TextInputError(
        f"{who} speak {languages} and cannot read {shown}{more}. Write those words in English letters (for example "
        "romaji or pinyin) or spell out what an emoji means, or remove them.")


_SENTENCE_END = re.compile(r"(?<=[.!?…;:])\s+|(?<=[。！？])")
_CLAUSE_END = re.compile(r"(?<=[,—–])\s+")


def _split_long(piece: str, max_chars: int) -> list[str]:
    """A sentence over the budget: split at commas, then at spaces, then hard."""
    if len(piece) <= max_chars:
        return [piece]
    for pattern in (_CLAUSE_END, re.compile(r"\s+")):
        parts = [p for p in pattern.split(piece) if p]
        if len(parts) > 1:
            return pack(parts, max_chars)
    return [piece[i:i + max_chars] for i in range(0, len(piece), max_chars)]


def pack(parts: list[str], max_chars: int) -> list[str]:
    """Greedily join consecutive parts with spaces while the result stays within max_chars."""
    chunks: list[str] = []
    current = ""
    for part in parts:
        for piece in _split_long(part, max_chars):
            if current and len(current) + 1 + len(piece) > max_chars:
                chunks.append(current)
                current = piece
            else:
                current = f"{current} {piece}" if current else piece
    if current:
        chunks.append(current)
    return chunks


def chunk_text(text: str, max_chars: int) -> list[str]:
    """Sentences packed into chunks of at most max_chars characters (a sentence is split only when it must be)."""
    sentences = [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]
    return pack(sentences, max_chars)
