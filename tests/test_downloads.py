"""Model files on first use, for real: huggingface_hub fetches the tiny test models (the real file layouts) from a
local server that answers like the Hub (tests/support/local_hub.py). Downloads run in subprocesses, because huggingface_hub
reads HF_ENDPOINT and HF_HUB_OFFLINE when it is imported; the last test goes through a real ComfyUI /prompt."""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ..nodes.runtime.downloads import STAGING_DIR, content_problem
from ..nodes.speech.engines import f5_problem, kokoro_for_voice
from ..nodes.speech.f5 import REQUIRED_FILES
from ..nodes.speech.kokoro import EngineUnavailableError
from .support.local_hub import LocalHub, git_blob_sha1
from .support.tiny_models import build_f5, build_kokoro

TESTS = Path(__file__).resolve().parent / "support"  # pack_loader
KOKORO_FILES = ("config.json", "kokoro-v1_0.pth", "voices/af_heart.pt")
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "TOONGEN_ALLOW_DOWNLOAD")


@pytest.fixture(scope="module")
def hub_repos(tmp_path_factory) -> dict[str, Path]:
    """The tiny models as the Hub's repositories hold them."""
    root = tmp_path_factory.mktemp("hub")
    build_kokoro(root / "kokoro")
    f5 = build_f5(root / "f5")
    return {"hexgrad/Kokoro-82M": root / "kokoro", "SWivid/F5-TTS": f5, "charactr/vocos-mel-24khz": f5 / "vocos-mel-24khz"}


@pytest.fixture
def hub(hub_repos):
    with LocalHub(hub_repos) as server:
        yield server


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_pack(code: str, tmp_path: Path, hub_url: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    """Run `code` with this checkout imported as `toongen`, huggingface_hub pointed at `hub_url`, downloads on."""
    environment = {k: v for k, v in os.environ.items() if k not in OFFLINE_VARIABLES}
    environment.update(HF_ENDPOINT=hub_url, HF_HOME=str(tmp_path / "hf-home"), **env)
    script = (f"import sys; sys.path.insert(0, {str(TESTS)!r})\nfrom pack_loader import load_pack; load_pack()\n"
              + textwrap.dedent(code))
    return subprocess.run([sys.executable, "-c", script, *args], env=environment, capture_output=True, text=True,
                          timeout=600)


KOKORO_FIRST_USE = """
import json, logging
from pathlib import Path
from toongen.nodes.speech.engines import kokoro_for_voice
logging.basicConfig(level=logging.INFO)
progress = []
engine = kokoro_for_voice("af_heart", Path(sys.argv[1]), progress=lambda done, total: progress.append((done, total)))
speech = engine.speak("Come on down.", "af_heart", 1.0)
print(json.dumps({"samples": speech.samples.numel(), "progress": progress}))
"""


def last_json(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def assert_same_files(folder: Path, source: Path, names) -> None:
    for name in names:
        assert sha256(folder / name) == sha256(source / name), name


def test_kokoro_voice_is_downloaded_on_first_use_with_progress_then_speaks(hub, hub_repos, tmp_path):
    folder = tmp_path / "models" / "tts" / "kokoro"
    result = last_json(run_pack(KOKORO_FIRST_USE, tmp_path, hub.url, str(folder)))
    assert result["samples"] > 0
    assert_same_files(folder, hub_repos["hexgrad/Kokoro-82M"], KOKORO_FILES)
    assert not (folder / STAGING_DIR).exists() and not (folder / "voices" / "am_adam.pt").exists()
    total = sum((folder / name).stat().st_size for name in KOKORO_FILES)
    done = [d for d, t in result["progress"]]
    assert {t for _, t in result["progress"]} == {total} and done == sorted(done) and done[-1] == total
    assert len(done) >= 3  # at least one step per file
    # Every file was announced by a HEAD on the Hub and fetched with a GET (weights from the CDN).
    assert {p.rsplit("/", 1)[-1] for m, p, _ in hub.requests if m == "HEAD"} >= {"config.json", "kokoro-v1_0.pth",
                                                                                  "af_heart.pt"}
    assert hub.gets("/cdn/hexgrad/Kokoro-82M/kokoro-v1_0.pth") == [None]
    # Second use: everything is in place, the Hub is not asked again.
    hub.requests.clear()
    assert last_json(run_pack(KOKORO_FIRST_USE, tmp_path, hub.url, str(folder)))["samples"] > 0
    assert hub.requests == []


def test_a_dropped_connection_is_resumed_with_a_range_request(hub, hub_repos, tmp_path):
    weights = hub_repos["hexgrad/Kokoro-82M"] / "kokoro-v1_0.pth"
    half = weights.stat().st_size // 2
    hub.drop_after["kokoro-v1_0.pth"] = (half, 1)
    folder = tmp_path / "kokoro"
    assert last_json(run_pack(KOKORO_FIRST_USE, tmp_path, hub.url, str(folder)))["samples"] > 0
    first, resumed = hub.gets("/kokoro-v1_0.pth")  # resumed where the kept bytes end (whole chunks of them)
    assert first is None and 0 < int(re.fullmatch(r"bytes=(\d+)-", resumed).group(1)) <= half
    assert_same_files(folder, hub_repos["hexgrad/Kokoro-82M"], KOKORO_FILES)


def test_a_download_that_keeps_failing_leaves_nothing_in_place_and_the_next_attempt_completes(hub, hub_repos, tmp_path):
    hub.drop_after["kokoro-v1_0.pth"] = (1000, 100)  # the connection drops after 1000 bytes, every time
    folder = tmp_path / "kokoro"
    failed = run_pack(KOKORO_FIRST_USE, tmp_path, hub.url, str(folder))
    assert failed.returncode != 0
    message = failed.stderr[failed.stderr.rfind("ModelDownloadError"):]
    assert "could not download the files Kokoro voice 'af_heart' needs" in message
    assert str(folder / "kokoro-v1_0.pth") in message and "Nothing half-finished was left" in message
    assert not (folder / "kokoro-v1_0.pth").exists()  # no truncated weights where the loader would find them
    assert [p for p in folder.rglob("*") if p.is_file() and STAGING_DIR not in p.parts] == [folder / "config.json"]
    hub.drop_after.clear()
    assert last_json(run_pack(KOKORO_FIRST_USE, tmp_path, hub.url, str(folder)))["samples"] > 0
    assert_same_files(folder, hub_repos["hexgrad/Kokoro-82M"], KOKORO_FILES)


@pytest.mark.parametrize("damaged", ["kokoro-v1_0.pth", "config.json"])  # an LFS file (sha256), a small one (git sha1)
def test_a_file_that_arrives_damaged_is_refused(hub, tmp_path, damaged):
    hub.corrupt.add(damaged)
    folder = tmp_path / "kokoro"
    failed = run_pack(KOKORO_FIRST_USE, tmp_path, hub.url, str(folder))
    assert failed.returncode != 0
    algorithm = "sha256" if damaged.endswith(".pth") else "sha1"
    assert f"{damaged} arrived damaged twice ({algorithm}" in failed.stderr
    assert not (folder / damaged).exists()


def test_an_unreachable_hub_is_a_clear_error_naming_the_files(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    failed = run_pack(KOKORO_FIRST_USE, tmp_path, f"http://127.0.0.1:{closed_port}", str(tmp_path / "kokoro"))
    assert failed.returncode != 0
    assert "the Hub did not answer (ConnectError" in failed.stderr
    assert f"http://127.0.0.1:{closed_port}/hexgrad/Kokoro-82M/resolve/main/voices/af_heart.pt" in failed.stderr


F5_FIRST_USE = """
import json
from pathlib import Path
from toongen.nodes.speech.f5 import prepare_reference
from toongen.nodes.speech.engines import f5_engine, f5_problem
import torch
folder = Path(sys.argv[1])
problem = f5_problem(folder)
engine = f5_engine(folder)
voice = 0.3 * torch.sin(torch.arange(3 * 24000) / 24000 * 2 * torch.pi * 180).unsqueeze(0)
clip = engine.speak_batch(prepare_reference(voice, 24000, "Some words."), ["Hello there."], nfe_steps=2)[0]
print(json.dumps({"problem": problem, "samples": clip.numel()}))
"""


def test_f5_and_vocos_are_downloaded_on_first_use(hub, hub_repos, tmp_path):
    folder = tmp_path / "f5-tts"
    (folder / "F5TTS_v1_Base").mkdir(parents=True)  # the tiny architecture: a local override, not a Hub file
    (folder / "F5TTS_v1_Base" / "model_arch.yaml").write_text(
        (hub_repos["SWivid/F5-TTS"] / "F5TTS_v1_Base" / "model_arch.yaml").read_text())
    result = last_json(run_pack(F5_FIRST_USE, tmp_path, hub.url, str(folder)))
    assert result["problem"] is None and result["samples"] > 0
    assert_same_files(folder, hub_repos["SWivid/F5-TTS"], REQUIRED_FILES)
    assert hub.gets("/cdn/charactr/vocos-mel-24khz/pytorch_model.bin") == [None]


def test_a_truncated_f5_checkpoint_put_there_by_hand_is_a_clear_error(hub_repos, tmp_path):
    import shutil

    from ..nodes.speech.f5 import CHECKPOINT, F5Engine

    folder = tmp_path / "f5-tts"
    shutil.copytree(hub_repos["SWivid/F5-TTS"], folder)
    checkpoint = folder / CHECKPOINT
    checkpoint.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])
    with pytest.raises(EngineUnavailableError, match="probably incomplete or damaged"):
        F5Engine(folder)


@pytest.mark.parametrize("switch", [{"HF_HUB_OFFLINE": "1"}, {"TOONGEN_ALLOW_DOWNLOAD": "0"}])
def test_with_downloads_off_the_errors_list_the_exact_files_and_where_to_get_them(tmp_path, monkeypatch, switch,
                                                                                   caplog):
    for name in OFFLINE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in switch.items():
        monkeypatch.setenv(name, value)
    (name, value), = switch.items()
    with pytest.raises(EngineUnavailableError) as info:
        kokoro_for_voice("af_bella", tmp_path / "kokoro")
    message = str(info.value)
    for file in ("config.json", "kokoro-v1_0.pth", "voices/af_bella.pt"):
        assert f"{tmp_path / 'kokoro' / file}\n      from https://huggingface.co/hexgrad/Kokoro-82M/resolve/main/{file}" \
            in message
    assert f"downloads are off here ({name}={value})" in message
    with caplog.at_level(logging.WARNING, logger="ToonGen"):
        problem = f5_problem(tmp_path / "f5-tts", detailed=True)
    assert problem.count(str(tmp_path)) == 1  # the folder once, the files relative to it
    for file, repo, name_in_repo in (
            ("F5TTS_v1_Base/model_1250000.safetensors", "SWivid/F5-TTS", "F5TTS_v1_Base/model_1250000.safetensors"),
            ("vocos-mel-24khz/pytorch_model.bin", "charactr/vocos-mel-24khz", "pytorch_model.bin")):
        assert file in problem
        assert f"{tmp_path / 'f5-tts' / file}\n      from https://huggingface.co/{repo}/resolve/main/{name_in_repo}" \
            in caplog.text  # where to get each file: the log
    assert f"downloads are off here ({name}={value})" in problem
    short = f5_problem(tmp_path / "f5-tts")
    assert short == f"its weights are missing in {tmp_path / 'f5-tts'} (4 files) and downloads are off ({name}={value})"


def test_hub_hashes_are_checked_the_way_git_and_the_hub_compute_them(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_bytes(b"hello\n")
    git = subprocess.run(["git", "hash-object", str(path)], capture_output=True, text=True, check=True).stdout.strip()
    assert git_blob_sha1(b"hello\n") == git
    assert content_problem(path, 6, git) == ""
    assert content_problem(path, 6, hashlib.sha256(b"hello\n").hexdigest()) == ""
    assert content_problem(path, 7, git) == "6 bytes instead of 7"
    assert content_problem(path, 6, "0" * 64).startswith("sha256 ")
    assert content_problem(path, None, "not-a-hash") == ""  # an ETag of another form: size only


@pytest.mark.slow
def test_kokoro_node_in_comfyui_downloads_af_heart_from_the_hub_and_speaks(hub, hub_repos, tmp_path):
    """ToonGenKokoroTTS with af_heart and no weights, in a real ComfyUI started with HF_ENDPOINT at the local hub;
    Speak with engine auto in the same server does not start the F5 download (the hub serves it too)."""
    import soundfile

    from .support.comfy_server import ComfyServer

    graph = {
        "1": {"class_type": "ToonGenKokoroTTS", "inputs": {"text": "Come on down to Real Fake Doors!",
                                                           "voice": "af_heart", "speed": 1.0}},
        "2": {"class_type": "ToonGenSaveWAV", "inputs": {"audio": ["1", 0], "filename_prefix": "toongen/hub"}},
    }
    online = {"HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0", "HF_ENDPOINT": hub.url,
              "HF_HOME": str(tmp_path / "hf-home")}
    with ComfyServer(base_dir=tmp_path / "comfy", env=online) as server:
        server.start()
        messages, entry = server.run_watching(graph, timeout=600)
        assert entry["status"]["status_str"] == "success", json.dumps(entry["status"])[:3000]
        folder = server.base_dir / "models" / "tts" / "kokoro"
        assert_same_files(folder, hub_repos["hexgrad/Kokoro-82M"], KOKORO_FILES)
        total = sum((folder / name).stat().st_size for name in KOKORO_FILES)
        progress = [m["data"] for m in messages if m["type"] == "progress" and m["data"].get("node") == "1"]
        assert {"value": total, "max": total} in [{"value": p["value"], "max": p["max"]} for p in progress]
        assert "ToonGen: downloading" in server.log_text()
        wav = next(f for f in server.output_files(entry) if f["filename"].endswith(".wav"))
        assert soundfile.info(io.BytesIO(server.fetch(wav))).duration > 0.3
        speak = {"1": {"class_type": "ToonGenSpeak", "inputs": {
                     "text": "Auto never fetches a gigabyte behind your back.", "engine": "auto",
                     "voice_style": "deadpan_narrator", "kokoro_voice": "jm_kumo", "speed": 1.0, "seed": 0}},
                 "2": {"class_type": "PreviewAudio", "inputs": {"audio": ["1", 0]}}}
        engine_used = server.run(speak)["outputs"]["1"]["text"][0]
        assert "auto does not download" in engine_used and "through its recipe" in engine_used, engine_used
        f5_folder = server.base_dir / "models" / "tts" / "f5-tts"
        assert not (f5_folder.exists() and [p for p in f5_folder.rglob("*") if p.is_file()])
