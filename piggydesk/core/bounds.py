"""Bounds for everything read from outside: JSON, zip members, image headers, memory.

A project file, a hints file or a photo may be hostile (a "zip bomb", a manifest padded to a
gigabyte, an image header that claims 20000x20000 pixels of zeros, a JSON nested 100,000
deep). Nothing from outside is trusted before its size is known to be sane:

* ``read_member`` reads a zip member only after checking its *declared* size against a limit
  and its declared compression ratio (a few kB that inflate to gigabytes are refused before a
  byte is inflated); the read itself stops at the limit, whatever the header said;
* ``parse_json`` refuses text over a size limit, nesting deeper than ``MAX_JSON_DEPTH``
  (checked on the raw text, before the recursive parser could overflow the stack), and any
  number that is not finite (``1e400``, ``NaN``, ``Infinity``);
* ``png_header`` reads a PNG's size from its IHDR chunk without decoding a pixel;
* ``available_memory`` / ``check_memory`` say, in one sentence, when a job needs more memory
  than this computer has free, instead of letting the system kill the app
  (``PIGGYDESK_MEMORY_LIMIT_MB`` sets a lower ceiling).

Every refusal is a ``PhotoError`` subclass whose text is one sentence for the user.
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
import sys
import zipfile
from typing import Any

import numpy as np

from piggydesk.core.errors import PhotoError

MAX_JSON_DEPTH = 32
"""The deepest nesting accepted in a manifest or hints file (PiggyDesk writes at most 6)."""

MAX_RATIO = 200
"""The largest compression ratio accepted for a zip member above ``RATIO_FLOOR`` bytes."""

RATIO_FLOOR = 1 << 20

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


def _gib(nbytes: float) -> str:
    return f"{nbytes / 2**30:.1f} GB" if nbytes >= 2**30 else f"{nbytes / 2**20:.0f} MB"


# ----------------------------------------------------------------------------- zip members


def read_member(
    archive: zipfile.ZipFile,
    member: str,
    limit: int,
    where: str,
    error: type[PhotoError] = PhotoError,
) -> bytes:
    """The bytes of ``member``, refused (``error``) when it is missing, too big or a bomb.

    ``where`` names the file in messages ("family.piggy"). The declared size and ratio are
    checked before reading; the read never returns more than ``limit`` bytes.
    """
    try:
        info = archive.getinfo(member)
    except KeyError:
        raise error(f"{where} is damaged: it has no {member}.") from None
    check_member(info, limit, where, error)
    with archive.open(info) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise error(f"{where} is damaged: {member} is larger than it claims.")
    return data


def check_member(
    info: zipfile.ZipInfo, limit: int, where: str, error: type[PhotoError] = PhotoError
) -> None:
    """Refuse a member whose declared size is over ``limit`` or whose ratio is a bomb's."""
    if info.file_size > limit:
        raise error(
            f"{where} is refused: its part {info.filename} would be {_gib(info.file_size)}, "
            f"more than the {_gib(limit)} it can sensibly hold."
        )
    if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        raise error(
            f"{where} is refused: its part {info.filename} inflates {_gib(info.compress_size)} "
            f"into {_gib(info.file_size)}, which only a malicious file does."
        )


# ----------------------------------------------------------------------------- JSON


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text} is out of range")
    return value


def _no_constant(text: str) -> float:
    raise ValueError(f"{text} is not a number PiggyDesk accepts")


def json_depth(data: bytes) -> int:
    """The deepest nesting of ``[`` / ``{`` in JSON text (strings ignored), without parsing."""
    stripped = _STRING.sub(b'""', data)
    codes = np.frombuffer(stripped, dtype=np.uint8)
    steps = np.zeros(codes.shape, dtype=np.int32)
    steps[(codes == ord("[")) | (codes == ord("{"))] = 1
    steps[(codes == ord("]")) | (codes == ord("}"))] = -1
    return int(np.cumsum(steps).max(initial=0))


def parse_json(
    data: bytes, what: str, limit: int, error: type[PhotoError] = PhotoError
) -> Any:
    """Parse UTF-8 JSON ``data`` read from ``what`` with size, depth and number checks."""
    if len(data) > limit:
        raise error(f"{what} is refused: it is {_gib(len(data))}, more than {_gib(limit)}.")
    depth = json_depth(data)
    if depth > MAX_JSON_DEPTH:
        raise error(
            f"{what} is refused: it is nested {depth} levels deep (at most {MAX_JSON_DEPTH})."
        )
    try:
        return json.loads(data.decode("utf-8"), parse_float=_finite, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise error(f"{what} could not be read: it is not UTF-8 text.") from None
    except json.JSONDecodeError as exc:
        raise error(f"{what} could not be read: it is not valid JSON (line {exc.lineno}).") from None
    except (ValueError, RecursionError) as exc:
        raise error(f"{what} could not be read: {exc}.") from None


# ----------------------------------------------------------------------------- images


def png_header(data: bytes) -> tuple[int, int, int] | None:
    """``(width, height, bit_depth)`` from a PNG's IHDR chunk, or None if it is no PNG."""
    if len(data) >= 26 and data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height), int(data[24])
    return None


# ----------------------------------------------------------------------------- memory


MEMORY_LIMIT_ENV = "PIGGYDESK_MEMORY_LIMIT_MB"
"""Caps the memory PiggyDesk plans with (MB), e.g. to leave room for other programs."""


def available_memory() -> int | None:
    """Bytes of memory this computer can give a process now (None when unknown).

    ``PIGGYDESK_MEMORY_LIMIT_MB`` lowers the figure (never raises it).
    """
    free = _system_available_memory()
    try:
        limit = int(os.environ.get(MEMORY_LIMIT_ENV, "")) << 20
    except ValueError:
        return free
    return limit if free is None else min(free, limit)


def _system_available_memory() -> int | None:
    try:
        if sys.platform.startswith("linux"):
            with open("/proc/meminfo", "rb") as handle:
                for line in handle:
                    if line.startswith(b"MemAvailable:"):
                        return int(line.split()[1]) * 1024
        if sys.platform == "win32":
            import ctypes

            class _Status(ctypes.Structure):
                _fields_ = [("length", ctypes.c_ulong), ("load", ctypes.c_ulong)] + [
                    (name, ctypes.c_ulonglong)
                    for name in ("total", "avail", "page_total", "page_avail", "virt_total",
                                 "virt_avail", "ext")
                ]

            status = _Status()
            status.length = ctypes.sizeof(_Status)
            if ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):  # type: ignore[attr-defined]
                return int(status.avail)
            return None
        pages = os.sysconf("SC_PHYS_PAGES")  # macOS: physical memory (free pages mislead)
        return int(pages) * int(os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, AttributeError):
        return None


class NotEnoughMemoryError(PhotoError):
    """A job needs more memory than this computer has available."""


def check_memory(needed: int, what: str) -> None:
    """Refuse ``what`` ("Colorizing scan.tif") in one sentence when ``needed`` bytes won't fit."""
    free = available_memory()
    if free is not None and needed > free:
        raise NotEnoughMemoryError(
            f"{what} needs about {_gib(needed)} of memory, but this computer has only "
            f"{_gib(free)} free; close other programs or scale the photo down and try again."
        )


# ----------------------------------------------------------------------------- model files


MAX_SAFETENSORS_HEADER = 100 << 20


def safetensors_problem(path: str | os.PathLike[str]) -> str:
    """Why the ``.safetensors`` file at ``path`` cannot be loaded ("" when its header is sound).

    Reads only the header (8-byte length, then JSON) and checks that every tensor's bytes lie
    inside the file, so a truncated or corrupt file is named before any loader touches it.
    """
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            head = handle.read(8)
            if len(head) < 8:
                return "it is too short to be a safetensors file"
            length = struct.unpack("<Q", head)[0]
            if length > min(MAX_SAFETENSORS_HEADER, size - 8):
                return "its header is damaged (it is not a safetensors file, or it is truncated)"
            header = handle.read(length)
    except OSError as exc:
        return f"it could not be read ({exc.strerror or exc})"
    try:
        data = parse_json(header, "its header", MAX_SAFETENSORS_HEADER)
    except PhotoError:
        return "its header is not valid JSON (the file is damaged)"
    if not isinstance(data, dict):
        return "its header is damaged"
    body = size - 8 - length
    for name, entry in data.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if (
            not isinstance(offsets, list) or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= body
        ):
            return f"the tensor {name!r} lies outside the file (the file is truncated or damaged)"
    return ""


def json_object_problem(path: str | os.PathLike[str], limit: int = 1 << 20) -> str:
    """Why ``path`` is not a readable JSON object ("" when it is one)."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(limit + 1)
    except OSError as exc:
        return f"it could not be read ({exc.strerror or exc})"
    try:
        data = parse_json(raw, "it", limit)
    except PhotoError as exc:
        return str(exc).removeprefix("it ").rstrip(".")
    if not isinstance(data, dict):
        return f"it holds a JSON {type(data).__name__.replace('dict', 'object')}, not an object"
    return ""
