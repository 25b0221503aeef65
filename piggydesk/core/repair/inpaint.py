"""Filling the masked pixels of a photo from their surroundings, at full resolution.

``inpaint(image, mask)`` returns a copy of ``image`` (float32 ``(H, W)`` or ``(H, W, C)``) in
which only the pixels under ``mask`` have changed: every other pixel is bit-for-bit the input.

* **Thin defects** (scratches, dust: every masked pixel within ``THIN_RADIUS`` px of the
  mask's edge) are filled by Telea's fast-marching method (A. Telea, "An Image Inpainting
  Technique Based on the Fast Marching Method", J. Graphics Tools 9(1), 2004, Eq. 1-3: each
  pixel is a weighted first-order extrapolation from the known pixels within ``radius``),
  OpenCV's ``INPAINT_TELEA``, run tile by tile on the tiles that hold any masked pixel.
* **Large holes** (a torn corner, a missing piece: components thicker than that) are filled
  by the biharmonic fill (Damelin and Hoang, "On Surface Completion and Image Inpainting by
  Biharmonic Functions", 2018: the smoothest continuation, Delta^2 u = 0 in the hole, with the
  known pixels as boundary values), solved on a copy of the hole's neighbourhood reduced so
  the hole is at most ``COARSE_SIZE`` px across, brought back up, and given grain of the
  strength measured around the hole so the patch does not look like plastic.

Memory: one copy of the image (the result) plus a tile or a hole's neighbourhood at a time.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

logger = logging.getLogger(__name__)

THIN_RADIUS = 5
"""Masked components no thicker than this (px from their edge) count as thin defects."""
COARSE_SIZE = 96
"""A large hole is filled at a scale where it is at most this many pixels across."""
_TILE = 256
_STEPS = 65535.0  # OpenCV rounds float fills to whole numbers: work in 1/65535 of the range


def inpaint(
    image: np.ndarray, mask: np.ndarray, radius: float = 4.0, method: str = "telea", seed: int = 0
) -> np.ndarray:
    """A copy of ``image`` with the pixels under ``mask`` filled from their surroundings.

    ``image``: uint8, uint16 or float ``(H, W)`` or ``(H, W, C)`` (kept in its type; other
    types become float32). ``method`` is ``"telea"`` or ``"ns"`` (Navier-Stokes, Bertalmio et
    al. 2001) for the thin defects; large holes always get the biharmonic fill.
    """
    image = np.asarray(image)
    if image.dtype not in (np.uint8, np.uint16, np.float32):
        image = image.astype(np.float32)
    out = image.copy()
    inpaint_into(out, mask, radius, method, seed)
    return out


def inpaint_into(
    out: np.ndarray, mask: np.ndarray, radius: float = 4.0, method: str = "telea", seed: int = 0
) -> None:
    """``inpaint`` in place: only the pixels of ``out`` under ``mask`` are written."""
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != out.shape[:2]:
        raise ValueError(f"the mask is {mask.shape[::-1]}, the image {out.shape[1::-1]}")
    if out.dtype not in (np.uint8, np.uint16, np.float32):
        raise ValueError(f"inpainting works on uint8, uint16 or float32 pixels, not {out.dtype}")
    if not mask.any():
        return
    thin, holes = split_thin_and_large(mask)
    if holes.any():
        _fill_holes(out, holes, seed)
    if thin.any():
        known = ~mask | holes  # the holes are filled by now: thin defects may lean on them
        _fill_thin(out, thin, known, radius, method)


def split_thin_and_large(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(thin, large)``: the mask's components no thicker than ``THIN_RADIUS`` px, and the rest."""
    mask_u8 = mask.view(np.uint8) if mask.dtype == bool else (mask > 0).astype(np.uint8)
    core = cv2.erode(
        mask_u8, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * THIN_RADIUS + 1,) * 2)
    )
    if not core.any():
        return mask.astype(bool, copy=False), np.zeros(mask.shape, bool)
    count, labels = cv2.connectedComponents(mask_u8, connectivity=8)
    large_labels = np.zeros(count, bool)
    large_labels[np.unique(labels[core > 0])] = True
    large_labels[0] = False
    large = large_labels[labels]
    return mask & ~large, large


def _fill_thin(out: np.ndarray, thin: np.ndarray, known: np.ndarray, radius: float, method: str):
    flag = cv2.INPAINT_NS if method == "ns" else cv2.INPAINT_TELEA
    h, w = thin.shape
    margin = int(np.ceil(radius)) + 2
    rows = np.flatnonzero(thin.any(axis=1))
    for ty in range(rows[0] // _TILE * _TILE, rows[-1] + 1, _TILE):
        band = thin[ty : ty + _TILE]
        if not band.any():
            continue
        cols = np.flatnonzero(band.any(axis=0))
        for tx in range(cols[0] // _TILE * _TILE, cols[-1] + 1, _TILE):
            tile = thin[ty : ty + _TILE, tx : tx + _TILE]
            if not tile.any():
                continue
            y0, x0 = max(ty - margin, 0), max(tx - margin, 0)
            y1, x1 = min(ty + _TILE + margin, h), min(tx + _TILE + margin, w)
            # everything not known is "to fill" for OpenCV, but only this tile's thin pixels are kept
            fill = (~known[y0:y1, x0:x1]).astype(np.uint8)
            keep = np.zeros((y1 - y0, x1 - x0), bool)
            keep[ty - y0 : ty - y0 + tile.shape[0], tx - x0 : tx - x0 + tile.shape[1]] = tile
            _fill_tile(out[y0:y1, x0:x1], fill, keep, float(radius), flag)


def _fill_tile(src: np.ndarray, fill: np.ndarray, keep: np.ndarray, radius: float, flag: int):
    """OpenCV's fill of one tile, in the pixels' own type where OpenCV takes it."""
    if src.dtype == np.uint8 and (src.ndim == 2 or src.shape[2] == 3):
        filled = cv2.inpaint(np.ascontiguousarray(src), fill, radius, flag)
        src[keep] = filled[keep]
        return
    channels = [src] if src.ndim == 2 else [src[..., c] for c in range(src.shape[2])]
    for channel in channels:
        if channel.dtype == np.uint16:
            filled = cv2.inpaint(np.ascontiguousarray(channel), fill, radius, flag)
            channel[keep] = filled[keep]
            continue
        # OpenCV rounds float fills to whole numbers: work in 1/65535 of the tile's range
        scale = max(float(np.abs(channel).max(initial=0.0)), 1e-6)
        scaled = np.ascontiguousarray(channel, dtype=np.float32) * np.float32(_STEPS / scale)
        filled = cv2.inpaint(scaled, fill, radius, flag)
        channel[keep] = (filled[keep] * np.float32(scale / _STEPS)).astype(channel.dtype)


def _fill_holes(out: np.ndarray, holes: np.ndarray, seed: int) -> None:
    from skimage.restoration import inpaint_biharmonic

    h, w = holes.shape
    rows, cols = np.flatnonzero(holes.any(axis=1)), np.flatnonzero(holes.any(axis=0))
    top, left = int(rows[0]), int(cols[0])
    box = np.ascontiguousarray(holes[top : rows[-1] + 1, left : cols[-1] + 1])
    count, labels_box, stats, _ = cv2.connectedComponentsWithStats(
        box.view(np.uint8), connectivity=8
    )
    stats[:, 0] += left
    stats[:, 1] += top
    rng = np.random.default_rng(seed)
    for label in range(1, count):
        x, y, bw, bh = (int(v) for v in stats[label, :4])
        pad = max(bw, bh) // 4 + 8
        y0, x0 = max(y - pad, 0), max(x - pad, 0)
        y1, x1 = min(y + bh + pad, h), min(x + bw + pad, w)
        region = np.zeros((y1 - y0, x1 - x0), bool)
        by0, bx0 = max(y0 - top, 0), max(x0 - left, 0)
        by1, bx1 = min(y1 - top, box.shape[0]), min(x1 - left, box.shape[1])
        region[by0 + top - y0 : by1 + top - y0, bx0 + left - x0 : bx1 + left - x0] = (
            labels_box[by0:by1, bx0:bx1] == label
        )
        patch = out[y0:y1, x0:x1]
        work = patch.astype(np.float32)
        factor = max(1.0, max(bw, bh) / COARSE_SIZE)
        size = (max(int(round((x1 - x0) / factor)), 1), max(int(round((y1 - y0) / factor)), 1))
        small = cv2.resize(work, size, interpolation=cv2.INTER_AREA)
        small_hole = cv2.resize(region.view(np.uint8), size, interpolation=cv2.INTER_AREA) > 0
        # known pixels next to the hole are partly hole at the coarse scale: treat them as unknown
        small_hole = cv2.dilate(small_hole.view(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        if small.ndim == 3:
            filled = inpaint_biharmonic(small, small_hole, channel_axis=-1)
        else:
            filled = inpaint_biharmonic(small, small_hole)
        smooth = cv2.resize(
            filled.astype(np.float32), (x1 - x0, y1 - y0), interpolation=cv2.INTER_CUBIC
        )
        grain = _grain_strength(work, region)
        if grain > 0:
            noise = rng.normal(0.0, grain, size=smooth.shape[:2]).astype(np.float32)
            smooth += noise if smooth.ndim == 2 else noise[..., None]
        values = smooth[region]
        if np.issubdtype(patch.dtype, np.integer):
            top_value = np.iinfo(patch.dtype).max
            values = np.clip(np.rint(values), 0, top_value)
        patch[region] = values.astype(patch.dtype)


def _grain_strength(patch: np.ndarray, region: np.ndarray) -> float:
    """The standard deviation of the fine detail in a ring around the hole."""
    ring = cv2.dilate(region.view(np.uint8), np.ones((9, 9), np.uint8)).astype(bool) & ~region
    if ring.sum() < 16:
        return 0.0
    gray = patch if patch.ndim == 2 else patch.mean(axis=2)
    detail = gray - cv2.GaussianBlur(gray, (0, 0), 1.5)
    values = detail[ring]
    mad = float(np.median(np.abs(values - np.median(values))))
    return 1.4826 * mad
