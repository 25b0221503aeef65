"""Result images kept compact: 16-bit RGB, in memory up to a budget, the rest in a scratch file.

A colorization result is a full-resolution float32 sRGB image, 12 bytes a pixel: 288 MB for
a 24 MP scan. Every run adds its variants to the document and to the undo stack, so five runs
of four variants of such a scan held as float32 take 5.8 GB. A :class:`CompactImage` keeps
the same image as 16-bit RGB (6 bytes a pixel; exact to half a 16-bit level, which is what
the project file and a 16-bit export hold anyway), and only the most recently used images
stay in memory, up to a budget (:data:`DEFAULT_BUDGET`, 768 MiB, or
``PIGGYDESK_VARIANT_MEMORY_MB``); older ones are written to a scratch file in the user's data
folder (``scratch/<process>/``, deleted when the image is dropped and at exit) and read back
when someone asks for the pixels. A small float32 preview (long side :data:`PREVIEW_SIDE`)
stays in memory for thumbnails.

``CompactImage.rgb()`` returns the full-resolution float32 image; while a caller holds it,
further calls return the same array (weak reference), so the canvas, export and "use this
variant" share one copy instead of decoding again. Conversions run in bands of rows, so a
conversion never needs more than the result itself plus a few MB.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import secrets
import shutil
import threading
import time
import weakref
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np

from piggydesk.core import paths

logger = logging.getLogger(__name__)

DEFAULT_BUDGET = 768 << 20
"""Bytes of 16-bit result pixels kept in memory (about five variants of a 24 MP scan)."""
PREVIEW_SIDE = 384
"""Long side, in pixels, of the preview kept in memory for thumbnails."""
_BAND = 256  # rows converted at a time
_SCALE = np.float32(65535.0)


def budget_from_env() -> int:
    value = os.environ.get("PIGGYDESK_VARIANT_MEMORY_MB", "").strip()
    try:
        return max(0, int(float(value) * (1 << 20))) if value else DEFAULT_BUDGET
    except ValueError:
        logger.warning("ignoring PIGGYDESK_VARIANT_MEMORY_MB=%r (not a number)", value)
        return DEFAULT_BUDGET


def to_uint16(rgb: np.ndarray) -> np.ndarray:
    """float sRGB in [0, 1] to uint16, rounded (band by band, so no full-size temporaries)."""
    rgb = np.asarray(rgb)
    out = np.empty(rgb.shape, dtype=np.uint16)
    for top in range(0, rgb.shape[0], _BAND):
        band = np.asarray(rgb[top : top + _BAND], dtype=np.float32) * _SCALE
        np.rint(band, out=band)
        np.clip(band, 0, 65535, out=band)
        out[top : top + _BAND] = band
    return out


def to_float32(pixels: np.ndarray) -> np.ndarray:
    """uint16 RGB to float32 in [0, 1] (band by band)."""
    out = np.empty(pixels.shape, dtype=np.float32)
    for top in range(0, pixels.shape[0], _BAND):
        np.divide(pixels[top : top + _BAND], _SCALE, out=out[top : top + _BAND], dtype=np.float32)
    return out


def make_preview(rgb: np.ndarray, side: int = PREVIEW_SIDE) -> np.ndarray:
    h, w = rgb.shape[:2]
    scale = side / max(h, w)
    if scale >= 1.0:
        return np.array(rgb, dtype=np.float32)
    step = max(1, int(1.0 / scale) // 2)  # decimate cheaply first, then average properly
    small = np.ascontiguousarray(rgb[::step, ::step], dtype=np.float32)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(small, size, interpolation=cv2.INTER_AREA)


class PixelStore:
    """Keeps the in-memory 16-bit pixels of all :class:`CompactImage` under one budget."""

    def __init__(self, budget: int | None = None, folder: Path | None = None) -> None:
        self.budget = budget_from_env() if budget is None else int(budget)
        self._folder = folder
        self._lock = threading.RLock()
        # weak references (a dropped result must be freed), least recently used first
        self._resident: OrderedDict[int, weakref.ref[CompactImage]] = OrderedDict()
        self._resident_bytes = 0

    @property
    def resident_bytes(self) -> int:
        return self._resident_bytes

    def folder(self) -> Path:
        if self._folder is None:
            root = paths.data_dir() / "scratch"
            _remove_stale(root)
            self._folder = root / f"{os.getpid()}-{secrets.token_hex(3)}"
            self._folder.mkdir(parents=True, exist_ok=True)
            atexit.register(shutil.rmtree, self._folder, True)
        return self._folder

    def admit(self, image: CompactImage) -> None:
        with self._lock:
            self._resident[id(image)] = weakref.ref(image)
            self._resident_bytes += image.nbytes
            self._enforce(keep=image)

    def touch(self, image: CompactImage) -> None:
        with self._lock:
            if id(image) in self._resident:
                self._resident.move_to_end(id(image))

    def forget(self, image_id: int, nbytes: int) -> None:
        with self._lock:
            if self._resident.pop(image_id, None) is not None:
                self._resident_bytes -= nbytes

    def _enforce(self, keep: CompactImage) -> None:
        while self._resident_bytes > self.budget:
            victim = None
            for ref in self._resident.values():
                image = ref()
                if image is not None and image is not keep:
                    victim = image
                    break
            if victim is None:
                return
            if not victim._spill():
                return  # the disk refused: stay over budget rather than lose a result
            self._resident.pop(id(victim))
            self._resident_bytes -= victim.nbytes


_default_store: PixelStore | None = None
_default_lock = threading.Lock()


def default_store() -> PixelStore:
    global _default_store
    with _default_lock:
        if _default_store is None:
            _default_store = PixelStore()
        return _default_store


def _remove_stale(root: Path) -> None:
    """Scratch folders of processes that are gone (a crash leaves its folder behind)."""
    if not root.is_dir():
        return
    for child in root.iterdir():
        pid_text = child.name.split("-", 1)[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid():
            continue
        if _alive(int(pid_text)) and time.time() - child.stat().st_mtime < 7 * 86400:
            continue
        shutil.rmtree(child, ignore_errors=True)


def _alive(pid: int) -> bool:
    if os.name != "posix":
        return True  # no cheap check: the age limit above cleans up instead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class CompactImage:
    """A full-resolution sRGB image held as 16-bit, in memory or in a scratch file."""

    def __init__(self, rgb: np.ndarray, store: PixelStore | None = None) -> None:
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) image, not {rgb.shape}")
        self.shape: tuple[int, int, int] = tuple(int(n) for n in rgb.shape)  # type: ignore
        self.preview = make_preview(rgb)
        self._store = store or default_store()
        self._pixels: np.ndarray | None = to_uint16(rgb)
        self._file: Path | None = None
        self._decoded: weakref.ref[np.ndarray] | None = None
        self._lock = threading.Lock()
        self._finalizer = weakref.finalize(self, _release, self._store, id(self), self.nbytes, [])
        self._store.admit(self)

    @property
    def nbytes(self) -> int:
        return self.shape[0] * self.shape[1] * self.shape[2] * 2

    @property
    def in_memory(self) -> bool:
        return self._pixels is not None

    def pixels16(self) -> np.ndarray:
        """The 16-bit pixels (mapped from the scratch file when spilled); do not modify."""
        with self._lock:
            pixels = self._pixels
            if pixels is None:
                assert self._file is not None
                pixels = np.memmap(self._file, dtype=np.uint16, mode="r", shape=self.shape)
        self._store.touch(self)
        return pixels

    def rgb(self) -> np.ndarray:
        """The full-resolution float32 image (shared with earlier callers that still hold it)."""
        decoded = self._decoded() if self._decoded is not None else None
        if decoded is not None:
            self._store.touch(self)
            return decoded
        decoded = to_float32(self.pixels16())
        decoded.flags.writeable = False  # shared: nobody may paint into a stored result
        self._decoded = weakref.ref(decoded)
        return decoded

    def _spill(self) -> bool:
        """Move the pixels to a scratch file (called by the store, under its lock)."""
        with self._lock:
            if self._pixels is None:
                return True
            try:
                path = self._store.folder() / f"{secrets.token_hex(8)}.u16"
                self._pixels.tofile(path)
            except OSError as exc:
                logger.warning("cannot move a result image to disk (%s); keeping it in memory", exc)
                return False
            self._file = path
            self._finalizer.detach()
            self._finalizer = weakref.finalize(self, _release, None, id(self), 0, [path])
            self._pixels = None
            return True


def _release(store: PixelStore | None, image_id: int, nbytes: int, files: list[Path]) -> None:
    if store is not None:
        store.forget(image_id, nbytes)
    for path in files:
        with contextlib.suppress(OSError):
            path.unlink()
