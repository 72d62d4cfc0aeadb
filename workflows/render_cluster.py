"""Batch rendering on a Ray cluster (render.py --ray): one worker per unit of the cluster's `comfyui` resource (one
per GPU: `ray start --resources '{"comfyui": 1}'`), each owning a ComfyUI on its box, one prompt in flight each. The
driver hands out the scenarios, prints their progress, and is the only writer of OUT/: the outputs come back as
bytes through Ray. A box lost or frozen mid-prompt, or a ComfyUI that crashed, costs that prompt, which is rendered
again on another box; Ray starts a lost worker again where a `comfyui` unit is free, and a box that joins gets one.
Imported only for --ray, as `workflows.render_cluster` (see render.cluster_renderer).
"""
from __future__ import annotations

import socket
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import ray
from ray.util.queue import Queue
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from workflows.render import (PACK, Batch, Client, Files, LocalComfyUI, PromptFailed, Result, ServerDown,
                              render_scenario, to_stderr)

RESOURCE = "comfyui"
PROGRESS_EVERY = 1.0  # seconds between a worker's progress reports on one prompt
LOOK_EVERY = 2.0      # seconds between looks for boxes that joined the cluster
STOP_WAIT = 30.0      # seconds the workers get to stop their servers at the end


class ComfyUIWorker:
    """Owns one ComfyUI on its box, started from `comfyui_dir` as a plain child process that the kernel kills with
    this worker; Ray starts the worker, and so its server, again where a `comfyui` unit is free."""

    def __init__(self, comfyui_dir: str, cpu: bool, timeout: float):
        gpus = ",".join(str(g) for g in ray.get_gpu_ids())
        self.where = f"node {ray.get_runtime_context().get_node_id()[:8]} " + (f"gpu {gpus}" if gpus else "cpu")
        self.timeout = timeout
        self.server = LocalComfyUI(Path(comfyui_dir).expanduser(), cpu, die_with_parent=True)
        self.url = self.server.__enter__()
        self.broken = False

    def ready(self) -> str:
        """Where this worker runs, once its ComfyUI answers: started again if it died or stopped answering."""
        if self.broken or self.server.process.poll() is not None:
            self.server.__exit__()
            self.url = self.server.__enter__()
            self.broken = False
        return self.where

    def render(self, scenario: str, template: dict, progress: Queue) -> Files:
        reported = [0.0]

        def report(share: float) -> None:
            if share in (0.0, 1.0) or time.monotonic() - reported[0] >= PROGRESS_EVERY:
                reported[0] = time.monotonic()
                progress.put_nowait((self.where, scenario, share))

        try:
            return render_scenario(Client(self.url, self.timeout), template, scenario, report)
        except ServerDown:
            self.broken = True  # ready() starts it again; the driver renders the scenario elsewhere meanwhile
            raise

    def stop(self) -> None:
        self.server.__exit__()


@dataclass
class Worker:
    actor: Any
    where: str = ""              # "node 1a2b3c4d gpu 0", once it answered
    ready: bool = False          # its ComfyUI answers: it takes work
    scenario: str | None = None  # what it renders now
    ask_at: float | None = 0.0   # when to ask whether it is ready (None: asked already)

    @property
    def node(self) -> str:
        return self.where.split()[1] if self.where else ""


class Driver:
    def __init__(self, batch: Batch, template: dict, comfyui_dir: Path, cpu: bool, timeout: float,
                 on_start: Callable[[str, str], None] | None, on_progress: Callable[[str, str, float], None] | None):
        self.batch, self.template, self.on_start, self.on_progress = batch, template, on_start, on_progress
        self.todo = deque(batch.todo)
        self.avoid: dict[str, str] = {}  # scenario -> the node its last attempt failed on
        self.workers: list[Worker] = []
        self.calls: dict[Any, tuple[Worker, str | None]] = {}  # pending call -> its worker and scenario (None: ready())
        self.given_up: list[str] = []  # why each worker that cannot start its ComfyUI was dropped
        self.arguments = (str(comfyui_dir), cpu, timeout)
        self.worker_class = ray.remote(ComfyUIWorker).options(
            num_cpus=0, num_gpus=0 if cpu else 1, resources={RESOURCE: 1}, max_restarts=-1, max_task_retries=0)
        # On the driver's node, so that a lost box never takes the progress reports with it.
        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        self.progress = Queue(actor_options={"num_cpus": 0, "scheduling_strategy": here})

    def run(self) -> list[Result]:
        look = 0.0
        while not self.batch.complete:
            if time.monotonic() >= look:
                self.grow()
                look = time.monotonic() + LOOK_EVERY
            if not self.workers:
                for scenario in self.todo:
                    self.batch.abandon(scenario, "no worker could start ComfyUI: " + self.given_up[-1])
                break
            self.ask()
            self.dispatch()
            self.collect()
        self.stop()
        return self.batch.summary()

    def grow(self) -> None:
        """One worker per `comfyui` unit: a lost worker waits for a free unit, a box that joins adds units."""
        units = int(ray.cluster_resources().get(RESOURCE, 0))
        if units == 0 and not self.workers:
            raise RuntimeError(f"the Ray cluster has no `{RESOURCE}` resource: start each GPU box with `ray start "
                               f"--address HEAD:6379 --resources '{{\"{RESOURCE}\": 1}}'` (one unit per GPU)")
        while len(self.workers) + len(self.given_up) < units:
            self.workers.append(Worker(self.worker_class.remote(*self.arguments)))

    def ask_ready(self, worker: Worker, after: float = 0.0) -> None:
        worker.ready = False
        worker.ask_at = time.monotonic() + after

    def ask(self) -> None:
        for worker in self.workers:
            if worker.ask_at is not None and worker.ask_at <= time.monotonic():
                worker.ask_at = None
                self.calls[worker.actor.ready.remote()] = (worker, None)

    def dispatch(self) -> None:
        for worker in self.workers:
            if worker.ready and worker.scenario is None:
                scenario = self.pick(worker)
                if scenario is None:
                    continue
                self.todo.remove(scenario)
                worker.scenario = scenario
                self.batch.start(scenario, worker.where)
                self.calls[worker.actor.render.remote(scenario, self.template, self.progress)] = (worker, scenario)
                if self.on_start:
                    self.on_start(worker.where, scenario)

    def pick(self, worker: Worker) -> str | None:
        """The next scenario, except one whose last attempt failed on this worker's box while a box other than
        this one can take it."""
        elsewhere = any(w.ready and w.node != worker.node for w in self.workers)
        return next((s for s in self.todo if not elsewhere or self.avoid.get(s) != worker.node), None)

    def collect(self) -> None:
        if not self.calls:
            time.sleep(0.5)
            return
        done, _ = ray.wait(list(self.calls), num_returns=1, timeout=0.5)
        self.report_progress()  # a prompt's last report before its outcome
        for call in done:
            worker, scenario = self.calls.pop(call)
            if scenario is None:
                self.answered(worker, call)
            else:
                worker.scenario = None
                self.rendered(worker, scenario, call)

    def answered(self, worker: Worker, call: Any) -> None:
        try:
            worker.where = ray.get(call)
        except ray.exceptions.ActorUnavailableError:  # restarting, or waiting for a free `comfyui` unit
            self.ask_ready(worker, after=1.0)
            return
        except ray.exceptions.RayActorError as exc:  # dead for good: its __init__ failed
            self.give_up(worker, str(exc).strip().splitlines()[-1])  # the exception's line, not Ray's traceback
            return
        except ray.exceptions.RayTaskError as exc:  # ComfyUI did not start again
            self.give_up(worker, str(exc.cause))
            return
        worker.ready = True
        self.batch.log(f"  ComfyUI ready on {worker.where}")

    def give_up(self, worker: Worker, error: str) -> None:
        self.batch.log(f"  a worker could not start ComfyUI and is left out: {error}")
        self.workers.remove(worker)
        self.given_up.append(error)
        ray.kill(worker.actor, no_restart=True)

    def rendered(self, worker: Worker, scenario: str, call: Any) -> None:
        try:
            files = ray.get(call)
        except PromptFailed as exc:
            self.again(scenario, worker, self.batch.failed(scenario, str(exc.cause)))
        except ServerDown as exc:
            self.ask_ready(worker)
            self.again(scenario, worker, self.batch.failed(scenario, f"{worker.where}: {exc.cause}", box=True))
        except ray.exceptions.RayTaskError as exc:  # any other error in the worker: the prompt's fault
            self.again(scenario, worker, self.batch.failed(scenario, f"{worker.where}: {exc.cause!r}"))
        except ray.exceptions.RayError as exc:
            self.ask_ready(worker)
            error = f"lost {worker.where} ({type(exc).__name__}: the box died or stopped answering, or its worker died)"
            self.again(scenario, worker, self.batch.failed(scenario, error, box=True))
        else:
            self.batch.succeeded(scenario, files)

    def again(self, scenario: str, worker: Worker, retry: bool) -> None:
        if retry:
            self.todo.appendleft(scenario)
            self.avoid[scenario] = worker.node

    def report_progress(self) -> None:
        waiting = self.progress.qsize()
        for where, scenario, share in self.progress.get_nowait_batch(waiting) if waiting else ():
            self.batch.progress(scenario, where, share)
            if self.on_progress:
                self.on_progress(where, scenario, share)

    def stop(self) -> None:
        """Let the workers that answer stop their servers (removing their base folders); end them all."""
        stops = [w.actor.stop.remote() for w in self.workers if w.ready]
        if stops:
            ray.wait(stops, num_returns=len(stops), timeout=STOP_WAIT)
        for worker in self.workers:
            ray.kill(worker.actor, no_restart=True)


def connect(address: str, out_dir: Path) -> None:
    """Join the cluster and hand it this checkout as the working directory: each box then imports the worker from
    it and links it into its ComfyUI (a `ray job submit --working-dir` copy hands on itself)."""
    excludes = ["tests"]  # and .git, which Ray leaves out itself
    if out_dir.resolve().is_relative_to(PACK):
        excludes.append(str(out_dir.resolve().relative_to(PACK)))
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        if port.isdigit():  # ray.init retries an address that does not answer for minutes
            socket.create_connection((host, int(port)), timeout=10).close()
        ray.init(address=address, runtime_env={"working_dir": str(PACK), "excludes": excludes})
    except (ConnectionError, OSError) as exc:
        raise RuntimeError(f"no Ray cluster answers at {address!r} ({exc}): start one with `ray start --head` and "
                           "give its address (HEAD:6379), or `auto` on a box of the cluster") from exc


def render_on_cluster(address: str, scenarios: list[str], template: dict, out_dir: Path, comfyui_dir: Path,
                      cpu: bool, timeout: float = 1800.0, resume: bool = False,
                      log: Callable[[str], None] = to_stderr,
                      on_start: Callable[[str, str], None] | None = None,
                      on_progress: Callable[[str, str, float], None] | None = None) -> list[Result]:
    """Render every scenario on the cluster at `address`; returns one Result each and writes OUT/summary.json, like
    render.render_batch. `comfyui_dir`: the ComfyUI folder on every box (~ is its user's home there).
    `on_start(where, scenario)` as each prompt is handed out, `on_progress(where, scenario, share)` as its reports
    arrive (tests and the benchmark use them)."""
    batch = Batch(scenarios, out_dir, resume, log)
    connect(address, out_dir)
    try:
        return Driver(batch, template, comfyui_dir, cpu, timeout, on_start, on_progress).run()
    finally:
        ray.shutdown()
