"""AdvancedLivePortrait's `command` rules, written from what its source does (nodes.py, parsing_command and run),
for tests: no ALP code here, only its observable rules.

- The text is split at '\\n'; empty lines are skipped; every other line is `idx=change:keep` with integers (int()
  strips surrounding whitespace); anything else is an assertion error naming the line.
- idx 0 is the source face; idx k ≥ 1 is motion_link[k], the k-th ExpressionEditor of the chain: k must exist.
- Each segment's expression is divided by `change` before use: change 0 raises ZeroDivisionError.
- With animate_without_vid the video has Σ(change + keep) frames.
"""
from __future__ import annotations

from dataclasses import dataclass


class CommandError(AssertionError):
    pass


@dataclass(frozen=True)
class Segment:
    index: int
    change: int
    keep: int


def parse_command(command: str, editors: int) -> list[Segment]:
    segments = []
    for number, line in enumerate(command.split("\n"), start=1):
        if line == "":
            continue
        try:
            target, timing = line.split("=")
            change, keep = timing.split(":")
            segment = Segment(int(target), int(change), int(keep))
        except ValueError as exc:
            raise CommandError(f"(AdvancedLivePortrait) Command Err Line {number}: {line}") from exc
        if not 0 <= segment.index <= editors:
            raise CommandError(f"line {number}: index {segment.index} but the chain has {editors} editors (IndexError)")
        if segment.change == 0:
            raise CommandError(f"line {number}: change 0 (ZeroDivisionError in ExpressionSet.div)")
        if segment.change < 0 or segment.keep < 0:
            raise CommandError(f"line {number}: negative frame counts never finish the segment")
        segments.append(segment)
    return segments


def video_frames(segments: list[Segment]) -> int:
    return sum(s.change + s.keep for s in segments)


def frame_targets(segments: list[Segment]) -> list[int]:
    """The expression index each video frame moves toward (ALP eases linearly over `change` frames)."""
    return [s.index for s in segments for _ in range(s.change + s.keep)]
