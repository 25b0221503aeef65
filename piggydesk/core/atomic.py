"""Writing files so that a crash, a full disk or a pulled USB stick never leaves half a file.

The bytes go to a hidden temporary file in the destination folder, are flushed to the disk,
and only then take the destination's name (``os.replace``, atomic on one file system). When
replacing is not wanted, the temporary file is hard-linked to the destination name instead,
which fails if something appeared there in the meantime (falling back to a checked replace
on file systems without hard links, such as FAT-formatted sticks).

A process killed in the middle of a write (``kill -9``, a power cut) leaves its hidden
temporary file behind. Temporary names carry the writer's process id, so the next write into
that folder removes the leftovers of our own that are stale: their process is gone (POSIX),
or they are older than ``STALE_SECONDS``. Other files are never touched.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20
TEMP_SUFFIX = ".piggydesk-tmp"
STALE_SECONDS = 24 * 3600.0
_TEMP_RE = re.compile(r"^\..+\.(?:(\d+)-)?[0-9a-f]{8}\.piggydesk-tmp$")
_cleaned: set[str] = set()
_cleaned_lock = threading.Lock()


def write_all(handle: BinaryIO, data: bytes) -> None:
    """Write ``data`` to ``handle`` in 1 MiB pieces (a separate function so tests can fail it)."""
    view = memoryview(data)
    for start in range(0, len(view), _CHUNK):
        handle.write(view[start : start + _CHUNK])


def temp_path_for(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}{TEMP_SUFFIX}")


def _process_gone(pid: int) -> bool:
    if os.name != "posix" or pid == os.getpid():
        return False  # Windows: os.kill would end the process; the age rule decides there
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive but someone else's (EPERM)
        return False
    return False


def clean_stale_temp_files(folder: Path) -> list[Path]:
    """Remove our own stale temporary files in ``folder``; return what was removed."""
    removed: list[Path] = []
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_RE.match(entry.name)
        if match is None:
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            old = now - entry.stat(follow_symlinks=False).st_mtime > STALE_SECONDS
            pid = match.group(1)
            if old or (pid is not None and _process_gone(int(pid))):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    for path in removed:
        logger.info("Removed %s, left by an interrupted write", path)
    return removed


def _clean_once(folder: Path) -> None:
    """Clean ``folder`` on this process's first write into it (a batch writes many times)."""
    key = os.path.abspath(folder)
    with _cleaned_lock:
        if key in _cleaned:
            return
        _cleaned.add(key)
    clean_stale_temp_files(folder)


def atomic_write_bytes(path: str | Path, data: bytes, *, overwrite: bool = True) -> None:
    """Write ``data`` to ``path`` atomically; ``overwrite=False`` raises FileExistsError.

    Any ``OSError`` (disk full, permission...) propagates after the temporary file is removed.
    """
    with open_atomic(path, overwrite=overwrite) as handle:
        write_all(handle, data)


def atomic_write_json(path: str | Path, data: object) -> None:
    """Write ``data`` as indented UTF-8 JSON to ``path`` atomically (records, small metadata)."""
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def open_atomic(path: str | Path, *, overwrite: bool = True) -> Iterator[BinaryIO]:
    """A binary file handle whose content appears at ``path`` only if the block succeeds."""
    path = Path(path)
    _clean_once(path.parent if str(path.parent) else Path("."))
    tmp = temp_path_for(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(tmp, flags, 0o666)  # the umask applies, like any ordinary new file
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            _move_no_clobber(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _move_no_clobber(tmp: Path, path: Path) -> None:
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError as exc:  # no hard links here (FAT, some network shares)
        logger.debug("Hard link failed (%s); falling back to a checked rename", exc)
        if path.exists():
            raise FileExistsError(errno.EEXIST, "File exists", str(path)) from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable where the platform allows it (POSIX)."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
