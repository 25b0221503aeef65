"""The repair part of a document: its settings, its defect mask, their edits and storage.

A ``core.document.Document`` carries ``repair`` (``RepairSettings``) and ``defect_mask`` (a
``bool`` array the size of the *source* photo, or ``None``). What the person sees, brushes
hints onto and colorizes is the **working photo**: the source after geometry, repair and tone
(``working_photo(doc)``, cached until the settings or the mask change). Hints are stored in
working-photo pixels, so the canvas and the engines need no mapping; when the geometry
changes, ``SetRepair`` moves the hints with the photo (and its ``undo`` puts them back).

Edits (Qt-free, ``do``/``undo`` like every document command):

* ``PaintMask``: one brush stroke (a polyline with a radius, in working-photo pixels) added
  to or erased from the mask; it keeps only the stroke's bounding box before and after, so
  undo costs what the stroke touched, not a copy of the mask;
* ``SetDefectMask``: a whole new mask (the automatic proposal added, or the mask cleared);
  the old one is kept bit-packed (1 bit a pixel) for undo;
* ``SetRepair``: new settings (geometry, tone, grain...).

In a ``.piggy`` project the settings are the manifest's ``repair`` entry and the mask is the
1-bit PNG ``repair/defect-mask.png``; a project without them (older ones) opens with no
repair at all.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import threading
import zipfile
from typing import Any

import cv2
import numpy as np

from piggydesk.core.bounds import png_header, read_member
from piggydesk.core.errors import ProjectError
from piggydesk.core.hints import Hint
from piggydesk.core.imaging import Photo
from piggydesk.core.repair.geometry import Geometry
from piggydesk.core.repair.pipeline import RepairSettings, hints_at, repair_photo

logger = logging.getLogger(__name__)

MASK_MEMBER = "repair/defect-mask.png"
_MASK_PNG_LIMIT = 64 << 20


# ----------------------------------------------------------------------------- working photo


_CACHE_SIZE = 2
_cache: list[tuple[Any, Photo, Photo]] = []  # (key, source photo, working photo), newest first
_cache_lock = threading.Lock()


def working_photo(doc: Any) -> Photo:
    """The source photo after the document's geometry, repair and tone.

    Cached by content (the source photo, the settings and the mask's digest), so a working
    photo computed ahead of time (in a worker thread, on a copy of the document with the
    edit applied) is the very object the document then returns.
    """
    mask = doc.defect_mask
    if doc.repair.is_identity and (mask is None or not mask.any()):
        return doc.photo
    key = (id(doc.photo), doc.repair, mask_digest(mask))
    with _cache_lock:
        for cached_key, source, result in _cache:
            if cached_key == key and source is doc.photo:
                return result
    photo = repair_photo(doc.photo, doc.repair, mask)
    with _cache_lock:
        _cache.insert(0, (key, doc.photo, photo))
        del _cache[_CACHE_SIZE:]
    return photo


def mask_digest(mask: np.ndarray | None) -> str | None:
    """A digest of the mask's content (computed once for an immutable mask)."""
    if mask is None:
        return None
    digest = getattr(mask, "_digest", None)
    if digest is None:
        data = np.ascontiguousarray(mask, dtype=bool)
        digest = hashlib.blake2b(data.view(np.uint8).data, digest_size=16).hexdigest()
        digest = f"{mask.shape}:{digest}"
        if isinstance(mask, _Mask):
            mask._digest = digest
    return digest


class _Mask(np.ndarray):
    """A ``bool`` mask that is never changed in place, with a version number of its own (so
    the cache and the GUI know when it changed, and a snapshot can share it safely)."""

    _version: int = 0
    _digest: str | None = None


_versions = itertools.count(1)


def as_mask(array: np.ndarray) -> np.ndarray:
    mask = np.array(array, dtype=bool, copy=True).view(_Mask)
    mask._version = next(_versions)
    mask.flags.writeable = False
    return mask


def mask_overlay(doc: Any) -> np.ndarray | None:
    """The defect mask in working-photo pixels (what the canvas shows), or ``None``."""
    if doc.defect_mask is None or not doc.defect_mask.any():
        return None
    return np.asarray(doc.repair.geometry.apply(np.asarray(doc.defect_mask), mask=True))


# ----------------------------------------------------------------------------- edits


class PaintMask:
    """One brush stroke on the defect mask (``erase=True`` takes pixels out)."""

    def __init__(self, points: list[tuple[float, float]], radius: float, erase: bool = False):
        self.points = [(float(x), float(y)) for x, y in points]
        self.radius = max(float(radius), 0.5)
        self.erase = bool(erase)
        self.text = "Erase from defect mask" if erase else "Paint defect mask"
        self._box: tuple[int, int, int, int] | None = None
        self._before: np.ndarray | None = None
        self._after: np.ndarray | None = None
        self._created = False

    def do(self, doc: Any) -> None:
        if self._after is not None:  # redo: put back exactly what the stroke made
            self._put(doc, self._after)
            return
        self._ensure_mask(doc)
        h, w = doc.photo.size
        size = doc.photo.size
        geometry: Geometry = doc.repair.geometry
        source = geometry.unmap_points(np.array(self.points).reshape(-1, 2), size)
        # the radius is in working pixels: the geometry turns and crops but never scales
        r = self.radius
        y0 = int(max(np.floor(source[:, 1].min() - r - 1), 0))
        y1 = int(min(np.ceil(source[:, 1].max() + r + 2), h))
        x0 = int(max(np.floor(source[:, 0].min() - r - 1), 0))
        x1 = int(min(np.ceil(source[:, 0].max() + r + 2), w))
        self._box = (y0, max(y1, y0), x0, max(x1, x0))
        y0, y1, x0, x1 = self._box
        patch = np.array(doc.defect_mask[y0:y1, x0:x1])
        self._before = patch.copy()
        stroke = np.zeros(patch.shape, np.uint8)
        pts = np.round((source - [x0, y0]) * 16).astype(np.int32)  # 4 fractional bits
        thickness = max(int(round(2 * r)), 1)
        if len(pts) == 1:
            cv2.circle(stroke, tuple(pts[0]), int(round(r * 16)), 1, -1, cv2.LINE_8, 4)
        else:
            for a, b in zip(pts[:-1], pts[1:]):
                cv2.line(stroke, tuple(a), tuple(b), 1, thickness, cv2.LINE_8, 4)
                cv2.circle(stroke, tuple(b), int(round(r * 16)), 1, -1, cv2.LINE_8, 4)
            cv2.circle(stroke, tuple(pts[0]), int(round(r * 16)), 1, -1, cv2.LINE_8, 4)
        if self.erase:
            patch &= stroke == 0
        else:
            patch |= stroke > 0
        self._after = patch
        self._put(doc, patch)

    def _ensure_mask(self, doc: Any) -> None:
        if doc.defect_mask is None:
            doc.defect_mask = as_mask(np.zeros(doc.photo.size, bool))
            self._created = True

    def _put(self, doc: Any, patch: np.ndarray) -> None:
        """A new mask: the old one with ``patch`` in the stroke's box (never in place)."""
        if doc.defect_mask is None:
            doc.defect_mask = as_mask(np.zeros(doc.photo.size, bool))
        mask = np.array(doc.defect_mask)
        y0, y1, x0, x1 = self._box
        mask[y0:y1, x0:x1] = patch
        doc.defect_mask = as_mask(mask)

    def undo(self, doc: Any) -> None:
        assert self._before is not None, "undo before do"
        if self._created:
            doc.defect_mask = None
            return
        self._put(doc, self._before)


class SetDefectMask:
    """Replace the whole mask (``None`` clears it); ``add=True`` adds to the current one."""

    def __init__(self, mask: np.ndarray | None, text: str = "Set defect mask", add: bool = False):
        self.mask = None if mask is None else np.asarray(mask, dtype=bool)
        self.text = text
        self.add = add
        self._old: tuple[np.ndarray, tuple[int, int]] | None = None
        self._had = False

    def do(self, doc: Any) -> None:
        old = doc.defect_mask
        self._had = old is not None
        if old is not None:
            self._old = (np.packbits(old, axis=None), old.shape)
        new = self.mask
        if new is not None and new.shape != doc.photo.size:
            raise ValueError(f"a defect mask is {new.shape}, the photo {doc.photo.size}")
        if self.add and old is not None and new is not None:
            new = np.asarray(old) | new
        doc.defect_mask = None if new is None else as_mask(new)

    def undo(self, doc: Any) -> None:
        if not self._had:
            doc.defect_mask = None
            return
        packed, shape = self._old
        bits = np.unpackbits(packed, count=shape[0] * shape[1]).reshape(shape)
        doc.defect_mask = as_mask(bits.astype(bool))


class SetRepair:
    """New repair settings; a geometry change moves the hints with the photo."""

    def __init__(self, settings: RepairSettings, text: str = "Change repair"):
        self.settings = settings
        self.text = text
        self._old: tuple[RepairSettings, list[Hint]] | None = None

    def do(self, doc: Any) -> None:
        old = doc.repair
        self._old = (old, list(doc.hints))
        doc.repair = self.settings
        if old.geometry != self.settings.geometry and doc.hints:
            doc.hints[:] = move_hints(
                doc.hints, old.geometry, self.settings.geometry, doc.photo.size
            )

    def undo(self, doc: Any) -> None:
        assert self._old is not None, "undo before do"
        doc.repair, hints = self._old
        doc.hints[:] = hints


def move_hints(
    hints: list[Hint], old: Geometry, new: Geometry, size: tuple[int, int]
) -> list[Hint]:
    """Hints in ``old``'s working pixels -> ``new``'s (those the new crop cuts away dropped)."""
    if not hints:
        return []
    points = np.array([[h.x, h.y] for h in hints])
    moved = new.map_points(old.unmap_points(points, size), size)
    return hints_at(hints, moved, new.output_size(size))


# ----------------------------------------------------------------------------- project files


def repair_state(doc: Any) -> dict[str, Any]:
    """The manifest entries: ``repair`` (settings) and ``defect_mask`` (member name or None)."""
    has_mask = doc.defect_mask is not None and bool(doc.defect_mask.any())
    return {
        "repair": doc.repair.to_dict(),
        "defect_mask": MASK_MEMBER if has_mask else None,
    }


def encode_mask(mask: np.ndarray) -> bytes:
    """A 1-bit PNG of the mask (white = defect): a few kB for a 12-megapixel scan."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(mask, dtype=bool)).save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def write_repair(archive: zipfile.ZipFile, doc: Any, state: dict[str, Any]) -> None:
    if state.get("defect_mask"):
        archive.writestr(MASK_MEMBER, encode_mask(doc.defect_mask), zipfile.ZIP_STORED)


def read_repair(
    archive: zipfile.ZipFile, manifest: dict[str, Any], photo: Photo, where: str
) -> tuple[RepairSettings, np.ndarray | None]:
    """The settings and mask a manifest names (defaults for a project without them)."""
    stored = manifest.get("repair")
    try:
        settings = RepairSettings.from_dict(stored if isinstance(stored, dict) else {})
    except (TypeError, ValueError) as exc:
        raise ProjectError(
            f"{where} is damaged: its repair settings are not valid ({exc})."
        ) from None
    member = manifest.get("defect_mask")
    if not member:
        return settings, None
    if member != MASK_MEMBER:
        raise ProjectError(f"{where} is damaged: unexpected defect mask {member!r}.")
    data = read_member(archive, MASK_MEMBER, _MASK_PNG_LIMIT, where, ProjectError)
    header = png_header(data[:32])
    height, width = photo.size
    if header is None or header[:2] != (width, height):
        raise ProjectError(f"{where} is damaged: its defect mask does not fit the photo.")
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        mask = np.asarray(image.convert("L")) > 127  # (a mode-"1" array may hold 255 for True)
    return settings, as_mask(mask)
