"""ONNX Runtime sessions for the offline voices: bounded memory, extra graph outputs, and runs that stop within
a fraction of a second when the user cancels (ONNX Runtime's `RunOptions.terminate`, set from a watcher thread).

Memory, measured on the embedded Kokoro (one call of 300 phonemes ≈ 20 s of audio; README, memory section):
* ONNX Runtime's CPU arena as it comes keeps the peak of the longest input it ever saw for the life of the
  session (+0.3 GB per 20 s piece, +1.2 GB after a long script), because it never gives chunks back;
* without the arena every tensor is a malloc: glibc does not reuse the freed blocks across ORT's threads and the
  call peaks near +1 GB even for a 7 s piece, then leaves it as free heap until `malloc_trim`;
* the arena with shrinkage at the end of every run (what `run` asks for) peaks at about the live tensors
  (+0.18 GB for 7 s, +0.48 GB for 20 s) and hands its chunks back when the call returns.
"""
from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Sequence

from ..runtime import interrupt

WATCH_INTERVAL_S = 0.02


def default_threads() -> int:
    return max(1, min(8, os.cpu_count() or 1))


# Asked on every run: the CPU arena frees its unused chunks when the run ends (see the module docstring).
ARENA_SHRINKAGE = ("memory.enable_memory_arena_shrinkage", "cpu:0")


def create_session(model: str | Path, threads: int | None = None):
    """A CPU session whose memory follows the current run (with `run`, which shrinks its arena after each call)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or default_threads()
    options.enable_cpu_mem_arena = True
    options.enable_mem_pattern = False  # patterns are planned per input shape; ours changes every call
    return onnxruntime.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])


def with_outputs(model: Path, outputs: Sequence[str], folder: Path | None = None) -> Path:
    """A copy of `model` that also returns the named intermediate values as graph outputs, written once next to it
    (or into `folder`) and reused while the source is unchanged."""
    model = Path(model)
    stat = model.stat()
    tag = hashlib.sha256(f"{model.name}|{stat.st_size}|{stat.st_mtime_ns}|{'|'.join(outputs)}".encode()).hexdigest()[:12]
    target = (folder or model.parent) / f"{model.stem}.outputs-{tag}.onnx"
    if target.is_file():
        return target
    import onnx

    proto = onnx.load(str(model))
    produced = {name for node in proto.graph.node for name in node.output}
    missing = [name for name in outputs if name not in produced]
    if missing:
        raise ValueError(f"{model.name} has no value named {', '.join(missing)}; it is not the expected model.")
    present = {o.name for o in proto.graph.output}
    proto.graph.output.extend(onnx.ValueInfoProto(name=name) for name in outputs if name not in present)
    return save_model(proto, target)


def save_model(proto, target: Path) -> Path:
    """Write an ONNX model atomically (a partial file renamed into place), so a reader never sees half a model."""
    import onnx

    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + f".{os.getpid()}.partial")
    try:
        onnx.save(proto, str(partial))
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def run(session, feeds: dict, output_names: Sequence[str] | None = None) -> list:
    """`session.run` that ends within about WATCH_INTERVAL_S of a cancel request, raising the host's interrupt, and
    gives the arena's memory back when it returns."""
    import onnxruntime

    options = onnxruntime.RunOptions()
    options.add_run_config_entry(*ARENA_SHRINKAGE)
    finished = threading.Event()

    def watch() -> None:
        while not finished.wait(WATCH_INTERVAL_S):
            if interrupt.requested():
                options.terminate = True
                return

    watcher = threading.Thread(target=watch, name="toongen-onnx-cancel", daemon=True)
    watcher.start()
    try:
        return session.run(list(output_names) if output_names else None, feeds, options)
    except Exception:
        if options.terminate:
            interrupt.check()
        raise
    finally:
        finished.set()
        watcher.join()
