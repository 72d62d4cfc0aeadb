"""Phoneme timing for speech that came without it (F5-TTS clones, recordings, LoadAudio), from the audio and its text.

The text is spoken again by guide voices whose timing is known (the embedded Kokoro, a woman's and a man's voice:
its duration predictor says when each phoneme is). Each guide and the target become speaker-normalised spectral
features (log-mel bands with their mean removed over the clip's speech, plus a level channel); dynamic time warping
finds the path that lines the guide up with the target — with a penalty on every step that stretches time, so one
odd vowel cannot drag its neighbours along — and every guide boundary is carried along that path onto the target.
The guides' boundaries are averaged (weighted by each one's confidence): two different voices err differently.

Confidence: the target is also warped onto each guide cut into half-second blocks and shuffled (the same voice
and sounds, the wrong order — what text that does not match looks like). The real path's cost sits between the
best order-free match (each frame's nearest frame) and that wrong-order cost; where it sits is the confidence,
1 = as good as order-free, 0 = no better than the wrong order, averaged over the guides. The benchmark
(tests/benchmarks/bench_mouth.py) prints it for matching and for wrong text; MIN_CONFIDENCE sits between the two.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..speech.timing import Span, SpeechTiming, Utterance

FEATURE_RATE = 16_000
HOP_S = 0.01
MIN_CONFIDENCE = 0.45         # below this the node falls back to the loudness mode
SILENCE_DB = -40.0            # frames this far under the loudest are silence when finding where speech starts/ends
MAX_CELLS = 12_000_000        # the largest cost matrix warped in one piece (≈ 35 s × 35 s at 10 ms); longer → blocks
BLOCK_FRAMES = 1500           # target frames per block when a long clip is warped piecewise
MIN_PAUSE_FRAMES = 16         # a quiet stretch this long (160 ms) or longer is a pause, squeezed to 3 frames
NULL_BLOCK_FRAMES = 50        # the confidence's null: the guide cut into 0.5 s blocks, shuffled …
NULL_SHUFFLES = 2             # … this many times
GUIDE_VOICES = ("jf_alpha", "jm_kumo")  # the embedded Kokoro voices that speak the text as guides
GUIDE_SPEED = 1.0

Guide = Callable[[str], Utterance]  # text → the guide voice's speech, with timing


@dataclass(frozen=True)
class AlignerSettings:
    features: str = "logmel"      # "logmel" or "mfcc"
    metric: str = "cosine"        # "cosine" or "euclidean"
    step_penalty: float = 0.8     # added to every warp step that is not diagonal (in cost units)


@dataclass(frozen=True)
class Alignment:
    timing: SpeechTiming | None
    confidence: float
    reason: str = ""

    @property
    def usable(self) -> bool:
        return self.timing is not None and self.confidence >= MIN_CONFIDENCE


def features(samples: np.ndarray, rate: int, kind: str = "logmel") -> np.ndarray:
    """[frames, dims] every HOP_S seconds; the last column is the level (0 = silence … 2 = loudest)."""
    import librosa

    y = np.asarray(samples, dtype=np.float32).reshape(-1)
    if rate != FEATURE_RATE:
        y = librosa.resample(y, orig_sr=rate, target_sr=FEATURE_RATE, res_type="soxr_hq")
    hop = int(FEATURE_RATE * HOP_S)
    mel = librosa.feature.melspectrogram(y=y, sr=FEATURE_RATE, n_fft=512, win_length=400, hop_length=hop,
                                         n_mels=40, fmin=60.0, fmax=7600.0)
    log_mel = librosa.power_to_db(mel, ref=max(float(mel.max()), 1e-20), top_db=80.0)
    level = log_mel.max(axis=0)
    if kind == "mfcc":
        spectral = librosa.feature.mfcc(S=log_mel, n_mfcc=13)[1:]  # no energy term
    elif kind == "logmel":
        spectral = log_mel
    else:
        raise ValueError(f"unknown aligner features {kind!r}: logmel or mfcc")
    speech = level > SILENCE_DB
    frames = spectral[:, speech] if speech.sum() >= 3 else spectral
    # Remove each band's mean (the channel: microphone, EQ, radio band) and scale by the geometric mean of the
    # band's and the whole spectrum's spread, so that bands holding only noise are not blown up to full weight.
    spread = np.sqrt((frames.std(axis=1, keepdims=True) + 1e-6) * (frames.std() + 1e-6))
    spectral = (spectral - frames.mean(axis=1, keepdims=True)) / spread
    if kind == "mfcc" and spectral.shape[1] >= 9:
        spectral = np.concatenate([spectral, librosa.feature.delta(spectral, width=9, mode="nearest")])
    loud = np.clip(level / 20.0 + 2.0, 0.0, 2.0)[None]
    return np.concatenate([spectral, loud * (3.0 if kind == "logmel" else 1.0)]).T.astype(np.float64)


def speech_extent(feats: np.ndarray) -> tuple[int, int]:
    """First and last frame (exclusive) with speech in it, from the level column."""
    active = np.flatnonzero(feats[:, -1] > 0.0)
    return (int(active[0]), int(active[-1]) + 1) if active.size else (0, 0)


def _cost(a: np.ndarray, b: np.ndarray, metric: str) -> np.ndarray:
    """Pairwise frame distances [len(a), len(b)]."""
    if metric == "cosine":
        unit_a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
        unit_b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
        return 1.0 - unit_a @ unit_b.T
    if metric == "euclidean":
        squared = (a * a).sum(axis=1)[:, None] + (b * b).sum(axis=1)[None, :] - 2.0 * a @ b.T
        return np.sqrt(np.maximum(squared, 0.0))
    raise ValueError(f"unknown aligner metric {metric!r}: cosine or euclidean")


def _dtw(cost: np.ndarray, penalty: float) -> np.ndarray:
    import librosa

    _, path = librosa.sequence.dtw(C=cost, step_sizes_sigma=np.array([[1, 1], [0, 1], [1, 0]]),
                                   weights_add=np.array([0.0, penalty, penalty]),
                                   weights_mul=np.array([1.0, 1.0, 1.0]), backtrack=True)
    return path[::-1]


def warp_path(a: np.ndarray, b: np.ndarray, settings: AlignerSettings) -> np.ndarray:
    """Monotonic path [(i, j)] from (0, 0) to (len(a)−1, len(b)−1). Long clips: a coarse warp of pooled frames
    places anchors, then each block between anchors is warped at full resolution."""
    if len(a) * len(b) <= MAX_CELLS:
        return _dtw(_cost(a, b, settings.metric), settings.step_penalty)
    factor = int(np.ceil(np.sqrt(len(a) * len(b) / MAX_CELLS)))

    def pool(x: np.ndarray) -> np.ndarray:
        usable = len(x) // factor * factor
        pooled = x[:usable].reshape(-1, factor, x.shape[1]).mean(axis=1)
        return pooled if usable == len(x) else np.vstack([pooled, x[usable:].mean(axis=0, keepdims=True)])

    coarse = _dtw(_cost(pool(a), pool(b), settings.metric), settings.step_penalty)
    anchors = [(0, 0)]
    step = max(1, BLOCK_FRAMES // factor)
    for i, j in coarse[step::step]:
        i, j = min(i * factor, len(a) - 1), min(j * factor, len(b) - 1)
        if i > anchors[-1][0] and j > anchors[-1][1] and i < len(a) - 1 and j < len(b) - 1:
            anchors.append((int(i), int(j)))
    anchors.append((len(a) - 1, len(b) - 1))
    pieces = []
    for (i0, j0), (i1, j1) in zip(anchors, anchors[1:]):
        piece = _dtw(_cost(a[i0:i1 + 1], b[j0:j1 + 1], settings.metric), settings.step_penalty) + (i0, j0)
        pieces.append(piece if not pieces else piece[1:])
    return np.vstack(pieces)


def compress_pauses(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every speech frame, and of each pause longer than MIN_PAUSE_FRAMES only its first, middle and last frame
    → (kept frames, their indices). Speakers pause for very different lengths (a comma can be 0 or 300 ms): with the
    pauses squeezed, the warp need not pay for stretching time across them."""
    quiet = feats[:, -1] <= 0.0
    keep = np.ones(len(feats), dtype=bool)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], quiet.astype(np.int8), [0]])))
    for start, end in zip(edges[::2], edges[1::2]):
        if end - start >= MIN_PAUSE_FRAMES:
            keep[start:end] = False
            keep[[start, (start + end - 1) // 2, end - 1]] = True
    index = np.flatnonzero(keep)
    return feats[index], index


def warp_times(path: np.ndarray, times: np.ndarray, guide_start: int, target_start: int,
               guide_index: np.ndarray | None = None, target_index: np.ndarray | None = None) -> np.ndarray:
    """Guide times (s) → target times (s) along `path`: pairs of positions in the guide's and target's kept frames
    (`guide_index`/`target_index`: which frames of the trimmed clips, which begin at frames `guide_start` and
    `target_start`, were kept; all when None). Each guide position maps to the mean target position the path pairs
    it with, linearly interpolated; times outside the aligned speech keep their distance from its edge. The result
    never runs backwards."""
    n = int(path[:, 0].max()) + 1
    m = int(path[:, 1].max()) + 1
    guide_index = np.arange(n) if guide_index is None else guide_index
    target_index = np.arange(m) if target_index is None else target_index
    sums = np.bincount(path[:, 0], weights=path[:, 1], minlength=n)
    counts = np.bincount(path[:, 0], minlength=n)
    mapped = sums / np.maximum(counts, 1)
    frame = np.asarray(times, dtype=np.float64) / HOP_S - guide_start   # in the trimmed guide's frames
    position = np.interp(frame, guide_index, np.arange(n))             # in the guide's kept frames
    target = np.interp(np.interp(position, np.arange(n), mapped), np.arange(m), target_index)
    before = target_index[0] + (frame - guide_index[0])                 # leading silence: same distance
    after = target_index[-1] + (frame - guide_index[-1])                # trailing silence
    frames = np.where(frame < guide_index[0], before, np.where(frame > guide_index[-1], after, target))
    return np.maximum.accumulate((frames + target_start) * HOP_S)


def _path_cost(cost: np.ndarray, path: np.ndarray) -> float:
    return float(cost[path[:, 0], path[:, 1]].mean())


def confidence_of(a: np.ndarray, b: np.ndarray, path: np.ndarray, settings: AlignerSettings) -> float:
    """Where the path's mean cost lies between the order-free best match (1) and the cost of warping the guide with
    its half-second blocks shuffled — the same voice saying the same sounds in another order, which is what text
    that does not match looks like (0)."""
    stride = max(1, int(np.ceil(np.sqrt(len(a) * len(b) / MAX_CELLS))))
    a_s, b_s = a[::stride], b[::stride]
    cost = _cost(a_s, b_s, settings.metric)
    order_free = 0.5 * (cost.min(axis=0).mean() + cost.min(axis=1).mean())
    matched = _path_cost(cost, np.unique(path // stride, axis=0).clip(max=[len(a_s) - 1, len(b_s) - 1]))
    block = max(1, NULL_BLOCK_FRAMES // stride)
    blocks = [a_s[k:k + block] for k in range(0, len(a_s), block)]
    rng = np.random.default_rng(0)
    shuffled_costs = []
    for _ in range(NULL_SHUFFLES):
        shuffled = _cost(np.vstack([blocks[k] for k in rng.permutation(len(blocks))]), b_s, settings.metric)
        shuffled_costs.append(_path_cost(shuffled, _dtw(shuffled, settings.step_penalty)))
    null = float(np.mean(shuffled_costs))
    if null - order_free <= 1e-9:
        return 0.0
    return float(np.clip((null - matched) / (null - order_free), 0.0, 1.0))


@dataclass(frozen=True)
class _Warp:
    starts: np.ndarray
    ends: np.ndarray
    word_starts: np.ndarray
    word_ends: np.ndarray
    confidence: float


def _warp_onto(target_feats: np.ndarray, spoken: Utterance, settings: AlignerSettings) -> _Warp | str:
    """One guide's timing carried onto the target (times in the target's seconds), or why it cannot be."""
    guide_feats = features(spoken.samples.numpy(), spoken.sample_rate, settings.features)
    g0, g1 = speech_extent(guide_feats)
    t0, t1 = speech_extent(target_feats)
    if t1 - t0 < 5 or g1 - g0 < 5:
        return "the audio has (almost) no speech in it"
    ratio = (t1 - t0) / (g1 - g0)
    if not 0.4 <= ratio <= 2.5:
        return f"the audio's speech lasts {ratio:.2f}× as long as the text takes to say"
    (a, guide_index), (b, target_index) = compress_pauses(guide_feats[g0:g1]), compress_pauses(target_feats[t0:t1])
    path = warp_path(a, b, settings)
    timing = spoken.timing

    def moved(times: list[float]) -> np.ndarray:
        return warp_times(path, np.array(times, dtype=np.float64), g0, t0, guide_index, target_index)

    return _Warp(moved([s.start for s in timing.phonemes]), moved([s.end for s in timing.phonemes]),
                 moved([w.start for w in timing.words]), moved([w.end for w in timing.words]),
                 confidence_of(a, b, path, settings))


def align(samples: np.ndarray, rate: int, text: str, guides: Guide | Sequence[Guide],
          settings: AlignerSettings = AlignerSettings()) -> Alignment:
    """Carry the guide voices' phoneme timing onto `samples` (mono) that say `text`. Never raises for text or audio
    that do not fit: the Alignment then has confidence 0 and the reason."""
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    duration = samples.shape[0] / rate
    guides = [guides] if callable(guides) else list(guides)
    if not text or not text.strip():
        return Alignment(None, 0.0, "no text was given")
    if samples.size == 0 or not np.isfinite(samples).all():
        return Alignment(None, 0.0, "the audio is empty or has NaN/Inf samples")
    if float(np.abs(samples).max()) < 1e-6:
        return Alignment(None, 0.0, "the audio is silent")
    target_feats = features(samples, rate, settings.features)
    warps, reference = [], None
    for guide in guides:
        try:
            spoken = guide(text)
        except Exception as exc:  # text the guide cannot speak (another language, symbols only)
            return Alignment(None, 0.0, f"the guide voice cannot speak this text ({type(exc).__name__}: {exc})")
        if spoken.timing is None or not spoken.timing.phonemes or spoken.samples.numel() == 0:
            return Alignment(None, 0.0, "the text has nothing the guide voice can speak")
        if reference is None:
            reference = spoken.timing
        elif [s.label for s in spoken.timing.phonemes] != [s.label for s in reference.phonemes]:
            continue  # a guide that read the text differently cannot be averaged with the first
        warp = _warp_onto(target_feats, spoken, settings)
        if isinstance(warp, str):
            return Alignment(None, 0.0, warp)
        warps.append(warp)
    if not warps:
        return Alignment(None, 0.0, "no guide voice was given")
    weights = np.array([max(w.confidence, 1e-3) for w in warps])
    confidence = float(np.mean([w.confidence for w in warps]))

    def mean_of(field: str) -> np.ndarray:
        return np.clip(sum(wt * getattr(w, field) for wt, w in zip(weights, warps)) / weights.sum(), 0.0, duration)

    starts, ends = mean_of("starts"), np.maximum(mean_of("ends"), mean_of("starts"))
    word_starts, word_ends = mean_of("word_starts"), np.maximum(mean_of("word_ends"), mean_of("word_starts"))
    timing = SpeechTiming(
        tuple(Span(s.label, float(a), float(b)) for s, a, b in zip(reference.phonemes, starts, ends)),
        tuple(Span(w.label, float(a), float(b)) for w, a, b in zip(reference.words, word_starts, word_ends)),
        duration, "aligner")
    reason = "" if confidence >= MIN_CONFIDENCE else (
        f"the audio does not sound like the text (alignment confidence {confidence:.2f} < {MIN_CONFIDENCE})")
    return Alignment(timing, confidence, reason)
