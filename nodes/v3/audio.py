"""V3 node classes for ToonGen/audio: thin wrappers over nodes/audio (mix, loudness, frames, files) and nodes/library."""
from __future__ import annotations

import os

import folder_paths
import torch
from comfy_api.latest import io, ui

from ..audio.contract import AudioInputError, check_sample_rate, make_audio, read_audio
from ..audio.files import DEFAULT_MAX_SECONDS, load_audio_file, save_wav_pcm16
from ..audio.frames import DEFAULT_FPS, DEFAULT_MIN_FRAMES, MAX_TAIL_S, clip_length, frame_count, pad_to_frames
from ..audio.loudness import normalize_loudness
from ..audio.mix import (DEFAULT_MIX_RATIO, DEFAULT_SFX_GAIN, DuckingSettings, SfxEvent, mix_length, mix_tracks,
                         music_samples_needed)
from ..library.assets import check_choice, list_audio_assets, resolve_name

CATEGORY = "ToonGen/audio"
SfxEvents = io.Custom("TOONGEN_SFX_EVENTS")
OUTPUT_RATES = ["same as voice", "24000", "32000", "44100", "48000"]


def _input_dir() -> str:
    return folder_paths.get_input_directory()


def _asset_what(kind: str) -> str:
    return "BGM track" if kind == "bgm" else "sound effect"


def _check_asset(kind: str, name: str) -> bool | str:
    try:
        resolve_name(name, list_audio_assets(kind, _input_dir()), _asset_what(kind))
    except ValueError as exc:
        return str(exc)
    return True


def _load_asset(kind: str, name: str, max_seconds: float) -> io.NodeOutput:
    path = resolve_name(name, list_audio_assets(kind, _input_dir()), _asset_what(kind))
    waveform, rate = load_audio_file(path, name=name, max_seconds=max_seconds)
    return io.NodeOutput(make_audio(waveform, rate))


def _asset_fingerprint(kind: str, name: str) -> str:
    """Changes when the file behind the name does (input/<file> replaced under the same name), so ComfyUI's cache
    reloads it; a stat per queue, never a read."""
    try:
        stat = resolve_name(name, list_audio_assets(kind, _input_dir()), kind).stat()
    except (OSError, ValueError):
        return ""  # validation reports unknown names
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def _asset_combo(kind: str, tooltip: str) -> io.Combo.Input:
    names = list(list_audio_assets(kind, _input_dir()))
    return io.Combo.Input("name", options=names, default=names[0] if names else None, tooltip=tooltip)


def _max_seconds_input() -> io.Float.Input:
    # Optional, so API prompts written before it existed still validate.
    return io.Float.Input("max_seconds", default=DEFAULT_MAX_SECONDS, min=0.0, max=86400.0, step=10.0,
                          optional=True,
                          tooltip="Decode at most this many seconds from the start of the file (0 = all of it). "
                                  "The mixer loops what it gets, so a 2-hour file costs what 10 minutes cost.")


def _leading_part(audio: dict, samples: int) -> dict:
    """The AUDIO cut to its first `samples` samples before anything reads it: a view, so none of a long track's
    rest is copied, converted or checked. A batch of several clips (joined in time) is left whole."""
    waveform = audio.get("waveform") if isinstance(audio, dict) else None
    if not isinstance(waveform, torch.Tensor) or waveform.shape[-1] <= samples or (
            waveform.dim() == 3 and waveform.shape[0] != 1):
        return audio
    return {**audio, "waveform": waveform[..., :samples]}


class LoadBGM(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ToonGenLoadBGM",
            display_name="Load BGM (ToonGen)",
            category=CATEGORY,
            description="Background music from the pack's library (assets/audio/bgm) or ComfyUI's input folder.",
            inputs=[_asset_combo("bgm", "A loopable music track: the pack's own, or input/<file> from ComfyUI's input folder."),
                    _max_seconds_input()],
            outputs=[io.Audio.Output(display_name="bgm")],
        )

    @classmethod
    def validate_inputs(cls, name: str) -> bool | str:
        return _check_asset("bgm", name)

    @classmethod
    def fingerprint_inputs(cls, name: str, max_seconds: float = DEFAULT_MAX_SECONDS) -> str:
        return _asset_fingerprint("bgm", name)

    @classmethod
    def execute(cls, name: str, max_seconds: float = DEFAULT_MAX_SECONDS) -> io.NodeOutput:
        return _load_asset("bgm", name, max_seconds)


class LoadSFX(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ToonGenLoadSFX",
            display_name="Load SFX (ToonGen)",
            category=CATEGORY,
            description="A sound effect from the pack's library (assets/audio/sfx) or ComfyUI's input folder.",
            inputs=[_asset_combo("sfx", "A short effect: the pack's own, or input/<file> from ComfyUI's input folder."),
                    _max_seconds_input()],
            outputs=[io.Audio.Output(display_name="sfx")],
        )

    @classmethod
    def validate_inputs(cls, name: str) -> bool | str:
        return _check_asset("sfx", name)

    @classmethod
    def fingerprint_inputs(cls, name: str, max_seconds: float = DEFAULT_MAX_SECONDS) -> str:
        return _asset_fingerprint("sfx", name)

    @classmethod
    def execute(cls, name: str, max_seconds: float = DEFAULT_MAX_SECONDS) -> io.NodeOutput:
        return _load_asset("sfx", name, max_seconds)


def parse_times(times_s: str) -> list[float]:
    """'0.5, 2, 3.25' → [0.5, 2.0, 3.25]; anything else is an error that shows the expected form."""
    parts = [p for p in times_s.replace(";", ",").replace(" ", ",").split(",") if p]
    try:
        times = [float(p) for p in parts]
    except ValueError:
        raise AudioInputError(f"times_s {times_s!r}: write seconds separated by commas, e.g. '0.5, 2.0'.") from None
    if not times:
        raise AudioInputError("times_s is empty: give at least one time in seconds, e.g. '0.0'.")
    return times


class SFXEvents(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ToonGenSFXEvents",
            display_name="Place SFX (ToonGen)",
            category=CATEGORY,
            description="Places a sound effect at one or more times; chain several of these into the mixer.",
            inputs=[
                io.Audio.Input("sfx", tooltip="The effect to place (Load SFX, LoadAudio, …)."),
                io.String.Input("times_s", default="0.0", tooltip="Start times in seconds, comma-separated: '0.5, 3.0'."),
                io.Float.Input("gain", default=DEFAULT_SFX_GAIN, min=0.0, max=2.0, step=0.05,
                               tooltip="Linear gain of the effect (0.6 is the plan's default)."),
                SfxEvents.Input("events", optional=True, tooltip="Events from another Place SFX node to add to."),
            ],
            outputs=[SfxEvents.Output(display_name="events")],
        )

    @classmethod
    def execute(cls, sfx: dict, times_s: str, gain: float, events: list | None = None) -> io.NodeOutput:
        waveform, rate = read_audio(sfx, "sfx")
        placed = [SfxEvent(waveform, rate, t, gain) for t in parse_times(times_s)]
        return io.NodeOutput(list(events or []) + placed)


class MixVoiceMusic(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ToonGenMixAudio",
            display_name="Mix Voice + BGM + SFX (ToonGen)",
            category=CATEGORY,
            description="Loops the music under the voice, ducks it while the voice speaks, adds placed effects and "
                        "limits the peaks. Output length = voice + tail.",
            inputs=[
                io.Audio.Input("voice", tooltip="The speech track; sets the output length."),
                io.Audio.Input("bgm", optional=True, tooltip="Background music, looped (or trimmed) to the voice."),
                SfxEvents.Input("sfx_events", optional=True, tooltip="Effects placed with Place SFX."),
                io.Float.Input("mix_ratio", default=DEFAULT_MIX_RATIO, min=0.0, max=1.0, step=0.01,
                               tooltip="Music gain relative to the voice (0.3 = music at 30 %)."),
                io.Boolean.Input("loop_bgm", default=True, tooltip="Loop the music for as long as the voice lasts; off: trim it."),
                io.Float.Input("duck_db", default=12.0, min=0.0, max=40.0, step=0.5,
                               tooltip="How many dB the music dips while the voice speaks (0 = no ducking)."),
                io.Float.Input("duck_attack_ms", default=30.0, min=1.0, max=2000.0, step=1.0,
                               tooltip="How fast the music dips when speech starts."),
                io.Float.Input("duck_release_ms", default=400.0, min=1.0, max=5000.0, step=1.0,
                               tooltip="How fast the music comes back in a pause."),
                io.Float.Input("fade_in_s", default=0.0, min=0.0, max=30.0, step=0.05, tooltip="Music fade-in."),
                io.Float.Input("fade_out_s", default=0.5, min=0.0, max=30.0, step=0.05, tooltip="Music fade-out at the end."),
                io.Float.Input("tail_s", default=0.0, min=0.0, max=60.0, step=0.1,
                               tooltip="Seconds of music/effects after the voice ends."),
                io.Combo.Input("sample_rate", options=OUTPUT_RATES, default=OUTPUT_RATES[0],
                               tooltip="Output sample rate; every input is resampled to it."),
                io.Combo.Input("channels", options=["stereo", "mono"], default="stereo",
                               tooltip="Output channel layout; inputs are up- or down-mixed."),
            ],
            outputs=[io.Audio.Output(display_name="mixed")],
        )

    @classmethod
    def validate_inputs(cls, sample_rate: str, channels: str) -> bool | str:
        verdict = check_choice(sample_rate, OUTPUT_RATES, "sample_rate")
        return check_choice(channels, ["stereo", "mono"], "channels") if verdict is True else verdict

    @classmethod
    def execute(cls, voice: dict, mix_ratio: float, loop_bgm: bool, duck_db: float, duck_attack_ms: float,
                duck_release_ms: float, fade_in_s: float, fade_out_s: float, tail_s: float, sample_rate: str,
                channels: str, bgm: dict | None = None, sfx_events: list | None = None) -> io.NodeOutput:
        voice_wave, voice_rate = read_audio(voice, "voice")
        output_rate = None if sample_rate == OUTPUT_RATES[0] else int(sample_rate)
        bgm_wave, bgm_rate = None, None
        if bgm is not None:
            if isinstance(bgm, dict) and "sample_rate" in bgm:  # only what the output hears is read
                heard = mix_length(voice_wave.shape[-1], voice_rate, output_rate, tail_s)
                bgm = _leading_part(bgm, music_samples_needed(heard, check_sample_rate(bgm["sample_rate"], "bgm"),
                                                              output_rate or voice_rate))
            bgm_wave, bgm_rate = read_audio(bgm, "bgm")
        mixed, rate = mix_tracks(
            voice_wave, voice_rate, bgm=bgm_wave, bgm_rate=bgm_rate, sfx=list(sfx_events or []),
            mix_ratio=mix_ratio, loop_bgm=loop_bgm,
            ducking=DuckingSettings(depth_db=duck_db, attack_ms=duck_attack_ms, release_ms=duck_release_ms),
            fade_in_s=fade_in_s, fade_out_s=fade_out_s, tail_s=tail_s,
            output_rate=output_rate, output_channels=2 if channels == "stereo" else 1,
        )
        return io.NodeOutput(make_audio(mixed, rate))


class LoudnessNormalize(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ToonGenLoudnessNormalize",
            display_name="Loudness Normalize LUFS (ToonGen)",
            category=CATEGORY,
            description="Sets integrated loudness (ITU-R BS.1770 / EBU R128) and holds true peaks under a ceiling.",
            inputs=[
                io.Audio.Input("audio"),
                io.Float.Input("target_lufs", default=-16.0, min=-70.0, max=0.0, step=0.5,
                               tooltip="-16 LUFS for web video, -23 for EBU broadcast, -14 for music streaming."),
                io.Float.Input("true_peak_db", default=-1.0, min=-20.0, max=0.0, step=0.1,
                               tooltip="True-peak ceiling in dBTP, enforced by a look-ahead limiter."),
            ],
            outputs=[io.Audio.Output(display_name="audio"),
                     io.Float.Output(display_name="measured_lufs",
                                     tooltip="Integrated loudness of the output audio (LUFS): the target, unless "
                                             "the true-peak limiter had to take level off.")],
        )

    @classmethod
    def execute(cls, audio: dict, target_lufs: float, true_peak_db: float) -> io.NodeOutput:
        waveform, rate = read_audio(audio)
        out, _, after = normalize_loudness(waveform, rate, target_lufs, true_peak_db)
        return io.NodeOutput(make_audio(out, rate), after)


class AudioToFrames(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ToonGenAudioToFrames",
            display_name="Audio → Frame Count (ToonGen)",
            category=CATEGORY,
            description="frame_count = max(min_frames, ceil(duration × fps)), rounded up to a multiple; the audio "
                        "comes back padded to exactly frame_count / fps so VHS neither cuts nor pads it.",
            inputs=[
                io.Audio.Input("audio"),
                io.Float.Input("fps", default=DEFAULT_FPS, min=1.0, max=120.0, step=1.0, tooltip="Video frame rate."),
                io.Int.Input("min_frames", default=DEFAULT_MIN_FRAMES, min=1, max=10000,
                             tooltip="Never fewer frames than this (AnimateDiff's context is 16)."),
                io.Int.Input("multiple_of", default=1, min=1, max=256,
                             tooltip="Round the count up to a multiple of this (e.g. the context length)."),
            ],
            outputs=[
                io.Int.Output(display_name="frame_count"),
                io.Float.Output(display_name="duration_s"),
                io.Audio.Output(display_name="audio"),
                io.Float.Output(display_name="fps"),
            ],
        )

    @classmethod
    def execute(cls, audio: dict, fps: float, min_frames: int, multiple_of: int) -> io.NodeOutput:
        waveform, rate = read_audio(audio)
        frames = frame_count(waveform.shape[-1], rate, fps, min_frames, multiple_of)
        padded = pad_to_frames(waveform, rate, frames, fps)
        return io.NodeOutput(frames, waveform.shape[-1] / rate, make_audio(padded, rate), fps)


class ClipLength(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ToonGenClipLength",
            display_name="Clip Length (ToonGen)",
            category=CATEGORY,
            description="The clip's one length, from the clean voice: voice + tail in whole frames, at least "
                        "min_frames. Link frame_count and fps into Mouth Shapes and Video Combine and mix_tail_s into "
                        "the mix's tail_s: the mouth command, the frames and the soundtrack then last exactly as "
                        "long, and changing the mix re-runs only the audio.",
            inputs=[
                io.Audio.Input("voice", tooltip="The clean speech (Speak's voice), not the mix."),
                io.Float.Input("fps", default=DEFAULT_FPS, min=1.0, max=120.0, step=1.0, tooltip="Video frame rate."),
                io.Float.Input("tail_s", default=0.0, min=0.0, max=MAX_TAIL_S, step=0.1,
                               tooltip="Seconds the clip runs on after the last word: the music plays on and the "
                                       "mouth rests."),
                io.Int.Input("min_frames", default=DEFAULT_MIN_FRAMES, min=1, max=10000,
                             tooltip="Never fewer frames than this (AnimateDiff's context is 16): a short line is "
                                     "followed by music and a resting mouth, never cut."),
                io.Int.Input("multiple_of", default=1, min=1, max=256,
                             tooltip="Round the count up to a multiple of this (e.g. the context length)."),
            ],
            outputs=[
                io.Int.Output(display_name="frame_count"),
                io.Float.Output(display_name="fps"),
                io.Float.Output(display_name="mix_tail_s", tooltip="Link into the mix's tail_s: voice + this = the "
                                                                    "clip's duration."),
                io.Float.Output(display_name="duration_s"),
            ],
        )

    @classmethod
    def execute(cls, voice: dict, fps: float, tail_s: float, min_frames: int, multiple_of: int) -> io.NodeOutput:
        waveform, rate = read_audio(voice, "voice")
        length = clip_length(waveform.shape[-1], rate, fps, tail_s, min_frames, multiple_of)
        return io.NodeOutput(length.frames, length.fps, length.mix_tail_s, length.duration_s)


class SaveWAV(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ToonGenSaveWAV",
            display_name="Save WAV 16-bit (ToonGen)",
            category=CATEGORY,
            description="Writes 16-bit PCM WAV files to ComfyUI's output folder and passes the audio on.",
            inputs=[
                io.Audio.Input("audio"),
                io.String.Input("filename_prefix", default="toongen/audio",
                                tooltip="Sub-folder and file-name prefix inside ComfyUI's output folder."),
            ],
            outputs=[io.Audio.Output(display_name="audio")],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, audio: dict, filename_prefix: str) -> io.NodeOutput:
        waveform, rate = read_audio(audio)
        output_dir = folder_paths.get_output_directory()
        folder, name, counter, subfolder, _ = folder_paths.get_save_image_path(filename_prefix, output_dir)
        file_name = f"{name}_{counter:05}_.wav"
        shown = "/".join(part for part in ("output", subfolder, file_name) if part)  # never the server path
        save_wav_pcm16(os.path.join(folder, file_name), waveform, rate, name=shown)
        saved = ui.SavedResult(file_name, subfolder, io.FolderType.output)
        return io.NodeOutput(make_audio(waveform, rate), ui=ui.SavedAudios([saved]))


AUDIO_NODES = [LoadBGM, LoadSFX, SFXEvents, MixVoiceMusic, LoudnessNormalize, AudioToFrames, ClipLength, SaveWAV]
