"""Benchmark (printed figures, not a test): a voice mixed with looped BGM, ducking and 3 SFX, then loudness-
normalized to -16 LUFS / -1 dBTP — ToonGen's functions vs the plan's ffmpeg `amix` subprocess vs a pydub overlay
pipeline, on the same input files, in one run (rounds interleaved, medians). Then ToonGen alone at 10 s, 30 s,
120 s and 600 s (ms per audio second: the cost should grow linearly) with the process's peak RSS. The last line is
`ratio: pydub/ours=<x> ffmpeg/ours=<y>` from the 30 s table.

    bash tests/run.sh bench          (needs ffmpeg on PATH: apt-get install ffmpeg)
"""
from __future__ import annotations

import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TABLE_SECONDS = 30
SWEEP_SECONDS = (10, 30, 120, 600)
SFX_AT = (2 / 30, 10 / 30, 20 / 30)  # the three effects at 2 s, 10 s and 20 s of a 30 s clip, in proportion
BGM = REPO / "assets/audio/bgm/cheesy_elevator.wav"
SFX = [REPO / "assets/audio/sfx/static_glitch.wav", REPO / "assets/audio/sfx/explosion_short.wav",
       REPO / "assets/audio/sfx/static_glitch.wav"]


def synthetic_voice(seconds: int, rate: int):
    """A voiced buzz at syllable rate with pauses every few seconds (for the ducking to release in)."""
    import torch

    t = torch.arange(seconds * rate) / rate
    pitch = 140 + 20 * torch.sin(2 * torch.pi * 0.7 * t)
    phase = 2 * torch.pi * torch.cumsum(pitch.double(), 0).float() / rate
    voice = 0.25 * sum(torch.sin(k * phase) / k for k in range(1, 12)) * (0.1 + 0.9 * torch.sin(torch.pi * 4 * t) ** 2)
    return (voice * (torch.sin(2 * torch.pi * t / 6) > -0.5)).unsqueeze(0)


def chain(inputs, seconds: int):
    """ToonGen's functions as the graph runs them: mix, then loudness."""
    from toongen.nodes.audio.loudness import normalize_loudness
    from toongen.nodes.audio.mix import SfxEvent, mix_tracks

    (voice_w, voice_r), (bgm_w, bgm_r), sfx = inputs
    events = [SfxEvent(w, r, round(share * seconds, 3)) for (w, r), share in zip(sfx, SFX_AT)]
    mixed, out_rate = mix_tracks(voice_w, voice_r, bgm=bgm_w, bgm_rate=bgm_r, sfx=events, output_channels=2)
    return normalize_loudness(mixed, out_rate, -16.0, -1.0)[0], out_rate


def peak_growth(seconds: int, voice_path: str) -> None:
    """(run in a fresh process) How far ToonGen's chain raises the peak RSS above its inputs, already in memory."""
    sys.path.insert(0, str(REPO / "tests" / "support"))
    from pack_loader import load_pack

    load_pack()
    from toongen.nodes.audio.files import load_audio_file

    effects = [load_audio_file(p) for p in SFX]
    voice, rate = load_audio_file(voice_path)  # decoded in place: no temporary beside it
    chain(((voice[:, : 10 * rate], rate), load_audio_file(BGM), effects), 10)  # warm-up
    inputs = ((voice, rate), load_audio_file(BGM), effects)
    # A thread samples the resident set every millisecond (ru_maxrss would carry the parent's peak over exec).
    page_mib = os.sysconf("SC_PAGE_SIZE") / 2**20

    def resident_mib() -> float:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * page_mib

    samples, done = [resident_mib()], threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append(resident_mib())
            time.sleep(0.001)

    sampler = threading.Thread(target=sample)
    sampler.start()
    chain(inputs, seconds)
    done.set()
    sampler.join()
    print(f"{max(samples) - samples[0]:.1f}")


def main() -> int:
    sys.path.insert(0, str(REPO / "tests" / "support"))
    from pack_loader import load_pack

    load_pack()
    from bs1770_meter import integrated_lufs
    from toongen.nodes.audio.files import load_audio_file, save_wav_pcm16

    if not shutil.which("ffmpeg"):
        print("ffmpeg is not on PATH: apt-get install ffmpeg", file=sys.stderr)
        return 2
    import numpy as np
    import soundfile
    import torch
    from pydub import AudioSegment
    from scipy.signal import resample_poly

    work = Path(tempfile.mkdtemp(prefix="toongen-bench-"))
    rate = 24000

    def make_voice(seconds: int) -> Path:
        return save_wav_pcm16(work / f"voice_{seconds}.wav", synthetic_voice(seconds, rate), rate)

    def sfx_times(seconds: int) -> list[float]:
        return [round(share * seconds, 3) for share in SFX_AT]

    def load_inputs(voice_path: Path):
        return load_audio_file(voice_path), load_audio_file(BGM), [load_audio_file(p) for p in SFX]

    ours_in_memory = chain

    def ours_with_files(voice_path: Path, seconds: int):
        out, out_rate = ours_in_memory(load_inputs(voice_path), seconds)
        save_wav_pcm16(work / "ours.wav", out, out_rate)

    def ffmpeg_amix(voice_path: Path, seconds: int):
        subprocess.run([
            "ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(voice_path), "-stream_loop", "-1",
            "-i", str(BGM), *[a for p in SFX for a in ("-i", str(p))], "-filter_complex",
            "[0:a]aformat=channel_layouts=stereo,asplit=2[v][key];[1:a]volume=0.3[b];"
            "[b][key]sidechaincompress=threshold=0.02:ratio=8:attack=30:release=400[duck];"
            + "".join(f"[{i + 2}:a]adelay={int(at * 1000)}:all=1,volume=0.6[s{i}];"
                      for i, at in enumerate(sfx_times(seconds)))
            + "[v][duck][s0][s1][s2]amix=inputs=5:duration=first:normalize=0,loudnorm=I=-16:TP=-1",
            "-ar", str(rate), "-c:a", "pcm_s16le", str(work / "ffmpeg.wav"),
        ], check=True)

    def pydub_pipeline(voice_path: Path, seconds: int):
        voice_seg = AudioSegment.from_wav(voice_path).set_channels(2)
        bgm = AudioSegment.from_wav(BGM)
        bgm = (bgm * (len(voice_seg) // len(bgm) + 1))[: len(voice_seg)] - 10.5  # ≈ ×0.3
        bed = bgm.overlay(voice_seg, gain_during_overlay=-12)  # pydub's "ducking": under the whole voice
        for path, at in zip(SFX, sfx_times(seconds)):
            bed = bed.overlay(AudioSegment.from_wav(path) - 4.4, position=int(at * 1000))  # ≈ ×0.6
        bed = bed.apply_gain(-16.0 - bed.dBFS)  # RMS, not LUFS: pydub has no loudness meter
        bed.export(work / "pydub.wav", format="wav")

    def rounds(runs: dict, repeats: dict) -> dict:
        """Interleaved rounds (one run of each pipeline per round) so machine load hits all alike; medians."""
        times = {name: [] for name in runs}
        for round_index in range(max(repeats.values())):
            for name, run in runs.items():
                if round_index < repeats[name]:
                    started = time.perf_counter()
                    run()
                    times[name].append(time.perf_counter() - started)
        return {name: statistics.median(values) for name, values in times.items()}

    def describe(path: Path) -> str:
        data, r = soundfile.read(str(path), always_2d=True)
        true_peak = 20 * math.log10(np.abs(resample_poly(data, 4, 1, axis=0)).max())
        return f"{data.shape[0] / r:6.2f} s  {integrated_lufs(data.T, r):6.1f} LUFS  {true_peak:5.1f} dBTP"

    # --- the table: all pipelines on a 30 s clip ----------------------------------------------------------------
    seconds = TABLE_SECONDS
    voice_path = make_voice(seconds)
    inputs = load_inputs(voice_path)
    ours_in_memory(inputs, seconds)  # warm-up: imports, filter designs, worker threads
    names = {
        "ours": "ToonGen functions (tensors in memory)",
        "ours_files": "ToonGen functions incl. reading/writing WAV",
        "ffmpeg": "ffmpeg amix + sidechaincompress + loudnorm (subprocess)",
        "pydub": "pydub overlay pipeline",
    }
    figures = rounds({
        "ours": lambda: ours_in_memory(inputs, seconds),
        "ours_files": lambda: ours_with_files(voice_path, seconds),
        "ffmpeg": lambda: ffmpeg_amix(voice_path, seconds),
        "pydub": lambda: pydub_pipeline(voice_path, seconds),
    }, {"ours": 15, "ours_files": 15, "ffmpeg": 3, "pydub": 15})
    base = figures["ours"]
    print(f"{seconds} s voice + looped BGM + ducking + 3 SFX + loudness (-16 LUFS, -1 dBTP); {os.cpu_count()} CPUs, "
          f"{torch.get_num_threads()} torch threads, load average {os.getloadavg()[0]:.1f}")
    for key, name in names.items():
        seconds_taken = figures[key]
        print(f"  {name:58s} {seconds_taken * 1000:8.1f} ms   {seconds_taken / base:6.1f}× ours")
    for name in ("ours", "ffmpeg", "pydub"):
        print(f"  output {name:7s} {describe(work / f'{name}.wav')}")

    # --- the sweep: ToonGen at several lengths ------------------------------------------------------------------
    print("clip length sweep (medians; pydub for scale; peak RSS: what ToonGen's chain adds to the inputs, each "
          "length in a fresh process)")
    for length in SWEEP_SECONDS:
        path = voice_path if length == TABLE_SECONDS else make_voice(length)
        sweep_inputs = load_inputs(path)
        repeats = 15 if length <= 30 else (5 if length <= 120 else 3)
        times = rounds({
            "ours": lambda: ours_in_memory(sweep_inputs, length),
            "ours_files": lambda: ours_with_files(path, length),
            "pydub": lambda: pydub_pipeline(path, length),
        }, {"ours": repeats, "ours_files": repeats, "pydub": max(1, repeats // 3)})
        growth = subprocess.run([sys.executable, __file__, "--peak-rss", str(length), str(path)], capture_output=True,
                                text=True, check=True).stdout.split()[-1]
        output_mib = length * rate * 2 * 4 / 2**20
        print(f"  {length:4d} s: ours {times['ours'] * 1000:8.1f} ms = {times['ours'] * 1000 / length:5.2f} ms per "
              f"audio s | with files {times['ours_files'] * 1000 / length:5.2f} ms/s | pydub "
              f"{times['pydub'] * 1000 / length:5.2f} ms/s | peak RSS +{float(growth):6.1f} MiB "
              f"(output {output_mib:5.1f} MiB)")
        del sweep_inputs
    shutil.rmtree(work)
    print(f"ratio: pydub/ours={figures['pydub'] / base:.2f} ffmpeg/ours={figures['ffmpeg'] / base:.1f}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--peak-rss"]:
        peak_growth(int(sys.argv[2]), sys.argv[3])
        sys.exit(0)
    sys.exit(main())
