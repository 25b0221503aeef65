"""Automatic defect-mask proposal: dust specks, hairline scratches and torn corners on L*.

A proposal, not a verdict: the person sees it as an overlay and adds to it or erases from it
with a brush. Three detectors, all at the scan's own pixel scale (the defects of a scan are a
few pixels wide whatever its size):

1. **Thin bright and dark structures**: the morphological white top-hat ``L - open(L)`` and
   black-hat ``close(L) - L`` with a disc a little wider than the widest defect
   (``max_width``) keep the structures narrower than the disc (Serra, *Image Analysis and
   Mathematical Morphology*, 1982; the classic film-dust detector). The response is the
   smaller of that and the residual from a median filter of the same size, which keeps an
   edge or a corner of the photo (preserved by the median) from passing as a scratch. It is
   compared with the photo's own texture around each pixel (the local standard deviation of
   the median-filtered photo, and the local mean response: hair, grass, fabric) and with the
   grain of the whole scan (its median response), so grain and busy texture are not taken
   for dust.
2. **Lines**: hysteresis (Canny's two thresholds) lets a scratch that is faint along part of
   its length grow from its strong parts; a component is kept when it is strong enough, or
   long and thin (a hairline: its length, from its area and width, is at least ``min_line``).
3. **Torn corners and missing paper**: a region grown from a corner of the scan that is flat
   (almost no texture), paper-bright or scanner-lid dark, not too big and with a ragged edge.

Everything works on ``float32`` and ``uint8`` images the size of the scan, no more than a few
at a time; connected components are found by OpenCV.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

logger = logging.getLogger(__name__)

# thresholds, tuned on benchmarks/eval_repair.py (see benchmarks/RESULTS.md)
_BASE = 3.0  # L*: the smallest contrast a defect can have on a clean, flat region
_NOISE = 4.0  # times the scan's median response (its grain)
_FLAT_TEXTURE = 0.5  # times the local standard deviation of the median-filtered photo
_BUSY_TEXTURE = 2.5  # times the local mean response (fine texture: hair, grass, fabric)
_LOW = 0.5  # hysteresis: a pixel joins a seeded defect above this fraction of the threshold
_TEXTURE_WINDOW = 3  # times max_width: the window of the local standard deviation
_BUSY_WINDOW = 15
_FIELD_STEP = 2  # the texture fields are smooth: computed at half size


@dataclass(frozen=True)
class DefectOptions:
    """Tuning of ``propose_defect_mask`` (defaults tuned on ``benchmarks/eval_repair.py``).

    ``sensitivity`` in (0, 2]: 1 is the tuned default; higher finds fainter defects (and more
    false alarms). ``max_width`` is the widest scratch or speck (pixels) to look for.
    """

    sensitivity: float = 1.0
    max_width: int = 4
    min_line_length: int = 30
    torn_corners: bool = True


def propose_defect_mask(lightness: np.ndarray, options: DefectOptions | None = None) -> np.ndarray:
    """A ``bool`` mask ``(H, W)`` of the likely dust, scratches and torn corners of ``lightness``."""
    options = options or DefectOptions()
    L = np.ascontiguousarray(lightness, dtype=np.float32)
    mask = _thin_defects(L, options)
    if options.torn_corners:
        mask |= torn_corner_mask(L)
    return mask


def _thin_defects(L: np.ndarray, options: DefectOptions) -> np.ndarray:
    width = max(int(options.max_width), 1)
    k = 2 * width + 1
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    # detection works on 8-bit L* (steps of 0.4 L*): OpenCV's fastest morphology and median
    L8 = _to_u8(L)
    med8 = cv2.medianBlur(L8, _odd(k))
    bright = cv2.morphologyEx(L8, cv2.MORPH_TOPHAT, disc)
    cv2.min(bright, cv2.subtract(L8, med8), dst=bright)  # saturating: 0 where darker
    dark = cv2.morphologyEx(L8, cv2.MORPH_BLACKHAT, disc)
    cv2.min(dark, cv2.subtract(med8, L8), dst=dark)
    del L8
    response = cv2.max(bright, dark)  # 8-bit units (2.55 per L*)
    del bright, dark
    step = max(1, L.shape[0] // 512), max(1, L.shape[1] // 512)
    noise = float(np.median(response[:: step[0], :: step[1]])) / 2.55
    scale = 1.0 / max(float(options.sensitivity), 1e-3)
    base = scale * (_BASE + _NOISE * max(noise, 0.25)) * 2.55
    # only pixels above the lowest threshold a pixel can have are candidates (a few percent)
    ys, xs = np.nonzero(response > _LOW * base)
    values = response[ys, xs].astype(np.float32)
    # the texture terms are smooth fields: computed at half size, read at the candidates
    f = _FIELD_STEP
    h2, w2 = (L.shape[0] + f - 1) // f, (L.shape[1] + f - 1) // f
    med = cv2.resize(med8, (w2, h2), interpolation=cv2.INTER_AREA).astype(np.float32)
    del med8
    window = _odd(_TEXTURE_WINDOW * width // f)
    mean = cv2.blur(med, (window, window))
    texture = cv2.blur(med * med, (window, window))
    texture -= mean * mean
    np.sqrt(np.maximum(texture, 0, out=texture), out=texture)
    del med, mean
    small = cv2.resize(response, (w2, h2), interpolation=cv2.INTER_AREA).astype(np.float32)
    busy_window = _odd(_BUSY_WINDOW // f)
    busy = cv2.blur(small, (busy_window, busy_window))
    del small
    fy, fx = ys // f, xs // f
    high = base + _FLAT_TEXTURE * texture[fy, fx] + _BUSY_TEXTURE * busy[fy, fx]
    del texture, busy
    weak = np.zeros(L.shape, bool)
    strong = np.zeros(L.shape, bool)
    is_weak = values > _LOW * high
    weak[ys[is_weak], xs[is_weak]] = True
    is_strong = values > high
    strong[ys[is_strong], xs[is_strong]] = True
    return _hysteresis(weak, strong, options)


def _hysteresis(weak: np.ndarray, strong: np.ndarray, options: DefectOptions) -> np.ndarray:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(weak.view(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros(weak.shape, bool)
    seeds = np.bincount(labels[strong], minlength=count)
    diag = np.hypot(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT])
    thickness = stats[:, cv2.CC_STAT_AREA] / np.maximum(diag, 1)
    lines = (diag >= options.min_line_length) & (thickness <= options.max_width * 0.75)
    keep = (seeds > 0) | lines
    keep[0] = False
    return keep[labels]


def torn_corner_mask(L: np.ndarray) -> np.ndarray:
    """Flat paper-white (or scanner-black) regions grown from the corners of the scan."""
    h, w = L.shape
    out = np.zeros((h, w), bool)
    step = max(1, int(np.ceil(max(h, w) / 1024)))
    small = np.ascontiguousarray(L[::step, ::step])
    sh, sw = small.shape
    local_dev = np.abs(small - cv2.medianBlur(_to_u8(small), 5).astype(np.float32) / 2.55)
    for cy, cx in ((0, 0), (0, sw - 1), (sh - 1, 0), (sh - 1, sw - 1)):
        value = float(np.median(small[max(cy - 2, 0) : cy + 3, max(cx - 2, 0) : cx + 3]))
        if 8.0 < value < 85.0:
            continue  # neither paper nor scanner lid
        region = (np.abs(small - value) < 4.0) & (local_dev < 3.0)
        count, labels = cv2.connectedComponents(region.view(np.uint8), connectivity=4)
        label = labels[cy, cx]
        if label == 0:
            continue
        blob = labels == label
        area = float(blob.mean())
        if not 1e-4 < area < 0.03:
            continue
        ring = cv2.dilate(blob.view(np.uint8), np.ones((5, 5), np.uint8)).astype(bool) & ~blob
        if not ring.any() or abs(float(np.median(small[ring])) - value) < 8.0:
            continue  # no step at its edge: a bright sky or a dark coat, not a tear
        blob = cv2.dilate(blob.view(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        full = cv2.resize(blob.view(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
        out |= full.astype(bool)
    return out


def _odd(n: int) -> int:
    return max(3, n | 1)


def _to_u8(values: np.ndarray) -> np.ndarray:
    """L* (0-100) to 0-255, rounded and saturated (OpenCV: one fast pass)."""
    return cv2.convertScaleAbs(values, alpha=2.55)
