"""Render ToonGen scenarios headless through ComfyUI's /prompt: on one server, or on a Ray cluster of GPU boxes.

    python workflows/render.py --server http://127.0.0.1:8188 --scenario plumbus
    python workflows/render.py --start-comfyui ~/ComfyUI --cpu          # no server running: start one for the run
    python workflows/render.py --ray auto --start-comfyui ~/ComfyUI --all \\
        --workflow toongen_clip_flux_gguf --out /data/renders          # every box of a Ray cluster (render_cluster.py)

`--workflow` is a name from workflows/api/ (default toongen_audio_only, which needs no model files and runs on CPU)
or the path of an API-format workflow with a ToonGen Scenario node. One prompt at a time is followed over the
server's websocket with a progress line; a failed prompt is retried once; every output comes back as bytes through
/view and is written into OUT/<scenario>/, after which a line in OUT/journal.jsonl records the scenario as done
(`--resume` renders only what the journal lacks). OUT/summary.json lists each scenario's outcome and every attempt
(server, seconds, error). The files written are printed, one per line. One server needs the standard library and
websocket-client only; several servers or boxes mean a Ray cluster (`--ray`, workflows/requirements-render.txt).

A dialogue scenario (its script `[voice_style]` lines, e.g. fake_doors_dialogue) needs a workflow with Script /
Dialogue (--workflow toongen_dialogue_audio); a one-voice workflow would read its tags aloud, so the pairing is
checked before anything renders: a scenario named with --scenario that the workflow cannot speak is an error that
names the workflow to use, and --all renders the scenarios the workflow can speak and skips the others with a
message.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
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
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

PACK = Path(__file__).resolve().parent.parent
API_WORKFLOWS = PACK / "workflows" / "api"
DEFAULT_WORKFLOW = API_WORKFLOWS / "toongen_audio_only.json"
DEFAULT_SCENARIO = "fake_doors"
DIALOGUE_WORKFLOW = "toongen_dialogue_audio"
DEFAULT_DIALOGUE_SCENARIO = "fake_doors_dialogue"
SCENARIOS_FILE = PACK / "assets" / "scenarios.json"
OUTPUT_KINDS = ("audio", "images", "gifs", "videos")
JOURNAL = "journal.jsonl"
REQUIREMENTS = "workflows/requirements-render.txt"
MAX_BOX_FAILURES = 3  # a scenario that took this many servers or boxes down with it is given up

Files = list[tuple[str, bytes]]  # one scenario's outputs: (file name, content)


def to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


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


EVERYONE = "(everyone)"  # Mouth Shapes' speaker that follows every line


def cast_dialogue(graph: dict, item: dict) -> None:
    """Put a dialogue scenario into a dialogue workflow: its script into Script / Dialogue when the script is typed
    in (a workflow without a Scenario node), its music into Load BGM, and its characters into each Mouth Shapes'
    and Speaker Stem's `speaker`: the workflow's speakers in the order they first appear (the left face first)
    become the scenario's, in the order they first speak."""
    nodes = graph.values()
    for node in nodes:
        inputs = node.get("inputs", {})
        if node.get("class_type") == "ToonGenScript" and isinstance(inputs.get("script"), str):
            inputs["script"] = item["script"]
        elif node.get("class_type") == "ToonGenLoadBGM" and item.get("bgm") and isinstance(inputs.get("name"), str):
            inputs["name"] = item["bgm"]
    cast = [node["inputs"] for node in nodes if node.get("class_type") in ("ToonGenMouthShapes", "ToonGenSpeakerStem")
            and isinstance(node.get("inputs", {}).get("speaker"), str) and node["inputs"]["speaker"] != EVERYONE]
    roles = list(dict.fromkeys(inputs["speaker"] for inputs in cast))
    if len(roles) > len(item["speakers"]):
        raise ValueError(f"the workflow animates {len(roles)} characters ({', '.join(roles)}) and {item['id']} has "
                         f"{len(item['speakers'])} ({', '.join(item['speakers'])})")
    for inputs in cast:
        inputs["speaker"] = item["speakers"][roles.index(inputs["speaker"])]


def workflow_for(template: dict, scenario: str) -> dict:
    """The workflow set to render `scenario`: its Scenario node set to it (a dialogue workflow without one gets the
    scenario's script and music typed in), its characters cast for a dialogue, and its saved files named after it."""
    graph = json.loads(json.dumps(template))
    found = False
    for node in graph.values():
        if node.get("class_type") == "ToonGenScenario":
            node["inputs"]["scenario"] = scenario
            found = True
        elif node.get("class_type") in ("ToonGenSaveWAV", "SaveAudio", "VHS_VideoCombine", "ToonGenCaptions"):
            node["inputs"]["filename_prefix"] = f"toongen/{scenario}"
    item = scenario_items().get(scenario)
    if speaks_dialogue(graph) and item is not None and item.get("speakers"):
        cast_dialogue(graph, item)
        found = found or any(node.get("class_type") == "ToonGenScript" for node in graph.values())
    if not found:
        raise ValueError("the workflow has no ToonGenScenario node to set the scenario on")
    return graph


def scenario_items() -> dict[str, dict]:
    """assets/scenarios.json's scenarios by id, as the file has them."""
    return {s["id"]: s for s in json.loads(SCENARIOS_FILE.read_text())["scenarios"]}


def scenario_library() -> dict[str, bool]:
    """Every scenario id in assets/scenarios.json, in order, and whether it is a dialogue (its script is
    `[voice_style]` lines, its speakers listed; nodes/library/scenarios.py checks the two agree)."""
    return {sid: bool(s.get("speakers")) for sid, s in scenario_items().items()}


def speaks_dialogue(template: dict) -> bool:
    """A dialogue workflow: its script is spoken by Script / Dialogue (ToonGenScript), which reads the tags."""
    return any(node.get("class_type") == "ToonGenScript" for node in template.values())


def split_for_workflow(template: dict, scenarios: list[str], library: dict[str, bool]) -> tuple[list[str], list[str]]:
    """The scenarios the workflow can speak and those it cannot: a one-voice workflow (Speak) would read a
    dialogue's [voice_style] tags aloud, and Script / Dialogue refuses a plain script (its first line has no tag)."""
    dialogue = speaks_dialogue(template)
    fits = [s for s in scenarios if library.get(s, False) == dialogue]
    return fits, [s for s in scenarios if library.get(s, False) != dialogue]


def wrong_workflow(template: dict, workflow: str, misfits: list[str]) -> str:
    """Why `misfits` cannot be rendered with this workflow, and the fix."""
    if speaks_dialogue(template):
        return (f"{', '.join(misfits)}: one-voice scenario(s), and {workflow} speaks its script with Script / "
                "Dialogue, which needs [voice_style] tags on the lines. Render them with --workflow toongen_audio_only (or a "
                "clip workflow), or pick a dialogue variant (ids ending in _dialogue)")
    return (f"{', '.join(misfits)}: dialogue scenario(s) (a script of [voice_style] lines for two characters), and "
            f"{workflow} has no Script / Dialogue node (ToonGenScript): its Speak would read the tags aloud. Render "
            f"them with --workflow {DIALOGUE_WORKFLOW}")


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


def node_errors_text(node_errors: dict) -> str:
    """/prompt's node_errors in one line: each node, its type and what failed."""
    parts = []
    for node_id, entry in node_errors.items():
        details = "; ".join(e.get("details") or e.get("message", "") for e in entry.get("errors", []))
        parts.append(f"node {node_id} ({entry.get('class_type', '?')}): {details}")
    return " | ".join(parts)


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
            queued = json.loads(self._http("/prompt", {"prompt": graph, "client_id": self.client_id}))
            if queued.get("node_errors"):  # ComfyUI runs the outputs that validated and drops the rest silently
                if queued.get("prompt_id"):
                    self._http("/queue", {"delete": [queued["prompt_id"]]})  # if it has not started yet
                raise PromptFailed(f"the workflow does not validate: {node_errors_text(queued['node_errors'])}")
            prompt_id = queued["prompt_id"]
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

    def outputs(self, entry: dict) -> Files:
        """The prompt's saved outputs (type "output"), fetched through /view: the only way they leave the server."""
        files = []
        for node in entry.get("outputs", {}).values():
            items = [item for kind in OUTPUT_KINDS for item in node.get(kind, [])] + caption_files(node)
            for item in items:
                if item.get("type") == "output":
                    query = urllib.parse.urlencode({k: item[k] for k in ("filename", "subfolder", "type")})
                    files.append((item["filename"], self._http(f"/view?{query}")))
        return files


def caption_files(node_output: dict) -> list[dict]:
    """The .srt and .vtt files a Captions node wrote, which it names in its UI text as output/<subfolder>/<file>
    (its other text is the captions themselves), as /view's filename, subfolder and type."""
    files = []
    for text in node_output.get("text", []):
        if isinstance(text, str) and text.startswith("output/") and text.endswith((".srt", ".vtt")) \
                and "\n" not in text:
            subfolder, _, name = text.removeprefix("output/").rpartition("/")
            files.append({"filename": name, "subfolder": subfolder, "type": "output"})
    return files


def render_scenario(client: Client, template: dict, scenario: str, on_progress: Callable[[float], None],
                    on_message: Callable[[dict], None] | None = None) -> Files:
    """One scenario on one server, start to outputs: what the one-server loop and every cluster worker run."""
    return client.outputs(client.run(workflow_for(template, scenario), on_progress, on_message))


def write_outputs(folder: Path, files: Files) -> list[str]:
    """Write one scenario's files into `folder` as a whole: into a hidden folder beside it, then renamed into place,
    so `folder` never holds half a render; what it held before (an unfinished earlier run, not in the journal) goes."""
    partial = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    names = [Path(name).name for name, _ in files]  # a server's file name never picks a folder of OUT/
    for name, (_, data) in zip(names, files):
        (partial / name).write_bytes(data)
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    return [str(folder / name) for name in names]


def journal_of(out_dir: Path, resume: bool) -> dict[str, Result]:
    """The scenarios an earlier run in `out_dir` finished, as OUT/journal.jsonl records them (a last line cut short by
    a kill is ignored); an earlier batch there without `resume` is refused, so that nothing is rendered twice."""
    journal = out_dir / JOURNAL
    if not journal.exists():
        return {}
    if not resume:
        raise ValueError(f"{out_dir} holds an earlier batch ({journal}): add --resume to render only the scenarios "
                         "it lacks, or give another --out")
    done = {}
    for line in journal.read_text().splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        entry["attempts"] = [Attempt(**a) for a in entry["attempts"]]
        done[entry["scenario"]] = Result(**entry)
    return done


class Batch:
    """One run's bookkeeping, shared by the one-server loop and the cluster driver: each scenario's Result and
    attempts, the progress lines, the retry rule, and OUT/, which only this object writes: a rendered scenario's
    files from their bytes into OUT/<scenario>/, then its line in OUT/journal.jsonl, and OUT/summary.json at the end."""

    def __init__(self, scenarios: list[str], out_dir: Path, resume: bool = False,
                 log: Callable[[str], None] = to_stderr):
        self.out_dir, self.log = out_dir, log
        self.journal = out_dir / JOURNAL
        done = journal_of(out_dir, resume)
        if self.journal.exists() and not self.journal.read_bytes().endswith(b"\n"):
            with open(self.journal, "a") as journal:
                journal.write("\n")  # after a line cut short by a kill, the next one starts a line of its own
        self.results = {s: done.get(s) or Result(s) for s in scenarios}
        self.todo = [s for s in scenarios if s not in done]
        self.finished = len(scenarios) - len(self.todo)
        self.box_failures = {s: 0 for s in scenarios}
        self.prompt_failures = {s: 0 for s in scenarios}
        self.started: dict[str, float] = {}
        if done:
            log(f"resuming: {self.finished} of {len(scenarios)} scenarios are done in {self.journal}")

    @property
    def complete(self) -> bool:
        return self.finished == len(self.results)

    def start(self, scenario: str, where: str) -> None:
        result = self.results[scenario]
        result.attempts.append(Attempt(where))
        result.server = where
        self.started[scenario] = time.monotonic()

    def progress(self, scenario: str, where: str, share: float) -> None:
        self.log(f"  {scenario} on {where}: {share:4.0%}")

    def _end_attempt(self, scenario: str, error: str) -> Result:
        result = self.results[scenario]
        attempt = result.attempts[-1]
        attempt.seconds = time.monotonic() - self.started.pop(scenario)
        attempt.error = result.error = error
        result.seconds = sum(a.seconds for a in result.attempts)
        return result

    def succeeded(self, scenario: str, files: Files) -> None:
        result = self._end_attempt(scenario, "")
        result.files = write_outputs(self.out_dir / scenario, files)
        with open(self.journal, "a") as journal:
            journal.write(json.dumps(asdict(result)) + "\n")
            journal.flush()
            os.fsync(journal.fileno())
        self._finish(result)

    def failed(self, scenario: str, error: str, box: bool = False, final: bool = False) -> bool:
        """Record a failed attempt; returns whether to render the scenario again: once after a failed prompt, up to
        MAX_BOX_FAILURES times after the server or box was lost under it (`box`), never when `final`."""
        result = self._end_attempt(scenario, error)
        failures = self.box_failures if box else self.prompt_failures
        failures[scenario] += 1
        if not final and failures[scenario] < (MAX_BOX_FAILURES if box else 2):
            self.log(f"  {scenario} failed on {result.server} ({error}); rendering it again")
            return True
        self._finish(result)
        return False

    def abandon(self, scenario: str, error: str) -> None:
        self.results[scenario].error = error
        self._finish(self.results[scenario])

    def _finish(self, result: Result) -> None:
        self.finished += 1
        status = "ok" if not result.error else f"FAILED: {result.error}"
        where = f" on {result.server} in {result.seconds:.1f} s" if result.attempts else ""
        self.log(f"[{self.finished}/{len(self.results)}] {result.scenario}{where}: {status}")

    def summary(self) -> list[Result]:
        ordered = list(self.results.values())
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / "summary.json").write_text(json.dumps([asdict(r) for r in ordered], indent=2))
        return ordered


def render_batch(server: str, scenarios: list[str], template: dict, out_dir: Path, timeout: float = 1800.0,
                 log: Callable[[str], None] = to_stderr,
                 on_start: Callable[[str, str], None] | None = None,
                 on_message: Callable[[str, str, dict], None] | None = None, resume: bool = False) -> list[Result]:
    """Render every scenario on one server, one prompt at a time; returns one Result each (error empty on success)
    and writes OUT/summary.json. `resume`: skip the scenarios OUT/journal.jsonl lists. `on_start(server, scenario)`
    is called as each prompt is sent (tests use it); `on_message(server, scenario, message)` sees each websocket
    message of that prompt (the clip benchmark times the stages with them)."""
    misfits = split_for_workflow(template, scenarios, scenario_library())[1]
    if misfits:
        raise ValueError(wrong_workflow(template, "this workflow", misfits))
    batch = Batch(scenarios, out_dir, resume, log)
    client = Client(server, timeout)
    todo = deque(batch.todo)
    while todo:
        scenario = todo.popleft()
        batch.start(scenario, server)
        if on_start:
            on_start(server, scenario)
        try:
            files = render_scenario(client, template, scenario,
                                    lambda share: batch.progress(scenario, server, share),
                                    (lambda message: on_message(server, scenario, message)) if on_message else None)
        except PromptFailed as exc:
            if batch.failed(scenario, str(exc)):
                todo.appendleft(scenario)
            continue
        except ServerDown as exc:
            batch.failed(scenario, str(exc), final=True)
            for left in todo:
                batch.abandon(left, f"not rendered: the server stopped answering ({exc})")
            break
        batch.succeeded(scenario, files)
    return batch.summary()


def database_args(comfyui_dir: Path, base_dir: Path) -> list[str]:
    """ComfyUI 0.3.6x and later open an sqlite database whose default path is <ComfyUI>/user/comfyui.db, beside
    main.py and not under --base-directory: with a base directory that folder may not exist ("Failed to initialize
    database … unable to open database file"), and several servers of one tree would share one file. Give each
    server its own, under its base directory."""
    if "--database-url" not in (comfyui_dir / "comfy" / "cli_args.py").read_text():
        return []  # older ComfyUI: no database
    return ["--database-url", f"sqlite:///{base_dir / 'user' / 'comfyui.db'}"]


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def dies_with_parent() -> Callable[[], None] | None:
    """A preexec_fn that makes the child get SIGKILL when the thread that started it dies (Linux only): a Ray worker
    killed outright (out of memory, its box's Ray stopped) then leaves no ComfyUI behind holding the GPU."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork: the child only calls it
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)
    return preexec


def is_this_pack(folder: Path) -> bool:
    project = folder / "pyproject.toml"
    return folder.resolve() == PACK or (project.is_file() and 'name = "comfyui-toongen"' in project.read_text())


def borrowed_from(comfyui_dir: Path) -> list[tuple[str, Path]]:
    """What a fresh base directory links in from the ComfyUI folder, as (place in the base directory, target): its
    models/ and its other custom node packs (the clip workflows need both; ComfyUI skips there what it skips
    anyway), never an installed copy of this pack: the running checkout is linked in instead."""
    models, nodes = comfyui_dir / "models", comfyui_dir / "custom_nodes"
    packs = [p for p in sorted(nodes.iterdir()) if not is_this_pack(p)] if nodes.is_dir() else []
    return ([("models", models)] if models.is_dir() else []) + [(f"custom_nodes/{p.name}", p) for p in packs]


class LocalComfyUI:
    """A headless ComfyUI started from a ComfyUI folder for one run: a fresh base directory (its own input/, output/
    and database) with this pack linked into custom_nodes/, beside the folder's models/ and other custom node packs;
    stopped afterwards and its base directory removed. Started with the Python running this command, which must be
    the one ComfyUI's requirements are installed in. `die_with_parent`: a plain child that the kernel kills when its
    parent dies (a cluster worker's server); otherwise a session of its own, stopped with its process group."""

    def __init__(self, comfyui_dir: Path, cpu: bool, timeout: float = 180.0, die_with_parent: bool = False):
        if not (comfyui_dir / "main.py").is_file():
            raise ValueError(f"{comfyui_dir} is not a ComfyUI folder (no main.py); give --start-comfyui the folder "
                             "that holds ComfyUI's main.py")
        self.comfyui_dir, self.cpu, self.timeout, self.die_with_parent = comfyui_dir, cpu, timeout, die_with_parent

    def __enter__(self) -> str:
        self.base = Path(tempfile.mkdtemp(prefix="toongen-render-"))
        for sub in ("custom_nodes", "user"):
            (self.base / sub).mkdir()
        (self.base / "custom_nodes" / "comfyui-toongen").symlink_to(PACK, target_is_directory=True)
        for place, target in borrowed_from(self.comfyui_dir):
            (self.base / place).symlink_to(target, target_is_directory=target.is_dir())
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.log = open(self.base / "comfyui.log", "wb")
        self.process = subprocess.Popen(
            [sys.executable, "main.py", "--listen", "127.0.0.1", "--port", str(port), "--base-directory",
             str(self.base), "--disable-auto-launch", *database_args(self.comfyui_dir, self.base),
             *(["--cpu"] if self.cpu else [])],
            cwd=self.comfyui_dir, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=not self.die_with_parent,
            preexec_fn=dies_with_parent() if self.die_with_parent else None)
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

    def _signal(self, sig: int) -> None:
        if self.die_with_parent:
            self.process.send_signal(sig)
        else:
            os.killpg(self.process.pid, sig)

    def __exit__(self, *exc) -> None:
        if self.process.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.process.wait()
        self.log.close()
        shutil.rmtree(self.base, ignore_errors=True)


def cluster_renderer():
    """workflows/render_cluster.py, imported for --ray only, and under its top-level name: the other boxes find the
    worker class by that name in the working directory Ray copies to them."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise ValueError(f"--ray needs Ray, which this Python lacks: pip install -r {REQUIREMENTS} (on every box, "
                         "into the Python that runs ComfyUI)") from None
    if str(PACK) not in sys.path:
        sys.path.insert(0, str(PACK))
    import workflows.render_cluster as cluster
    return cluster


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", action="append", metavar="URL", help="a running ComfyUI with ToonGen installed")
    parser.add_argument("--start-comfyui", type=Path, metavar="DIR",
                        help="start a headless ComfyUI from this folder for the run (this pack linked in); with "
                             "--ray, the folder on every box (default ~/ComfyUI)")
    parser.add_argument("--ray", metavar="ADDRESS",
                        help="render on a Ray cluster, one ComfyUI per unit of its `comfyui` resource: what "
                             "ray.init takes (`auto` inside `ray job submit`, or HEAD:6379)")
    parser.add_argument("--cpu", action="store_true", help="with --start-comfyui: run ComfyUI on the CPU")
    parser.add_argument("--scenario", action="append", default=[],
                        help=f"scenario id from assets/scenarios.json; repeatable (default {DEFAULT_SCENARIO}, with a "
                             f"dialogue workflow {DEFAULT_DIALOGUE_SCENARIO})")
    parser.add_argument("--all", action="store_true",
                        help="render every scenario the workflow can speak: the 25 one-voice scenarios with a "
                             f"one-voice workflow, the dialogue variants with {DIALOGUE_WORKFLOW}; the others "
                             "are skipped with a message")
    parser.add_argument("--workflow", default=DEFAULT_WORKFLOW.stem,
                        help="a name from workflows/api/ or the path of an API-format workflow")
    parser.add_argument("--out", default="render-out", help="folder for the outputs, journal.jsonl and summary.json")
    parser.add_argument("--resume", action="store_true", help="render only the scenarios OUT/journal.jsonl lacks")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds one prompt may take")
    args = parser.parse_args(argv)
    if args.server and len(args.server) > 1:
        parser.error("one --server at a time: to spread a batch over several servers or boxes, start them as a Ray "
                     "cluster and give --ray (nodes/web/docs/guide/render.md)")
    if args.server and (args.start_comfyui or args.ray):
        parser.error("--server renders on a running server: leave out --start-comfyui and --ray")
    if not (args.server or args.start_comfyui or args.ray):
        parser.error("say where to render: --server URL, --start-comfyui DIR or --ray ADDRESS")
    library = scenario_library()
    unknown = [s for s in args.scenario if s not in library]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; known: {', '.join(library)}")
    out = Path(args.out)
    try:
        template = load_workflow(args.workflow)
        default = DEFAULT_DIALOGUE_SCENARIO if speaks_dialogue(template) else DEFAULT_SCENARIO
        scenarios = list(library) if args.all else (args.scenario or [default])
        scenarios, misfits = split_for_workflow(template, scenarios, library)
        if misfits and not args.all:  # refused before anything starts
            raise ValueError(wrong_workflow(template, args.workflow, misfits))
        if misfits:
            print(f"--all with {args.workflow}: skipping {len(misfits)} scenario(s) it cannot speak: "
                  f"{wrong_workflow(template, args.workflow, misfits)}", file=sys.stderr)
        if not scenarios:
            raise ValueError(f"{args.workflow} can speak none of the scenarios: "
                             f"{wrong_workflow(template, args.workflow, misfits)}")
        workflow_for(template, scenarios[0])
        done = journal_of(out, args.resume)  # an earlier batch is refused before anything starts
        if all(s in done for s in scenarios):
            results = Batch(scenarios, out, resume=True).summary()  # nothing left to render: start nothing
        elif args.ray:
            results = cluster_renderer().render_on_cluster(
                args.ray, scenarios, template, out, args.start_comfyui or Path("~/ComfyUI"), args.cpu,
                args.timeout, args.resume)
        elif args.start_comfyui:
            with LocalComfyUI(args.start_comfyui.expanduser(), args.cpu) as url:
                print(f"started ComfyUI at {url}", file=sys.stderr)
                results = render_batch(url, scenarios, template, out, args.timeout, resume=args.resume)
        else:
            results = render_batch(args.server[0], scenarios, template, out, args.timeout, resume=args.resume)
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
