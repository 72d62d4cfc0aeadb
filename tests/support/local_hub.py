"""A local stand-in for the Hugging Face Hub's file endpoints, so download code runs for real, offline
(point HF_ENDPOINT at `hub.url`). It answers what huggingface_hub's hf_hub_download asks (file_download.py:
get_hf_file_metadata's HEAD, then http_get's GET, resumed with a Range header after a dropped connection):

  HEAD/GET {url}/{repo_id}/resolve/{revision}/{path}
    small file:  200, ETag = its git blob sha1, Content-Length, X-Repo-Commit
    LFS file (weights: .pth .pt .bin .safetensors): 302 to the CDN with X-Linked-Etag = its sha256,
                 X-Linked-Size, X-Repo-Commit — the metadata huggingface_hub reads off the redirect
  GET {cdn}/cdn/{repo_id}/{path}   the bytes; Range requests get 206 + Content-Range
  unknown repository: 401, X-Error-Code RepoNotFound; unknown file: 404, X-Error-Code EntryNotFound

The CDN is the same server under the name `localhost` (the hub is `127.0.0.1`): like the real CDN it is another
host to huggingface_hub, which then stops at the redirect for the metadata and downloads from the Location.

Faults: `hub.drop_after[path] = (n_bytes, times)` sends n bytes of the body and then closes the connection, for
the next `times` GETs of that path; `hub.corrupt.add(path)` serves altered bytes under the true headers.
"""
from __future__ import annotations

import hashlib
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

COMMIT = "0123456789abcdef0123456789abcdef01234567"
LFS_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors")


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class LocalHub:
    def __init__(self, repos: dict[str, Path]):
        self.repos = {repo: Path(folder) for repo, folder in repos.items()}
        self.drop_after: dict[str, tuple[int, int]] = {}
        self.corrupt: set[str] = set()
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Range header)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{port}"
        self.cdn_url = f"http://localhost:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "LocalHub":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def file(self, repo: str, path: str) -> Path | None:
        folder = self.repos.get(repo)
        if folder is None:
            return None
        target = (folder / path).resolve()
        return target if target.is_file() and target.is_relative_to(folder.resolve()) else None

    def take_drop(self, path: str) -> int | None:
        """Bytes to send before dropping this GET of `path`, or None to send it whole."""
        with self._lock:
            n_bytes, times = self.drop_after.get(path, (0, 0))
            if times <= 0:
                return None
            self.drop_after[path] = (n_bytes, times - 1)
            return n_bytes

    def gets(self, path_end: str) -> list[str | None]:
        """The Range headers of the GETs whose path ends with `path_end` (None: no Range)."""
        return [rng for method, path, rng in self.requests if method == "GET" and path.endswith(path_end)]


def _handler(hub: LocalHub):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet test output
            pass

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def do_GET(self) -> None:
            self._serve(body=True)

        def _serve(self, body: bool) -> None:
            hub.requests.append((self.command, self.path, self.headers.get("Range")))
            path = unquote(self.path.split("?")[0])
            resolve = re.fullmatch(r"/(.+?/.+?)/resolve/([^/]+)/(.+)", path)
            cdn = re.fullmatch(r"/cdn/(.+?/.+?)/(.+)", path)
            if resolve:
                repo, _, filename = resolve.groups()
            elif cdn:
                repo, filename = cdn.groups()
            else:
                return self._error(404, "EntryNotFound", "unknown endpoint")
            if repo not in hub.repos:
                return self._error(401, "RepoNotFound", f"Repository not found: {repo}")
            local = hub.file(repo, filename)
            if local is None:
                return self._error(404, "EntryNotFound", f"{filename} is not in {repo}")
            data = local.read_bytes()
            if resolve and filename.endswith(LFS_SUFFIXES):
                self.send_response(302)
                self.send_header("Location", f"{hub.cdn_url}/cdn/{repo}/{filename}")
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("X-Linked-Etag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("X-Linked-Size", str(len(data)))
                self.send_header("ETag", f'"{git_blob_sha1(data)}"')  # the pointer file's, as on the Hub
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self._send_bytes(data, filename, body, resolve is not None)

        def _send_bytes(self, data: bytes, filename: str, body: bool, on_hub: bool) -> None:
            etag = git_blob_sha1(data)
            if filename in hub.corrupt:
                data = bytes(b ^ 0x5A for b in data[:64]) + data[64:]
            start = 0
            match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
            if match and int(match.group(1)) < len(data):
                start = int(match.group(1))
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            if on_hub:
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", f'"{etag}"')
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            if not body:
                return
            drop = hub.take_drop(filename)
            if drop is None:
                self.wfile.write(data[start:])
                return
            self.wfile.write(data[start:start + drop])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

        def _error(self, status: int, code: str, message: str) -> None:
            payload = f'{{"error": "{message}"}}'.encode()
            self.send_response(status)
            self.send_header("X-Error-Code", code)
            self.send_header("X-Error-Message", message)
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

    return Handler
