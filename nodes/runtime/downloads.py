"""Model files fetched from the Hugging Face Hub on first use, into ComfyUI's models/tts folders.

On by default; `HF_HUB_OFFLINE=1` (or `TRANSFORMERS_OFFLINE=1`) or `TOONGEN_ALLOW_DOWNLOAD=0` turn it off, and the
engines' errors then list the exact files and where each one comes from.

Each file is downloaded with huggingface_hub into a hidden staging folder beside its destination, checked against
the size and hash the Hub announces for it (the sha256 of an LFS file, the git blob sha1 of a small one), and only
then renamed into place. A download that was cut off, or that arrived damaged, therefore never leaves a file at the
final path that would later load as a broken model. No ComfyUI import here: progress goes to a callback.
"""
from __future__ import annotations

import hashlib
import inspect
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

log = logging.getLogger("ToonGen")

ALLOW_DOWNLOAD_ENV = "TOONGEN_ALLOW_DOWNLOAD"
STAGING_DIR = ".toongen-download"
Progress = Callable[[int, int], None]  # (bytes done, bytes in all): ComfyUI's node progress bar, a log, …
_TRUE = {"1", "on", "yes", "true"}      # huggingface_hub's reading of HF_HUB_OFFLINE
_FALSE = {"0", "off", "no", "false"}


class ModelDownloadError(RuntimeError):
    """A model file could not be fetched or did not match what the Hub announced; nothing was left in its place."""


@dataclass(frozen=True)
class HubFile:
    """One file of a Hub repository and where it lives locally: `root / filename` mirrors the repository layout."""

    repo_id: str
    filename: str  # path inside the repository, e.g. "voices/af_heart.pt"
    root: Path     # the local folder that stands for the repository's root

    @property
    def path(self) -> Path:
        return self.root / self.filename

    @property
    def url(self) -> str:
        endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
        return f"{endpoint}/{self.repo_id}/resolve/main/{self.filename}"


def downloads_off_reason() -> str | None:
    """None when ToonGen may download (the default); else the setting that turned downloads off."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        value = os.environ.get(name, "").strip()
        if value.lower() in _TRUE:
            return f"{name}={value}"
    value = os.environ.get(ALLOW_DOWNLOAD_ENV, "").strip()
    if value.lower() in _FALSE:
        return f"{ALLOW_DOWNLOAD_ENV}={value}"
    return None


def downloads_allowed() -> bool:
    return downloads_off_reason() is None


def missing(files: Iterable[HubFile]) -> list[HubFile]:
    return [f for f in files if not f.path.is_file()]


def file_listing(files: Iterable[HubFile]) -> str:
    """One line per file: where it goes, and where to get it."""
    return "\n".join(f"  {f.path}\n      from {f.url}" for f in files)


def download_note() -> str:
    """What the user can do about missing files, given this process's download settings."""
    reason = downloads_off_reason()
    if reason is None:
        return ("ToonGen downloads them on first use (HF_HUB_OFFLINE=1 or TOONGEN_ALLOW_DOWNLOAD=0 turn that off); "
                "you can also put them there yourself.")
    return (f"ToonGen downloads missing model files on first use, but downloads are off here ({reason}): put the "
            f"files there yourself, or unset {reason.split('=')[0]} and run again to let ToonGen fetch them.")


def fetch(files: Iterable[HubFile], what: str, progress: Progress | None = None) -> None:
    """Download every file of `files` that is missing locally. `what` names the model for messages
    ("Kokoro voice 'af_heart'"). Raises ModelDownloadError, naming the files, when downloads are off or fail."""
    todo = missing(files)
    if not todo:
        return
    reason = downloads_off_reason()
    if reason is not None:
        raise ModelDownloadError(f"{what} needs these files:\n{file_listing(todo)}\n{download_note()}")
    try:
        from huggingface_hub import get_hf_file_metadata, hf_hub_url

        announced = {f: get_hf_file_metadata(hf_hub_url(f.repo_id, f.filename)) for f in todo}
    except Exception as exc:
        raise _failure(what, todo, f"the Hub did not answer ({type(exc).__name__}: {exc})") from exc
    bytes_total = sum(meta.size or 0 for meta in announced.values())
    counter = _ByteCounter(bytes_total, progress)
    for hub_file, meta in announced.items():
        log.info("ToonGen: downloading %s (%s) for %s into %s", hub_file.url, _size_text(meta.size), what,
                 hub_file.path)
        try:
            _download_verified(hub_file, meta.size, meta.etag, counter)
        except ModelDownloadError as exc:
            raise _failure(what, todo, str(exc)) from exc
        except Exception as exc:
            if exc is counter.stopped_by:
                raise  # the progress callback stopped us (ComfyUI's Cancel): not a download failure
            raise _failure(what, todo, f"{hub_file.filename}: {type(exc).__name__}: {exc}") from exc
        log.info("ToonGen: %s is in place (%s, checked against the Hub's hash)", hub_file.path, _size_text(meta.size))
    for root in {f.root for f in todo}:
        shutil.rmtree(root / STAGING_DIR, ignore_errors=True)


def _failure(what: str, files: list[HubFile], cause: str) -> ModelDownloadError:
    return ModelDownloadError(
        f"could not download the files {what} needs: {cause}\n{file_listing(missing(files))}\n"
        "Nothing half-finished was left at those paths: run again to retry, or put the files there yourself."
    )


def _download_verified(hub_file: HubFile, size: int | None, etag: str | None, counter: "_ByteCounter",
                       attempts: int = 2) -> None:
    """Fetch into the staging folder, check size and hash, then rename into place (atomic on one filesystem).
    A file that arrives damaged is deleted and fetched once more before giving up."""
    from huggingface_hub import hf_hub_download

    staging = hub_file.root / STAGING_DIR
    extra = {"tqdm_class": counter.tqdm_class()} if "tqdm_class" in inspect.signature(hf_hub_download).parameters else {}
    problem = ""
    for _ in range(attempts):
        start = counter.done
        staged = Path(hf_hub_download(repo_id=hub_file.repo_id, filename=hub_file.filename, local_dir=str(staging),
                                      force_download=bool(problem), **extra))
        problem = content_problem(staged, size, etag)
        if not problem:
            counter.finish_file(start, size)
            hub_file.path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, hub_file.path)
            return
        log.warning("ToonGen: %s arrived damaged (%s); deleted it", hub_file.filename, problem)
        staged.unlink(missing_ok=True)
        counter.rewind(start)
    raise ModelDownloadError(f"{hub_file.filename} arrived damaged twice ({problem}); it was deleted")


def content_problem(path: Path, size: int | None, etag: str | None) -> str:
    """'' when the file has the size and hash the Hub announced, else what is wrong. The Hub's ETag is the sha256 of
    an LFS file and the git blob sha1 of a small one; any other form is checked by size only."""
    actual = path.stat().st_size
    if size is not None and actual != size:
        return f"{actual} bytes instead of {size}"
    etag = (etag or "").lower()
    if re.fullmatch(r"[0-9a-f]{64}", etag):
        digest = hashlib.sha256()
    elif re.fullmatch(r"[0-9a-f]{40}", etag):
        digest = hashlib.sha1(f"blob {actual}\0".encode())
    else:
        return ""
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return "" if digest.hexdigest() == etag else f"{digest.name} {digest.hexdigest()[:12]}… instead of {etag[:12]}…"


class _ByteCounter:
    """Adds up the bytes of several files for one progress callback; huggingface_hub reports through a tqdm."""

    def __init__(self, total: int, progress: Progress | None):
        self.total, self.done, self.progress = total, 0, progress
        self.stopped_by: BaseException | None = None

    def add(self, n: int) -> None:
        self.done += n
        if self.progress is not None:
            try:
                self.progress(max(0, min(self.done, self.total)), self.total)
            except BaseException as exc:
                self.stopped_by = exc
                raise

    def finish_file(self, start: int, size: int | None) -> None:
        """A file is in: count exactly its size (tqdm may not have reported every byte, or none)."""
        self.add(start + (size or 0) - self.done)

    def rewind(self, start: int) -> None:
        self.add(start - self.done)

    def tqdm_class(self):
        from tqdm.auto import tqdm

        counter = self

        class ProgressToCallback(tqdm):
            def update(self, n=1):
                counter.add(int(n or 0))
                return super().update(n)

        return ProgressToCallback


def _size_text(size: int | None) -> str:
    if size is None:
        return "size unknown"
    return f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size} bytes"
