"""Headless batch rendering: post a ToonGen workflow for many scenarios to one or more ComfyUI servers.

    python nodes/batch_render.py --server http://127.0.0.1:8188 [--server http://gpu2:8188 …] \\
        [--scenario fake_doors --scenario plumbus | --all] [--workflow workflows/toongen_clip_flux_nf4.api.json] \\
        [--out renders]

Work is spread over the servers (one prompt in flight per server), each prompt is followed over ComfyUI's websocket
with a progress line, a failed prompt is retried once (on another server when there is one; a server that stops
answering is dropped), and every output file is fetched through /view into OUT/<scenario>/. OUT/summary.json lists
scenario, server, seconds, files and error. Standalone: the standard library and websocket-client only.
"""
from __future__ import annotations

import argparse
import json
import queue
import sys
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
DEFAULT_WORKFLOW = PACK / "workflows" / "toongen_audio_only.api.json"
OUTPUT_KINDS = ("audio", "images", "gifs", "videos")


@dataclass
class Result:
    scenario: str
    server: str = ""
    seconds: float = 0.0
    files: list[str] = field(default_factory=list)
    error: str = ""
    attempts: int = 0


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

    def run(self, graph: dict, on_progress: Callable[[float], None]) -> dict:
        """Queue the prompt, follow it on the websocket, return its /history entry."""
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
                 on_start: Callable[[str, str], None] | None = None) -> list[Result]:
    """Render every scenario; returns one Result each (error empty on success). `on_start(server, scenario)` is
    called as each prompt is sent (tests use it)."""
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
            result.attempts += 1
            result.server = url
            started = time.monotonic()
            if on_start:
                on_start(url, scenario)
            try:
                entry = client.run(workflow_for(template, scenario),
                                   lambda share: log(f"  {scenario} on {url}: {share:4.0%}"))
                result.files = client.download(entry, out_dir / scenario)
                result.error = ""
            except (ServerDown, PromptFailed) as exc:
                result.error = str(exc)
                down = isinstance(exc, ServerDown)
                with lock:
                    if down:
                        alive.discard(url)
                    can_retry = result.attempts < 2 and bool(alive)
                if can_retry:
                    log(f"  {scenario} failed on {url} ({exc}); retrying once")
                    work.put(scenario)
                    if down:
                        return  # this server is gone; the others take the work
                    continue
                result.seconds = time.monotonic() - started
                finish(result)
                if down:
                    with lock:
                        if not alive:  # nobody left: fail what remains
                            while not work.empty():
                                left = results[work.get()]
                                left.error = left.error or "no server left"
                                done[0] += 1
                    return
                continue
            result.seconds = time.monotonic() - started
            finish(result)

    threads = [threading.Thread(target=worker, args=(url,), daemon=True) for url in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ordered = [results[s] for s in scenarios]
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "summary.json").write_text(json.dumps([asdict(r) for r in ordered], indent=2))
    return ordered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render ToonGen scenarios on one or more ComfyUI servers.")
    parser.add_argument("--server", action="append", required=True, help="ComfyUI URL; repeat to spread the work")
    parser.add_argument("--scenario", action="append", default=[], help="scenario id; repeatable")
    parser.add_argument("--all", action="store_true", help="render all 25 scenarios")
    parser.add_argument("--workflow", default=str(DEFAULT_WORKFLOW), help="API-format workflow with a Scenario node")
    parser.add_argument("--out", default="renders", help="folder for the outputs and summary.json")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds one prompt may take")
    args = parser.parse_args(argv)
    library = [s["id"] for s in json.loads((PACK / "assets" / "scenarios.json").read_text())["scenarios"]]
    scenarios = library if args.all else args.scenario
    unknown = [s for s in scenarios if s not in library]
    if not scenarios or unknown:
        parser.error(f"unknown scenario(s) {unknown}; known: {', '.join(library)}" if unknown
                     else "give --scenario ID (repeatable) or --all")
    results = render_batch(args.server, scenarios, json.loads(Path(args.workflow).read_text()), Path(args.out),
                           args.timeout)
    print(f"{'scenario':24} {'server':28} {'seconds':>8}  files / error")
    for r in results:
        print(f"{r.scenario:24} {r.server:28} {r.seconds:8.1f}  {r.error or ', '.join(Path(f).name for f in r.files)}")
    return 0 if all(not r.error for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
