"""Render ToonGen scenarios headless through ComfyUI's /prompt: one scenario or many, on one server or several.

    python workflows/render.py --server http://127.0.0.1:8188 --scenario plumbus
    python workflows/render.py --server http://gpu1:8188 --server http://gpu2:8188 --all \\
        --workflow toongen_clip_flux_gguf --out renders
    python workflows/render.py --start-comfyui ~/ComfyUI --cpu          # no server running: start one for the run

`--workflow` is a name from workflows/api/ (default toongen_audio_only, which needs no model files and runs on CPU)
or the path of an API-format workflow with a ToonGen Scenario node. Work is spread over the servers (one prompt in
flight per server), each prompt is followed over the server's websocket with a progress line, a failed prompt is
retried once (on another server when there is one; a server that stops answering is dropped), and every output
file is fetched through /view into OUT/<scenario>/. OUT/summary.json lists each scenario's outcome and every attempt
(server, seconds, error). The files written are printed, one per line. Standard library and websocket-client only.
"""
from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

PACK = Path(__file__).resolve().parent.parent
API_WORKFLOWS = PACK / "workflows" / "api"
DEFAULT_WORKFLOW = API_WORKFLOWS / "toongen_audio_only.json"
DEFAULT_SCENARIO = "fake_doors"
OUTPUT_KINDS = ("audio", "images", "gifs", "videos")


@dataclass
class Attempt:
    server: str
    seconds: float = 0.0
    error: str = ""


@dataclass
class Result:
    scenario: str
    server: str = ""          # the server of the last attempt
    seconds: float = 0.0      # all attempts together
    files: list[str] = field(default_factory=list)
    error: str = ""           # the last attempt's error; empty when the scenario was rendered
    attempts: list[Attempt] = field(default_factory=list)


class ServerDown(RuntimeError):
    """The server did not answer (connection refused, reset or timed out)."""


class PromptFailed(RuntimeError):
    """The server ran the prompt and reported an error."""


def workflow_for(template: dict, scenario: str) -> dict:
    graph = json.loads(json.dumps(template))
    found = False
    for node in graph.values():
        if node.get("class_type") == "ToonGenScenario":
            node["inputs"]["scenario"] = scenario
            found = True
        elif node.get("class_type") in ("ToonGenSaveWAV", "SaveAudio", "VHS_VideoCombine"):
            node["inputs"]["filename_prefix"] = f"toongen/{scenario}"
    if not found:
        raise ValueError("the workflow has no ToonGenScenario node to set the scenario on")
    return graph


def load_workflow(name_or_path: str) -> dict:
    """A name from workflows/api/ or a path; a graph-editor (UI) file is refused with the way to its API twin."""
    path = Path(name_or_path)
    if not path.suffix and not path.exists():
        path = API_WORKFLOWS / f"{name_or_path}.json"
    if not path.is_file():
        known = ", ".join(p.stem for p in sorted(API_WORKFLOWS.glob("*.json")))
        raise ValueError(f"no workflow {name_or_path!r}: give a path or one of {known}")
    graph = json.loads(path.read_text())
    if "nodes" in graph and "links" in graph:
        raise ValueError(f"{path} is a graph-editor workflow; render its API twin in workflows/api/ (or export "
                         "it with 'Export (API)' in ComfyUI)")
    return graph


class Client:
    def __init__(self, url: str, timeout: float):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.client_id = uuid.uuid4().hex

    def _http(self, path: str, data: dict | None = None) -> bytes:
        body = json.dumps(data).encode() if data is not None else None
        request = urllib.request.Request(self.url + path, data=body,
                                         headers={"Content-Type": "application/json"} if body else {})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.read()
        except urllib.error.HTTPError as exc:
            raise PromptFailed(f"{path}: HTTP {exc.code} {exc.read().decode(errors='replace')[:500]}") from exc
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
            raise ServerDown(f"{self.url}: {exc}") from exc

    def run(self, graph: dict, on_progress: Callable[[float], None],
            on_message: Callable[[dict], None] | None = None) -> dict:
        """Queue the prompt, follow it on the websocket (`on_message` sees each of its messages), return its
        /history entry."""
        import websocket

        ws_url = self.url.replace("http", "ws", 1) + f"/ws?clientId={self.client_id}"
        try:
            ws = websocket.create_connection(ws_url, timeout=self.timeout)
        except (OSError, websocket.WebSocketException) as exc:
            raise ServerDown(f"{self.url}: {exc}") from exc
        try:
            prompt_id = json.loads(self._http("/prompt", {"prompt": graph, "client_id": self.client_id}))["prompt_id"]
            deadline = time.monotonic() + self.timeout
            while time.monotonic() < deadline:
                try:
                    raw = ws.recv()
                except (OSError, websocket.WebSocketException) as exc:
                    raise ServerDown(f"{self.url}: connection lost ({exc})") from exc
                if not isinstance(raw, str):
                    continue
                message = json.loads(raw)
                kind, data = message.get("type"), message.get("data", {})
                if data.get("prompt_id") not in (None, prompt_id):
                    continue
                if on_message:
                    on_message(message)
                if kind == "progress" and data.get("max"):
                    on_progress(data["value"] / data["max"])
                elif kind == "execution_error":
                    raise PromptFailed(f"{data.get('node_type')}: {data.get('exception_message', '').strip()}")
                elif kind == "execution_interrupted":
                    raise PromptFailed("interrupted")
                elif kind == "executing" and data.get("node") is None and data.get("prompt_id") == prompt_id:
                    break
            else:
                raise PromptFailed(f"no result within {self.timeout:.0f} s")
        finally:
            ws.close()
        return json.loads(self._http(f"/history/{prompt_id}"))[prompt_id]

    def download(self, entry: dict, folder: Path) -> list[str]:
        saved = []
        for node in entry.get("outputs", {}).values():
            for kind in OUTPUT_KINDS:
                for item in node.get(kind, []):
                    if item.get("type") != "output":
                        continue
                    query = urllib.parse.urlencode({k: item[k] for k in ("filename", "subfolder", "type")})
                    folder.mkdir(parents=True, exist_ok=True)
                    target = folder / item["filename"]
                    target.write_bytes(self._http(f"/view?{query}"))
                    saved.append(str(target))
        return saved


def render_batch(servers: list[str], scenarios: list[str], template: dict, out_dir: Path,
                 timeout: float = 1800.0, log: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
                 on_start: Callable[[str, str], None] | None = None,
                 on_message: Callable[[str, str, dict], None] | None = None) -> list[Result]:
    """Render every scenario; returns one Result each (error empty on success) and writes OUT/summary.json.
    `on_start(server, scenario)` is called as each prompt is sent (tests use it); `on_message(server, scenario,
    message)` sees each websocket message of that prompt (the clip benchmark times the stages with them)."""
    results = {s: Result(s) for s in scenarios}
    work: "queue.Queue[str]" = queue.Queue()
    for scenario in scenarios:
        work.put(scenario)
    lock = threading.Lock()
    alive = set(servers)
    done = [0]

    def finish(result: Result) -> None:
        with lock:
            done[0] += 1
            status = "ok" if not result.error else f"FAILED: {result.error}"
            log(f"[{done[0]}/{len(scenarios)}] {result.scenario} on {result.server} in {result.seconds:.1f} s: {status}")

    def worker(url: str) -> None:
        client = Client(url, timeout)
        while True:
            with lock:
                if done[0] >= len(scenarios):
                    return
            try:
                scenario = work.get(timeout=0.5)
            except queue.Empty:
                continue
            result = results[scenario]
            with lock:
                elsewhere = len(alive) > 1
            if result.attempts and result.attempts[-1].server == url and elsewhere:
                work.put(scenario)  # a retry goes to another server
                time.sleep(0.2)
                continue
            attempt = Attempt(url)
            result.attempts.append(attempt)
            result.server = url
            started = time.monotonic()
            if on_start:
                on_start(url, scenario)
            failure: Exception | None = None
            try:
                entry = client.run(workflow_for(template, scenario),
                                   lambda share: log(f"  {scenario} on {url}: {share:4.0%}"),
                                   (lambda message: on_message(url, scenario, message)) if on_message else None)
                result.files = client.download(entry, out_dir / scenario)
            except (ServerDown, PromptFailed) as exc:
                failure = exc
            attempt.error = result.error = str(failure) if failure else ""
            attempt.seconds = time.monotonic() - started
            result.seconds = sum(a.seconds for a in result.attempts)
            if failure is None:
                finish(result)
                continue
            down = isinstance(failure, ServerDown)
            with lock:
                if down:
                    alive.discard(url)
                can_retry = len(result.attempts) < 2 and bool(alive)
            if can_retry:
                log(f"  {scenario} failed on {url} ({failure}); retrying once")
                work.put(scenario)
            else:
                finish(result)
            if down:
                with lock:
                    if not alive:  # nobody left: fail what remains
                        while not work.empty():
                            left = results[work.get()]
                            left.error = left.error or "no server left"
                            done[0] += 1
                return  # this server is gone; the others take the work

    threads = [threading.Thread(target=worker, args=(url,), daemon=True) for url in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ordered = [results[s] for s in scenarios]
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "summary.json").write_text(json.dumps([asdict(r) for r in ordered], indent=2))
    return ordered


def database_args(comfyui_dir: Path, base_dir: Path) -> list[str]:
    """ComfyUI 0.3.6x and later open an sqlite database whose default path is <ComfyUI>/user/comfyui.db, beside
    main.py and not under --base-directory: with a base directory that folder may not exist ("Failed to initialize
    database … unable to open database file"), and several servers of one tree would share one file. Give each
    server its own, under its base directory."""
    if "--database-url" not in (comfyui_dir / "comfy" / "cli_args.py").read_text():
        return []  # older ComfyUI: no database
    return ["--database-url", f"sqlite:///{base_dir / 'user' / 'comfyui.db'}"]


class LocalComfyUI:
    """A headless ComfyUI started from a ComfyUI folder for one run: a fresh base directory (its own models/,
    input/, output/) with this pack linked into custom_nodes/, stopped with its process group afterwards. Started
    with the Python running this command, which must be the one ComfyUI's requirements are installed in."""

    def __init__(self, comfyui_dir: Path, cpu: bool, timeout: float = 180.0):
        if not (comfyui_dir / "main.py").is_file():
            raise ValueError(f"{comfyui_dir} is not a ComfyUI folder (no main.py); give --start-comfyui the folder "
                             "that holds ComfyUI's main.py")
        self.comfyui_dir, self.cpu, self.timeout = comfyui_dir, cpu, timeout

    def __enter__(self) -> str:
        self.base = Path(tempfile.mkdtemp(prefix="toongen-render-"))
        for sub in ("custom_nodes", "user"):
            (self.base / sub).mkdir()
        (self.base / "custom_nodes" / "comfyui-toongen").symlink_to(PACK, target_is_directory=True)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.log = open(self.base / "comfyui.log", "wb")
        self.process = subprocess.Popen(
            [sys.executable, "main.py", "--listen", "127.0.0.1", "--port", str(port), "--base-directory",
             str(self.base), "--disable-auto-launch", *database_args(self.comfyui_dir, self.base),
             *(["--cpu"] if self.cpu else [])],
            cwd=self.comfyui_dir, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                with urllib.request.urlopen(url + "/object_info/ToonGenScenario", timeout=5) as response:
                    if json.loads(response.read()):
                        return url
            except (OSError, ValueError):
                pass
            time.sleep(0.5)
        tail = (self.base / "comfyui.log").read_text(errors="replace")[-3000:]
        self.__exit__()
        raise RuntimeError(f"ComfyUI in {self.comfyui_dir} did not come up with ToonGen's nodes:\n{tail}")

    def __exit__(self, *exc) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()
        shutil.rmtree(self.base, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--server", action="append", help="ComfyUI URL with ToonGen installed; repeat to spread the work")
    where.add_argument("--start-comfyui", type=Path, metavar="DIR",
                       help="start a headless ComfyUI from this folder for the run (this pack linked in)")
    parser.add_argument("--cpu", action="store_true", help="with --start-comfyui: run ComfyUI on the CPU")
    parser.add_argument("--scenario", action="append", default=[],
                        help=f"scenario id from assets/scenarios.json; repeatable (default {DEFAULT_SCENARIO})")
    parser.add_argument("--all", action="store_true", help="render all 25 scenarios")
    parser.add_argument("--workflow", default=DEFAULT_WORKFLOW.stem,
                        help="a name from workflows/api/ or the path of an API-format workflow")
    parser.add_argument("--out", default="render-out", help="folder for the outputs and summary.json")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds one prompt may take")
    args = parser.parse_args(argv)
    library = [s["id"] for s in json.loads((PACK / "assets" / "scenarios.json").read_text())["scenarios"]]
    scenarios = library if args.all else (args.scenario or [DEFAULT_SCENARIO])
    unknown = [s for s in scenarios if s not in library]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; known: {', '.join(library)}")
    try:
        template = load_workflow(args.workflow)
        workflow_for(template, scenarios[0])
        if args.start_comfyui:
            with LocalComfyUI(args.start_comfyui.expanduser(), args.cpu) as url:
                print(f"started ComfyUI at {url}", file=sys.stderr)
                results = render_batch([url], scenarios, template, Path(args.out), args.timeout)
        else:
            results = render_batch(args.server, scenarios, template, Path(args.out), args.timeout)
    except (ValueError, RuntimeError) as exc:
        parser.error(str(exc))
    print(f"{'scenario':24} {'server':28} {'seconds':>8}  attempts  error", file=sys.stderr)
    for r in results:
        print(f"{r.scenario:24} {r.server:28} {r.seconds:8.1f}  {len(r.attempts):8}  {r.error}", file=sys.stderr)
    for r in results:
        for path in r.files:
            print(Path(path).resolve())
    return 0 if all(not r.error for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
