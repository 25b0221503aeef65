"""Film-grain reduction of the lightness: non-local means with a strength slider.

Non-local means (Buades, Coll and Morel, "A non-local algorithm for image denoising", CVPR
2005, Eq. 2-3: each pixel becomes the average of pixels whose 7x7 neighbourhoods look alike,
weighted by exp(-|patch distance|^2 / h^2)) in OpenCV's fast implementation, on L* stored as
16-bit values (so a 16-bit scan keeps its precision). ``strength`` in [0, 1] sets ``h`` from
the grain the scan actually has (its noise, estimated from the median absolute deviation of
the finest wavelet-like detail), from none to twice that.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

logger = logging.getLogger(__name__)

_SEARCH = 15
_PATCH = 5


def estimate_noise(lightness: np.ndarray) -> float:
    """Standard deviation (L*) of the scan's grain: MAD of a second difference (Donoho 1995)."""
    step = max(1, int(np.ceil(max(lightness.shape) / 1024)))
    L = np.asarray(lightness[::step, ::step], dtype=np.float32)
    if min(L.shape) < 3:
        return 0.0
    detail = L[1:-1, 1:-1] * 2 - L[:-2, 1:-1] - L[2:, 1:-1]
    return float(1.4826 * np.median(np.abs(detail)) / np.sqrt(6.0))


def denoise_lightness(lightness: np.ndarray, strength: float) -> np.ndarray:
    """``lightness`` with its grain reduced; ``strength`` 0 returns it unchanged."""
    L = np.asarray(lightness, dtype=np.float32)
    strength = float(np.clip(strength, 0.0, 1.0))
    if strength <= 0:
        return L
    sigma = max(estimate_noise(L), 0.2)
    h = 2.0 * strength * sigma * 655.35  # in 16-bit units
    values = np.clip(L * 655.35 + 0.5, 0, 65535).astype(np.uint16)
    out = cv2.fastNlMeansDenoising(
        values,
        [float(h)],
        templateWindowSize=_PATCH,
        searchWindowSize=_SEARCH,
        normType=cv2.NORM_L1,
    )
    return out.astype(np.float32) * np.float32(1 / 655.35)
