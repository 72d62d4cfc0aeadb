"""The AUDIO value and what the mixing nodes do to it: file I/O, DSP, mixing with ducking, loudness, frame counts."""
