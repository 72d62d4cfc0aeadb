"""An independent ITU-R BS.1770-4 integrated-loudness meter for the tests, written from the standard's text:
its published 48 kHz K-weighting coefficients (input resampled to 48 kHz with scipy's polyphase resampler),
400 ms blocks with 75 % overlap, the -70 LUFS absolute gate and the -10 LU relative gate. It shares no code with
the pack's own meter (nodes/audio/loudness.py), which designs its K-weighting per sample rate instead."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from scipy.signal import lfilter, resample_poly

SHELF_B = [1.53512485958697, -2.69169618940638, 1.19839281085285]
SHELF_A = [1.0, -1.69065929318241, 0.73248077421585]
HIGHPASS_B = [1.0, -2.0, 1.0]
HIGHPASS_A = [1.0, -1.99004745483398, 0.99007225036621]


def integrated_lufs(waveform, sample_rate: int) -> float:
    """waveform: [channels, samples] (torch or numpy); channels weighted 1.0 (mono/stereo)."""
    x = np.asarray(waveform, dtype=np.float64)
    if sample_rate != 48000:
        ratio = Fraction(48000, sample_rate)
        x = resample_poly(x, ratio.numerator, ratio.denominator, axis=-1)
    x = lfilter(HIGHPASS_B, HIGHPASS_A, lfilter(SHELF_B, SHELF_A, x, axis=-1), axis=-1)
    block, step = 19200, 4800  # 400 ms, 100 ms at 48 kHz
    starts = range(0, x.shape[-1] - block + 1, step)
    power = np.array([np.mean(x[:, s:s + block] ** 2, axis=-1).sum() for s in starts])
    loudness = -0.691 + 10 * np.log10(np.maximum(power, 1e-20))
    above_absolute = power[loudness > -70.0]
    if above_absolute.size == 0:
        return -math.inf
    relative_gate = -0.691 + 10 * math.log10(above_absolute.mean()) - 10.0
    gated = power[(loudness > -70.0) & (loudness > relative_gate)]
    return -0.691 + 10 * math.log10(gated.mean())
