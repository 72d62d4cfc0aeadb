"""F5-TTS zero-shot voice cloning through the `f5-tts` package's own model and inference code
(`f5_tts.infer.utils_infer.load_model` / `load_vocoder` / `infer_batch_process`, CFM + DiT, Vocos).

Files (the Hugging Face layouts of SWivid/F5-TTS and charactr/vocos-mel-24khz), under models/tts/f5-tts:
    F5TTS_v1_Base/model_1250000.safetensors   F5TTS_v1_Base/vocab.txt
    vocos-mel-24khz/config.yaml               vocos-mel-24khz/pytorch_model.bin
The model architecture comes from the package's own configs/F5TTS_v1_Base.yaml; a `model_arch.yaml` next to the
checkpoint overrides it (fine-tunes of another size, and the tests' tiny model).

Only the inference half of f5-tts is needed. Its `f5_tts.model` package imports the trainer (and with it wandb,
datasets, accelerate), so when those are absent `import_f5_inference` loads `f5_tts.model` as a plain namespace and
imports just the inference modules. Reference audio is decoded by us (soundfile), never with torchaudio.load.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ..audio.contract import AudioInputError
from ..audio.dsp import resample
from ..runtime import interrupt
from ..runtime.downloads import HubFile, download_note, file_listing, missing
from .kokoro import EngineUnavailableError
from .torchaudio_support import torchaudio_problem

log = logging.getLogger("ToonGen")

SAMPLE_RATE = 24_000
MODEL_NAME = "F5TTS_v1_Base"
CHECKPOINT = f"{MODEL_NAME}/model_1250000.safetensors"
VOCAB = f"{MODEL_NAME}/vocab.txt"
VOCODER_DIR = "vocos-mel-24khz"
REQUIRED_FILES = (CHECKPOINT, VOCAB, f"{VOCODER_DIR}/config.yaml", f"{VOCODER_DIR}/pytorch_model.bin")
F5_REPO, VOCODER_REPO = "SWivid/F5-TTS", "charactr/vocos-mel-24khz"
F5_TTS_REQUIREMENT = "f5-tts==1.1.22"  # install.py installs this one; keep the two in step
LEAN_INSTALL = (f"run ToonGen's install.py with ComfyUI's Python (ComfyUI Manager does), or: {sys.executable} -m pip "
                f"install --no-deps {F5_TTS_REQUIREMENT} (--no-deps: its own list adds a training stack; the inference "
                "needs are in ToonGen's requirements.txt)")
ARCH_OVERRIDE = f"{MODEL_NAME}/model_arch.yaml"
MIN_REFERENCE_S, MAX_REFERENCE_S = 1.0, 15.0
MAX_TOTAL_S = 22.0  # f5-tts budgets reference + generated speech at about this length per chunk


def import_f5_inference():
    """Return f5-tts's `utils_infer` and `DiT`, without importing its training stack when that is not installed."""
    if importlib.util.find_spec("f5_tts") is None:
        raise EngineUnavailableError(f"the f5-tts package is not installed: {LEAN_INSTALL}")
    torchaudio_missing = torchaudio_problem()  # f5-tts imports it everywhere (its mel spectrogram)
    if torchaudio_missing:
        raise EngineUnavailableError(torchaudio_missing)
    try:
        importlib.import_module("f5_tts.model")
    except ImportError:
        package_dir = Path(importlib.util.find_spec("f5_tts").submodule_search_locations[0]) / "model"
        namespace = types.ModuleType("f5_tts.model")
        namespace.__path__ = [str(package_dir)]
        sys.modules["f5_tts.model"] = namespace
        namespace.CFM = importlib.import_module("f5_tts.model.cfm").CFM  # utils_infer does `from f5_tts.model import CFM`
        namespace.DiT = importlib.import_module("f5_tts.model.backbones.dit").DiT
    try:
        utils_infer = importlib.import_module("f5_tts.infer.utils_infer")
    except ImportError as exc:
        raise EngineUnavailableError(f"f5-tts cannot import {exc.name!r}: pip install -r requirements.txt "
                                     "(ToonGen's, with ComfyUI's Python)") from exc
    return utils_infer, importlib.import_module("f5_tts.model.backbones.dit").DiT


def hub_files(folder: Path) -> list[HubFile]:
    """Where each required file comes from: F5TTS_v1_Base/ of SWivid/F5-TTS, the vocoder's own repository."""
    return [HubFile(F5_REPO, CHECKPOINT, folder), HubFile(F5_REPO, VOCAB, folder),
            *(HubFile(VOCODER_REPO, name, folder / VOCODER_DIR) for name in ("config.yaml", "pytorch_model.bin"))]


def missing_files(folder: Path) -> list[Path]:
    return [f.path for f in missing(hub_files(folder))]


def weights_missing_error(folder: Path, shown: Callable[[Path], str] = str) -> EngineUnavailableError:
    """The folder named once (`shown` names it the way the user sees it: models/tts/f5-tts under ComfyUI), the
    missing files relative to it; where to get each one goes to the log."""
    absent = missing(hub_files(folder))
    log.warning("F5-TTS weights are missing:\n%s", file_listing(absent))
    names = ", ".join(f.path.relative_to(folder).as_posix() for f in absent)
    return EngineUnavailableError(f"F5-TTS weights are missing in {shown(folder)}: {names}. {download_note()} "
                                  "The log and the F5-TTS node's help page say where to get each file.")


def model_arch(folder: Path) -> dict:
    import yaml

    override = folder / ARCH_OVERRIDE
    if override.is_file():
        return yaml.safe_load(override.read_text())
    config = Path(importlib.util.find_spec("f5_tts").submodule_search_locations[0]) / "configs" / f"{MODEL_NAME}.yaml"
    arch = yaml.safe_load(config.read_text())["model"]["arch"]
    return {k: v for k, v in arch.items() if k not in ("checkpoint_activations",)}


@dataclass
class Reference:
    """A voice to clone: 24 kHz mono samples and the exact words spoken in them."""

    waveform: torch.Tensor  # [1, T]
    text: str

    @property
    def seconds(self) -> float:
        return self.waveform.shape[-1] / SAMPLE_RATE


def prepare_reference(waveform: torch.Tensor, sample_rate: int, text: str) -> Reference:
    """Mono 24 kHz, 1–15 s, not silent, with a transcript ending in punctuation and a space (as f5-tts wants)."""
    mono = resample(waveform.mean(dim=0, keepdim=True), sample_rate, SAMPLE_RATE)
    seconds = mono.shape[-1] / SAMPLE_RATE
    if seconds < MIN_REFERENCE_S:
        raise AudioInputError(f"the voice reference lasts {seconds:.2f} s; F5-TTS needs 5–10 s of clean speech "
                              f"(at least {MIN_REFERENCE_S:.0f} s).")
    if seconds > MAX_REFERENCE_S:
        raise AudioInputError(f"the voice reference lasts {seconds:.1f} s; cut it to 5–10 s (at most "
                              f"{MAX_REFERENCE_S:.0f} s) — longer references leave no room for the text.")
    if float(mono.pow(2).mean().sqrt()) < 1e-4:
        raise AudioInputError("the voice reference is silent; record or pick a clip with clean speech in it.")
    text = " ".join(text.split())
    if not text:
        raise AudioInputError("the voice reference has no transcript; F5-TTS needs the exact words it speaks.")
    if not text.endswith((".", "!", "?", "。", "！", "？")):
        text += "."
    return Reference(mono, text + " ")


def chunk_budget(reference: Reference, speed: float) -> int:
    """Characters of new text per chunk: f5-tts's own rule (the reference's speaking rate × the time left)."""
    chars_per_second = len(reference.text.encode("utf-8")) / reference.seconds
    return max(40, int(chars_per_second * (MAX_TOTAL_S - reference.seconds) * speed))


class F5Engine:
    engine_id = "f5-tts"

    def __init__(self, folder: Path, device: str = "cpu"):
        folder = Path(folder)
        utils_infer, dit = import_f5_inference()
        if missing_files(folder):
            raise weights_missing_error(folder)
        self.utils_infer = utils_infer
        self.device = device
        self.model_path = folder / CHECKPOINT
        try:
            self.model = utils_infer.load_model(dit, model_arch(folder), str(folder / CHECKPOINT),
                                                mel_spec_type="vocos", vocab_file=str(folder / VOCAB), device=device)
            self.vocoder = utils_infer.load_vocoder("vocos", is_local=True, local_path=str(folder / VOCODER_DIR),
                                                    device=device)
        except Exception as exc:  # a truncated file fails deep in safetensors / torch.load with a cryptic message
            raise EngineUnavailableError(
                f"F5-TTS could not load its files in {folder} ({type(exc).__name__}: {exc}). One of them is probably "
                "incomplete or damaged (a download cut off outside ToonGen?): delete it and run again; ToonGen "
                "downloads missing files, checked against the Hub's hashes.") from exc
        for module in self.torch_modules():  # Cancel stops inside a flow step, not after the whole chunk
            interrupt.check_before_every_layer(module)

    def torch_modules(self) -> list[torch.nn.Module]:
        return [self.model, self.vocoder]

    @contextlib.contextmanager
    def _text_cache_cleared_on_error(self):
        """CFM.sample caches the text embedding on the DiT and clears it only when sampling ends normally; after a
        Cancel (or any error) mid-sampling the next run would reuse the old text's embedding."""
        try:
            yield
        except BaseException:
            self.model.transformer.clear_cache()
            raise

    def speak(self, reference: Reference, texts: list[str], *, nfe_steps: int = 32, cfg_strength: float = 2.0,
              speed: float = 1.0, seed: int = 0, cross_fade_s: float = 0.15) -> torch.Tensor:
        """Speak `texts` (chunks, run as one batch by f5-tts) in the reference's voice → 1-D 24 kHz samples."""
        with torch.random.fork_rng(devices=[]), self._text_cache_cleared_on_error():
            torch.manual_seed(seed)
            wave, _, _ = next(self.utils_infer.infer_batch_process(
                (reference.waveform, SAMPLE_RATE), reference.text, texts, self.model, self.vocoder,
                mel_spec_type="vocos", progress=None, nfe_step=nfe_steps, cfg_strength=cfg_strength, speed=speed,
                cross_fade_duration=cross_fade_s, device=self.device))
        if wave is None:
            return torch.zeros(0)
        return torch.from_numpy(wave).to(torch.float32).reshape(-1)

    def speak_batch(self, reference: Reference, texts: list[str], *, nfe_steps: int = 32, cfg_strength: float = 2.0,
                    speed: float = 1.0, seed: int = 0) -> list[torch.Tensor]:
        """Several chunks in one batched flow-matching run (CFM.sample with a batch; per-item durations as
        f5-tts computes them) → one 1-D 24 kHz clip per text. The same seed draws the same noise for each item."""
        ui = self.utils_infer
        audio = reference.waveform
        rms = float(audio.pow(2).mean().sqrt())
        if rms < ui.target_rms:
            audio = audio * ui.target_rms / rms
        ref_frames = audio.shape[-1] // ui.hop_length
        ref_text = reference.text + " " if len(reference.text[-1].encode("utf-8")) == 1 else reference.text  # as f5-tts
        ref_bytes = len(ref_text.encode("utf-8"))
        durations = []
        for text in texts:
            local_speed = 0.3 if len(text.encode("utf-8")) < 10 else speed  # f5-tts's rule for very short text
            durations.append(ref_frames + int(ref_frames / ref_bytes * len(text.encode("utf-8")) / local_speed))
        batch_text = ui.convert_char_to_pinyin([ref_text + text for text in texts])
        with torch.inference_mode(), self._text_cache_cleared_on_error():
            generated, _ = self.model.sample(
                cond=audio.to(self.device).repeat(len(texts), 1), text=batch_text,
                duration=torch.tensor(durations, device=self.device), steps=nfe_steps, cfg_strength=cfg_strength,
                sway_sampling_coef=-1, seed=seed)
            clips = []
            for item, duration in zip(generated.to(torch.float32), durations):
                mel = item[ref_frames:duration].permute(1, 0).unsqueeze(0)
                wave = self.vocoder.decode(mel).reshape(-1).cpu()
                clips.append(wave * rms / ui.target_rms if rms < ui.target_rms else wave)
        return clips

