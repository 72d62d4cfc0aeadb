"""Benchmark (printed figures, not a test): a 30 s voice mixed with looped BGM, ducking and 3 SFX, then
loudness-normalized — ToonGen's functions vs the plan's ffmpeg `amix` subprocess vs a pydub overlay pipeline,
on the same input files, in one run.

    bash tests/run.sh bench          (needs ffmpeg on PATH: apt-get install ffmpeg)
"""
from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SFX_TIMES = (2.0, 10.0, 20.0)


def timed(fn, repeats: int) -> float:
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def main() -> int:
    sys.path.insert(0, str(REPO / "tests"))
    from pack_loader import load_pack

    load_pack()
    from toongen.nodes.audio_files import load_audio_file, save_wav_pcm16
    from toongen.nodes.loudness import normalize_loudness
    from toongen.nodes.mix import SfxEvent, mix_tracks

    from bs1770_meter import integrated_lufs

    if not shutil.which("ffmpeg"):
        print("ffmpeg is not on PATH: apt-get install ffmpeg", file=sys.stderr)
        return 2
    import soundfile
    import torch
    from pydub import AudioSegment

    work = Path(tempfile.mkdtemp(prefix="toongen-bench-"))
    rate = 24000
    t = torch.arange(30 * rate) / rate
    pitch = 140 + 20 * torch.sin(2 * torch.pi * 0.7 * t)
    phase = 2 * torch.pi * torch.cumsum(pitch, 0) / rate
    voice = 0.25 * sum(torch.sin(k * phase) / k for k in range(1, 12)) * (0.1 + 0.9 * torch.sin(torch.pi * 4 * t) ** 2)
    voice = voice * (torch.sin(2 * torch.pi * t / 6) > -0.5)  # pauses for the ducking to release in
    save_wav_pcm16(work / "voice.wav", voice.unsqueeze(0), rate)
    bgm_path = REPO / "assets/audio/bgm/cheesy_elevator.wav"
    sfx_paths = [REPO / "assets/audio/sfx/static_glitch.wav", REPO / "assets/audio/sfx/explosion_short.wav",
                 REPO / "assets/audio/sfx/static_glitch.wav"]

    def ours_in_memory(inputs):
        (voice_w, voice_r), (bgm_w, bgm_r), sfx = inputs
        events = [SfxEvent(w, r, at) for (w, r), at in zip(sfx, SFX_TIMES)]
        mixed, out_rate = mix_tracks(voice_w, voice_r, bgm=bgm_w, bgm_rate=bgm_r, sfx=events, output_channels=2)
        return normalize_loudness(mixed, out_rate, -16.0, -1.0)[0], out_rate

    def load_inputs():
        return load_audio_file(work / "voice.wav"), load_audio_file(bgm_path), [load_audio_file(p) for p in sfx_paths]

    inputs = load_inputs()

    def ours_with_files():
        out, out_rate = ours_in_memory(load_inputs())
        save_wav_pcm16(work / "ours.wav", out, out_rate)

    ffmpeg_cmd = [
        "ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(work / "voice.wav"), "-stream_loop", "-1",
        "-i", str(bgm_path), *[a for p in sfx_paths for a in ("-i", str(p))], "-filter_complex",
        "[0:a]aformat=channel_layouts=stereo,asplit=2[v][key];[1:a]volume=0.3[b];"
        "[b][key]sidechaincompress=threshold=0.02:ratio=8:attack=30:release=400[duck];"
        + "".join(f"[{i + 2}:a]adelay={int(at * 1000)}:all=1,volume=0.6[s{i}];" for i, at in enumerate(SFX_TIMES))
        + "[v][duck][s0][s1][s2]amix=inputs=5:duration=first:normalize=0,loudnorm=I=-16:TP=-1",
        "-ar", str(rate), "-c:a", "pcm_s16le", str(work / "ffmpeg.wav"),
    ]

    def ffmpeg_amix():
        subprocess.run(ffmpeg_cmd, check=True)

    def pydub_pipeline():
        voice_seg = AudioSegment.from_wav(work / "voice.wav").set_channels(2)
        bgm = AudioSegment.from_wav(bgm_path)
        bgm = (bgm * (len(voice_seg) // len(bgm) + 1))[: len(voice_seg)] - 10.5  # ≈ ×0.3
        bed = bgm.overlay(voice_seg, gain_during_overlay=-12)  # pydub's "ducking": under the whole voice
        for path, at in zip(sfx_paths, SFX_TIMES):
            bed = bed.overlay(AudioSegment.from_wav(path) - 4.4, position=int(at * 1000))  # ≈ ×0.6
        bed = bed.apply_gain(-16.0 - bed.dBFS)  # RMS, not LUFS: pydub has no loudness meter
        bed.export(work / "pydub.wav", format="wav")

    ours_in_memory(inputs)  # warm-up (imports, resampler kernels)
    figures = {
        "ToonGen functions (tensors in memory)": timed(lambda: ours_in_memory(inputs), 7),
        "ToonGen functions incl. reading/writing WAV": timed(ours_with_files, 7),
        "ffmpeg amix + sidechaincompress + loudnorm (subprocess)": timed(ffmpeg_amix, 3),
        "pydub overlay pipeline": timed(pydub_pipeline, 3),
    }
    base = figures["ToonGen functions (tensors in memory)"]
    print(f"30 s voice + looped BGM + ducking + 3 SFX + loudness, {torch.get_num_threads()} torch threads")
    for name, seconds in figures.items():
        print(f"  {name:58s} {seconds * 1000:8.1f} ms   {seconds / base:6.1f}× ours")
    for name in ("ours", "ffmpeg", "pydub"):
        data, r = soundfile.read(str(work / f"{name}.wav"), always_2d=True)
        print(f"  output {name:7s} {data.shape[0] / r:6.2f} s  {integrated_lufs(data.T, r):6.1f} LUFS")
    shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
