"""Test helpers for the model store: a fake model hub on 127.0.0.1 and tiny model folders.

``FakeHub`` serves in-memory files over real HTTP (``http.server`` in a thread) with
``Range``/``If-Range`` support and per-file faults: drop the connection at a byte offset,
stall at an offset (bounded by ``stall_seconds``), corrupt a byte, answer an error status,
or ignore ranges. Every request is logged so tests can assert what was (re)sent.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
from safetensors.numpy import save as save_safetensors

from piggydesk.modelstore.download import DownloadSettings

# Short timeouts and back-off: every network wait in these tests is bounded.
FAST = DownloadSettings(
    retries=2, backoff=0.01, backoff_max=0.05, stall_timeout=0.5, connect_timeout=2.0,
    chunk_size=8192,
)


@dataclass
class Fault:
    drop_at: int | None = None  # absolute offset at which the connection is dropped
    drop_times: int = 1
    stall_at: int | None = None  # absolute offset at which the server stops sending
    stall_times: int = 1_000
    stall_seconds: float = 3.0
    corrupt: bool = False
    status: int | None = None
    ignore_range: bool = False
    chunk_delay: float = 0.0  # seconds between 8 KiB chunks (slow server)
    claim_length: int | None = None  # a Content-Length to announce instead of the true one
    no_length: bool = False  # send no Content-Length: the body ends when the connection closes
    redirect: str | None = None  # answer 302 with this Location instead of the file
    times: int | None = None  # misbehave for this many requests only, then answer 404


@dataclass
class RequestLog:
    path: str
    range: str | None
    if_range: str | None
    status: int
    sent: int = 0


class FakeHub:
    def __init__(self, files: dict[str, bytes] | None = None) -> None:
        self.files: dict[str, bytes] = dict(files or {})
        self.faults: dict[str, Fault] = {}
        self.requests: list[RequestLog] = []
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ admin
    def etag(self, path: str) -> str:
        return '"' + hashlib.sha256(self.files[path]).hexdigest()[:20] + '"'

    def url(self, path: str) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/{path}"

    def requests_for(self, path: str) -> list[RequestLog]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def bytes_sent(self, path: str) -> int:
        return sum(r.sent for r in self.requests_for(path))

    def start(self) -> FakeHub:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                hub._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # -------------------------------------------------------------- handling
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.lstrip("/")
        log = RequestLog(path, h.headers.get("Range"), h.headers.get("If-Range"), 200)
        with self._lock:
            self.requests.append(log)
            fault = self.faults.get(path, Fault())
        if fault.times is not None:
            with self._lock:
                fault.times -= 1
                exhausted = fault.times < 0
            if exhausted:  # a bound on every hostile loop: the test ends even if the client loops
                log.status = 404
                h.send_error(404)
                return
        if fault.redirect is not None:
            log.status = 302
            h.send_response(302)
            h.send_header("Location", fault.redirect)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        if path not in self.files:
            log.status = 404
            h.send_error(404)
            return
        if fault.status is not None:
            log.status = fault.status
            h.send_error(fault.status)
            return
        data = self.files[path]
        if fault.corrupt:
            middle = len(data) // 2
            data = data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:]
        start = 0
        etag = self.etag(path)
        if log.range and not fault.ignore_range and (log.if_range in (None, etag)):
            start = int(log.range.split("=")[1].split("-")[0])
            if start >= len(data):
                log.status = 416
                h.send_response(416)
                h.send_header("Content-Range", f"bytes */{len(data)}")
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
            log.status = 206
        h.send_response(log.status)
        if log.status == 206:
            h.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        if fault.claim_length is not None:
            h.send_header("Content-Length", str(fault.claim_length))
        elif not fault.no_length:
            h.send_header("Content-Length", str(len(data) - start))
        h.send_header("Content-Type", "application/octet-stream")
        h.send_header("Accept-Ranges", "bytes")
        h.send_header("ETag", etag)
        h.end_headers()

        end = len(data)
        action = None
        with self._lock:
            if fault.drop_at is not None and fault.drop_times > 0 and start <= fault.drop_at:
                fault.drop_times -= 1
                end, action = fault.drop_at, "drop"
            elif fault.stall_at is not None and fault.stall_times > 0 and start <= fault.stall_at:
                fault.stall_times -= 1
                end, action = fault.stall_at, "stall"
        pos = start
        try:
            while pos < end:
                chunk = data[pos:min(end, pos + 8192)]
                h.wfile.write(chunk)
                pos += len(chunk)
                log.sent += len(chunk)
                if fault.chunk_delay:
                    h.wfile.flush()
                    time.sleep(fault.chunk_delay)
            h.wfile.flush()
            if fault.no_length or fault.claim_length is not None:
                action = action or "close"
            if action == "stall":
                self.release.wait(fault.stall_seconds)
            if action is not None:
                h.close_connection = True
                try:
                    h.connection.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True


def closed_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def safetensors_bytes(n_values: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    return save_safetensors({"weight": rng.standard_normal(n_values).astype(np.float32)})


def model_files(
    *, seed: int = 0, bundle: bool = False, unet_values: int = 60_000, cross_attention_dim: int = 32
) -> dict[str, bytes]:
    """A tiny diffusers SD-1.x-shaped folder as {relative path: bytes} (optionally a bundle)."""
    index = {
        "_class_name": "PiggybackColorizationPipeline" if bundle else "StableDiffusionPipeline",
        "_diffusers_version": "0.30.0",
        "scheduler": ["diffusers", "DDIMScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
        "safety_checker": [None, None],
    }
    files = {
        "unet/config.json": json.dumps({"cross_attention_dim": cross_attention_dim}).encode(),
        "unet/diffusion_pytorch_model.safetensors": safetensors_bytes(unet_values, seed),
        "vae/config.json": b'{"latent_channels": 4}',
        "vae/diffusion_pytorch_model.safetensors": safetensors_bytes(4_000, 1000 + seed),
        "text_encoder/config.json": b'{"hidden_size": 32}',
        "text_encoder/model.safetensors": safetensors_bytes(3_000, 2000 + seed),
        "tokenizer/vocab.json": b'{"a": 0, "b": 1}',
        "tokenizer/merges.txt": b"#version: 0.2\na b\n",
        "scheduler/scheduler_config.json": b'{"num_train_timesteps": 1000}',
    }
    if bundle:
        index["guider"] = ["piggydesk", "DiffusionGuider"]
        files["guider/config.json"] = b'{"block_out_channels": [32, 64]}'
        files["guider/diffusion_pytorch_model.safetensors"] = safetensors_bytes(2_000, 3000 + seed)
        files["piggydesk.json"] = json.dumps({
            "name": "Tiny test bundle",
            "version": 1,
            "native_size": 64,
            "files": {
                "guider/diffusion_pytorch_model.safetensors": hashlib.sha256(
                    files["guider/diffusion_pytorch_model.safetensors"]).hexdigest(),
            },
        }).encode()
    files["model_index.json"] = json.dumps(index).encode()
    return files


def write_folder(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def catalog_entry(
    model_id: str,
    hub: FakeHub,
    files: dict[str, bytes],
    *,
    prefix: str = "",
    unpinned: tuple[str, ...] = (),
    kind: str = "bundle",
) -> dict:
    """A catalogue entry for ``files`` served by ``hub`` under ``prefix``."""
    entries = []
    for rel, data in files.items():
        sha = None if rel in unpinned else hashlib.sha256(data).hexdigest()
        item = {"path": rel, "url": hub.url(prefix + rel), "size": len(data), "sha256": sha}
        if sha is None:
            item["verify_on_first_download"] = True
        entries.append(item)
    return {
        "id": model_id,
        "name": f"Test model {model_id}",
        "kind": kind,
        "description": "A tiny model served by the test hub.",
        "license": "MIT",
        "enables": "Nothing real: tests only.",
        "files": entries,
    }


def write_catalog(path: Path, entries: list[dict]) -> Path:
    path.write_text(json.dumps({"version": 1, "models": entries}), encoding="utf-8")
    return path


def serve(hub: FakeHub, files: dict[str, bytes], prefix: str = "") -> None:
    for rel, data in files.items():
        hub.files[prefix + rel] = data


def read_tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*")) if p.is_file()
    }


__all__ = [
    "FAST", "Fault", "FakeHub", "RequestLog", "catalog_entry", "closed_port",
    "model_files", "read_tree", "safetensors_bytes", "serve", "write_catalog", "write_folder",
]
