"""Resumable, verified HTTP downloads (httpx), the part of the model store that touches the network.

One file at a time: data goes to ``<name>.part`` beside the destination, with a small
``<name>.part.json`` recording the URL and the server's validator (strong ETag or
Last-Modified). An interrupted download resumes with ``Range: bytes=N-`` and ``If-Range``:
the server either continues (206) or, when the file changed, sends it whole (200) and we
start over. Transient failures (connection refused/reset, dropped body, stall, 5xx, 429) are
retried with exponential back-off; a *stall* is a read that delivers nothing for
``stall_timeout`` seconds. When all bytes are in, the size and sha256 are checked and the
file is renamed into place atomically (``os.replace``); a corrupted file is deleted, never
installed. Cancelling keeps the ``.part`` so the next attempt resumes.

Whatever the server does, the loop is bounded: an attempt only counts as progress when the
``.part`` grows beyond the largest size it ever had in this call (a server that ignores
``Range`` and drops the connection at the same place makes none), every failed attempt waits
at least ``backoff`` seconds, and ``max_attempts`` caps the attempts outright. A size known
only approximately still caps the bytes accepted (``2 x size + 1 MB``). Redirects are
followed by hand, one hop at a time, and only to the URL's own host or a host the catalogue
lists (the Hub's LFS storage); anything else is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import time
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

from piggydesk.core.atomic import atomic_write_json
from piggydesk.core.progress import CancelToken
from piggydesk.modelstore.errors import (
    ChecksumError,
    DownloadCancelled,
    DownloadError,
)

logger = logging.getLogger(__name__)

PART_SUFFIX = ".part"
META_SUFFIX = ".part.json"
_CONTENT_RANGE_RE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class DownloadSettings:
    """Network behaviour; tests shrink the timeouts and back-off."""

    retries: int = 5  # consecutive failed attempts without progress before giving up
    backoff: float = 1.0  # first wait between attempts, doubled each time
    backoff_max: float = 30.0
    max_attempts: int = 200  # attempts per file in one call, progress or not
    max_redirects: int = 10
    stall_timeout: float = 30.0  # seconds without a single byte before an attempt is a stall
    connect_timeout: float = 15.0
    chunk_size: int = 1 << 20
    user_agent: str = "PiggyDesk model store"


@dataclass(frozen=True)
class DownloadProgress:
    """A snapshot of a model download: one message type from the worker to any listener."""

    model_id: str
    file_path: str
    file_index: int  # 1-based
    file_count: int
    file_done: int
    file_total: int
    done: int  # bytes present for the whole model (resumed and reused files count)
    total: int
    speed: float  # bytes per second over the last few seconds
    eta: float | None  # seconds left, None while the speed is unknown

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0


DownloadListener = Callable[[DownloadProgress], None]
"""Receives :class:`DownloadProgress` snapshots (``core.progress`` has the plain callback)."""


class ProgressTracker:
    """Turns byte counts into throttled :class:`DownloadProgress` messages with speed and ETA."""

    def __init__(
        self,
        model_id: str,
        total: int,
        file_count: int,
        callback: DownloadListener | None,
        *,
        interval: float = 0.1,
        window: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.model_id = model_id
        self.total = total
        self.file_count = file_count
        self.callback = callback
        self.interval = interval
        self.window = window
        self.clock = clock
        self.done = 0
        self.file_path = ""
        self.file_index = 0
        self.file_done = 0
        self.file_total = 0
        self._samples: deque[tuple[float, int]] = deque()
        self._transferred = 0  # bytes moved over the network in this session
        self._last_emit = -1e9

    def start_file(self, index: int, path: str, size: int) -> None:
        self.file_index, self.file_path, self.file_total, self.file_done = index, path, size, 0
        self.emit(force=True)

    def skip(self, nbytes: int) -> None:
        """Bytes already present (a resumed .part, a reused file): counted, not timed."""
        self.done += nbytes
        self.file_done += nbytes
        self.emit()

    def rewind(self, nbytes: int) -> None:
        """The server restarted a file from zero: forget bytes counted for it."""
        self.done -= nbytes
        self.file_done -= nbytes

    def advance(self, nbytes: int) -> None:
        self.done += nbytes
        self.file_done += nbytes
        self._transferred += nbytes
        now = self.clock()
        self._samples.append((now, self._transferred))
        while len(self._samples) > 2 and now - self._samples[0][0] > self.window:
            self._samples.popleft()
        self.emit()

    @property
    def speed(self) -> float:
        if len(self._samples) < 2:
            return 0.0
        (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
        return (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0

    def emit(self, force: bool = False) -> None:
        if self.callback is None:
            return
        now = self.clock()
        if not force and now - self._last_emit < self.interval:
            return
        self._last_emit = now
        speed = self.speed
        eta = (max(0, self.total - self.done) / speed) if speed > 0 else None
        self.callback(
            DownloadProgress(
                model_id=self.model_id,
                file_path=self.file_path,
                file_index=self.file_index,
                file_count=self.file_count,
                file_done=self.file_done,
                file_total=self.file_total,
                done=self.done,
                total=self.total,
                speed=speed,
                eta=eta,
            )
        )


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + PART_SUFFIX)


def meta_path(dest: Path) -> Path:
    return dest.with_name(dest.name + META_SUFFIX)


def make_client(settings: DownloadSettings) -> httpx.Client:
    timeout = httpx.Timeout(
        connect=settings.connect_timeout,
        read=settings.stall_timeout,
        write=settings.stall_timeout,
        pool=settings.connect_timeout,
    )
    # trust_env keeps the user's proxy settings; redirects (needed for the Hugging Face CDN)
    # are followed by download_file itself, hop by hop, so each target host can be checked.
    return httpx.Client(
        timeout=timeout,
        follow_redirects=False,
        headers={"User-Agent": settings.user_agent, "Accept-Encoding": "identity"},
    )


class _Retry(Exception):
    """An attempt failed in a way that another attempt may fix."""


def _host(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc or url


APPROXIMATE_SLACK = 1 << 20
"""Bytes beyond twice an approximate catalogue size still accepted (``2 x size + 1 MB``)."""


def size_limit(expected_size: int | None, size_exact: bool) -> int | None:
    """The most bytes a download may have: the exact size, or ``2 x size + 1 MB``."""
    if expected_size is None:
        return None
    return expected_size if size_exact else 2 * expected_size + APPROXIMATE_SLACK


def _host_allowed(target: str, origin: str, allowed_hosts: Collection[str]) -> bool:
    """A redirect may stay on the origin's host or go to a host the catalogue lists."""
    new, old = urlsplit(target), urlsplit(origin)
    if new.scheme not in ("http", "https") or (old.scheme == "https" and new.scheme != "https"):
        return False
    host = (new.hostname or "").lower()
    if host == (old.hostname or "").lower() and new.port == old.port:
        return True
    return host in {h.lower() for h in allowed_hosts}


def _open(
    http: httpx.Client,
    url: str,
    headers: dict[str, str],
    name: str,
    allowed_hosts: Collection[str],
    settings: DownloadSettings,
) -> httpx.Response:
    """Send the GET, following redirects one hop at a time to permitted hosts only."""
    current = url
    for _ in range(settings.max_redirects + 1):
        response = http.send(
            http.build_request("GET", current, headers=headers), stream=True,
            follow_redirects=False,
        )
        if not response.is_redirect:
            return response
        location = response.headers.get("Location", "")
        response.close()
        target = urljoin(current, location)
        if not location or not _host_allowed(target, current, allowed_hosts):
            raise DownloadError(
                f"{_host(current)} redirected the download of {name} to "
                f"{_host(target) or 'an invalid address'}, a host the model catalogue does not "
                "list; the download was refused."
            )
        logger.info("%s: redirected to %s", name, _host(target))
        current = target
    raise DownloadError(
        f"{_host(url)} redirected the download of {name} more than "
        f"{settings.max_redirects} times; the download was refused."
    )


def _describe(exc: BaseException, url: str, name: str, settings: DownloadSettings) -> str:
    host = _host(url)
    if isinstance(exc, httpx.ConnectTimeout):
        return (
            f"Could not reach {host} (no answer within {settings.connect_timeout:g} s). "
            "Check the internet connection and try again."
        )
    if isinstance(exc, httpx.ConnectError):
        return (
            f"Could not reach {host} ({exc or 'connection failed'}). "
            "Check the internet connection (or proxy settings) and try again."
        )
    if isinstance(exc, httpx.TimeoutException):
        return (
            f"The download of {name} stalled: {host} sent nothing for "
            f"{settings.stall_timeout:g} s. Try again later; it will resume where it stopped."
        )
    if isinstance(exc, _Retry):
        return f"The download of {name} from {host} kept failing ({exc}). Try again later."
    return (
        f"The connection to {host} kept breaking while downloading {name} ({exc}). "
        "Try again; it will resume where it stopped."
    )


def _read_meta(dest: Path) -> dict:
    try:
        data = json.loads(meta_path(dest).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_meta(dest: Path, url: str, validator: str | None) -> None:
    atomic_write_json(meta_path(dest), {"url": url, "validator": validator})


def discard_partial(dest: Path) -> None:
    for path in (part_path(dest), meta_path(dest)):
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def _content_length(response: httpx.Response) -> int | None:
    try:
        length = int(response.headers.get("Content-Length", ""))
    except ValueError:
        return None
    return length if length >= 0 else None


def _validator(response: httpx.Response) -> str | None:
    etag = response.headers.get("ETag")
    if etag and not etag.startswith("W/"):  # If-Range needs a strong validator
        return etag
    return response.headers.get("Last-Modified")


class _Hasher:
    """sha256 of the .part kept in step with the bytes on disk across resumes."""

    def __init__(self, part: Path, cancel: CancelToken) -> None:
        self.part = part
        self.cancel = cancel
        self.digest = hashlib.sha256()
        self.count = 0

    def sync(self, offset: int) -> None:
        if offset == self.count:
            return
        self.digest = hashlib.sha256()
        self.count = 0
        if offset == 0:
            return
        with open(self.part, "rb") as fh:
            remaining = offset
            while remaining > 0:
                if self.cancel.is_set():
                    raise DownloadCancelled("Download paused.")
                block = fh.read(min(remaining, 1 << 20))
                if not block:
                    break
                self.digest.update(block)
                remaining -= len(block)
                self.count += len(block)

    def update(self, data: bytes) -> None:
        self.digest.update(data)
        self.count += len(data)


def download_file(
    url: str,
    dest: Path,
    *,
    expected_size: int | None = None,
    size_exact: bool = True,
    sha256: str | None = None,
    settings: DownloadSettings | None = None,
    cancel: CancelToken | None = None,
    tracker: ProgressTracker | None = None,
    client: httpx.Client | None = None,
    allowed_hosts: Collection[str] = (),
) -> str:
    """Download ``url`` to ``dest`` with resume, retries and verification; return the sha256.

    ``allowed_hosts`` are the hosts a redirect may lead to besides the URL's own.
    Raises ``DownloadCancelled`` (partial data kept), ``DownloadError`` (network trouble or a
    refused redirect, partial data kept) or ``ChecksumError`` (wrong size or hash, or more
    bytes than an approximate size allows: partial data deleted).
    """
    settings = settings or DownloadSettings()
    cancel = cancel or CancelToken()
    own_client = client is None
    http = client or make_client(settings)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(dest)
    name = dest.name
    exact = expected_size if (expected_size is not None and size_exact) else None
    limit = size_limit(expected_size, size_exact)
    hasher = _Hasher(part, cancel)
    counted = 0  # bytes of this file reported to the tracker
    failures = 0  # consecutive attempts that got no byte beyond ``best``
    attempts = 0
    best = -1  # the largest .part size reached so far in this call (-1: not yet known)
    try:
        while True:
            if cancel.is_set():
                raise DownloadCancelled(f"Download of {name} paused; it will resume later.")
            offset = part.stat().st_size if part.exists() else 0
            meta = _read_meta(dest) if offset else {}
            if offset and meta.get("url") not in (None, url):
                logger.info("%s: partial file came from another URL, starting over", name)
                offset = 0
            if offset and not meta.get("validator") and not sha256:
                logger.info("%s: partial file cannot be validated, starting over", name)
                offset = 0
            if limit is not None and offset > limit:
                offset = 0
            if offset == 0 and part.exists():
                part.write_bytes(b"")
            if tracker is not None and counted != offset:
                if offset > counted:
                    tracker.skip(offset - counted)
                else:
                    tracker.rewind(counted - offset)
                counted = offset
            if best < 0:
                best = offset
            if exact is not None and offset == exact:
                break  # already complete (e.g. cancelled during verification)
            hasher.sync(offset)
            attempts += 1
            headers = {}
            if offset:
                headers["Range"] = f"bytes={offset}-"
                if meta.get("validator"):
                    headers["If-Range"] = meta["validator"]
            try:
                with contextlib.closing(
                    _open(http, url, headers, name, allowed_hosts, settings)
                ) as response:
                    status = response.status_code
                    if status == 416 and offset:
                        part.write_bytes(b"")  # our partial file does not fit the server's
                        raise _Retry("the server refused to resume; starting over")
                    if status in _RETRY_STATUS:
                        raise _Retry(f"HTTP {status}")
                    if status not in (200, 206):
                        raise DownloadError(
                            f"{_host(url)} refused to send {name} (HTTP {status} "
                            f"{response.reason_phrase}). The catalogue may be out of date."
                        )
                    if status == 206:
                        match = _CONTENT_RANGE_RE.match(response.headers.get("Content-Range", ""))
                        if not match or int(match.group(1)) != offset:
                            part.write_bytes(b"")
                            raise _Retry("the server resumed at the wrong place; starting over")
                        mode = "ab"
                        logger.info("%s: resuming at byte %d", name, offset)
                    else:
                        if offset:
                            logger.info("%s: server sent the whole file again; restarting", name)
                        offset = 0
                        hasher.sync(0)
                        if tracker is not None and counted:
                            tracker.rewind(counted)
                        counted = 0
                        mode = "wb"
                    length = _content_length(response)
                    if exact is not None and length is not None and offset + length != exact:
                        discard_partial(dest)
                        raise ChecksumError(
                            f"{_host(url)} offers {name} with {offset + length} bytes but "
                            f"the catalogue expects {exact}; it was not installed."
                        )
                    if limit is not None and length is not None and offset + length > limit:
                        discard_partial(dest)
                        raise ChecksumError(
                            f"{_host(url)} offers {name} with {offset + length} bytes, far more "
                            f"than the about {expected_size} the catalogue lists; it was refused."
                        )
                    _write_meta(dest, url, _validator(response))
                    with open(part, mode) as fh:
                        for chunk in response.iter_bytes():  # no re-chunking: keep every byte received
                            if cancel.is_set():
                                raise DownloadCancelled(
                                    f"Download of {name} paused; it will resume later."
                                )
                            fh.write(chunk)
                            hasher.update(chunk)
                            counted += len(chunk)
                            if tracker is not None:
                                tracker.advance(len(chunk))
                            if limit is not None and hasher.count > limit:
                                discard_partial(dest)
                                raise ChecksumError(
                                    f"{_host(url)} sent more data for {name} than the catalogue "
                                    "expects; it was not installed."
                                )
                        fh.flush()
                        os.fsync(fh.fileno())
                break
            except (httpx.TransportError, _Retry) as exc:
                size = part.stat().st_size if part.exists() else 0
                if size > best:  # progress: bytes beyond the best offset ever reached
                    best, failures = size, 0
                else:
                    failures += 1
                logger.warning("%s: attempt failed (%s: %s)", name, type(exc).__name__, exc)
                if failures > settings.retries or attempts >= settings.max_attempts:
                    raise DownloadError(_describe(exc, url, name, settings)) from None
                # every failed attempt waits; each one in a row without progress doubles it
                delay = min(settings.backoff * 2 ** max(failures - 1, 0), settings.backoff_max)
                if cancel.wait(delay):
                    raise DownloadCancelled(
                        f"Download of {name} paused; it will resume later."
                    ) from None
            except OSError as exc:
                raise DownloadError(f"Could not write {part}: {exc.strerror or exc}.") from None

        size = part.stat().st_size
        hasher.sync(size)
        if exact is not None and size != exact:
            discard_partial(dest)
            raise ChecksumError(
                f"{name} arrived with {size} bytes instead of {exact}; it was not installed."
            )
        actual = hasher.digest.hexdigest()
        if sha256 and actual != sha256.lower():
            discard_partial(dest)
            raise ChecksumError(
                f"{name} is corrupted (its sha256 does not match the catalogue); "
                "it was deleted and not installed. Try the download again."
            )
        os.replace(part, dest)
        try:
            meta_path(dest).unlink()
        except FileNotFoundError:
            pass
        if sha256:
            logger.info("%s: downloaded and verified (%d bytes)", name, size)
        else:
            logger.info("%s: downloaded (%d bytes); sha256 recorded on first download", name, size)
        return actual
    finally:
        if own_client:
            http.close()
