"""Captions from the voice's own timing: words grouped into cues, SRT and WebVTT text, and cues burned onto frames."""
