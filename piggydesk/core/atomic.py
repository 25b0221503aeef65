"""Writing files so that a crash, a full disk or a pulled USB stick never leaves half a file.

The bytes go to a hidden temporary file in the destination folder, are flushed to the disk,
and only then take the destination's name (``os.replace``, atomic on one file system). When
replacing is not wanted, the temporary file is hard-linked to the destination name instead,
which fails if something appeared there in the meantime (falling back to a checked replace
on file systems without hard links, such as FAT-formatted sticks).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20


def write_all(handle: BinaryIO, data: bytes) -> None:
    """Write ``data`` to ``handle`` in 1 MiB pieces (a separate function so tests can fail it)."""
    view = memoryview(data)
    for start in range(0, len(view), _CHUNK):
        handle.write(view[start : start + _CHUNK])


def temp_path_for(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.piggydesk-tmp")


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
