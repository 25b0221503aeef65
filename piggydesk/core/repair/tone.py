"""Tone of a faded or yellowed scan: automatic levels, local contrast, colour-cast removal.

All on CIE L*a*b* (``core.color``), L* in 0-100:

* **Levels** (``ToneSettings.levels`` = strength in [0, 1]): the black and white points are
  the ``clip`` and ``100 - clip`` percentiles of the L* histogram (a 256-bin histogram of a
  thumbnail: the extremes of a faded print, ignoring a few specks), stretched linearly to 0 and
  100: ``L' = 100 (L - b) / (w - b)``, blended with the original by the strength.
* **Local contrast** (``clahe`` = strength in [0, 1]): contrast-limited adaptive histogram
  equalisation (Zuiderveld, "Contrast Limited Adaptive Histogram Equalization", Graphics Gems
  IV, 1994) of L*, 8x8 tiles, clip limit 2, on 256 levels; the change it makes, times the
  strength, is added to the full-precision L*.
* **Colour cast** (``cast`` = strength in [0, 1]): the median a*, b* of the photo (the cast of
  a sepia or yellowed print) is subtracted from every pixel, so the cast's own chroma goes
  to neutral and any real tints stay. This only changes the shown original and exports of the
  repaired photo: the lightness is what gets colorized.

``apply_tone`` returns the new lightness, and new RGB when asked.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from piggydesk.core.color import lab_to_rgb, lightness_to_gray_rgb, rgb_to_lab

logger = logging.getLogger(__name__)

_THUMB = 512


@dataclass(frozen=True)
class ToneSettings:
    """Strengths in [0, 1]; all zero changes nothing."""

    levels: float = 0.0
    clahe: float = 0.0
    cast: float = 0.0
    clip: float = 0.5  # percent of pixels allowed to clip at each end of the levels stretch

    @property
    def active(self) -> bool:
        return self.levels > 0 or self.clahe > 0 or self.cast > 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ToneSettings:
        def unit(key: str, default: float) -> float:
            return float(np.clip(float(data.get(key, default)), 0.0, 1.0))

        return cls(
            levels=unit("levels", 0.0),
            clahe=unit("clahe", 0.0),
            cast=unit("cast", 0.0),
            clip=float(np.clip(float(data.get("clip", 0.5)), 0.0, 10.0)),
        )


def level_points(lightness: np.ndarray, clip: float = 0.5) -> tuple[float, float]:
    """Black and white points (L*) from the histogram of a thumbnail of ``lightness``."""
    step = max(1, int(np.ceil(max(lightness.shape) / _THUMB)))
    thumb = np.ascontiguousarray(lightness[::step, ::step], dtype=np.float32)
    hist = cv2.calcHist([thumb], [0], None, [1000], [0.0, 100.0001]).ravel()
    cdf = np.cumsum(hist) / max(hist.sum(), 1.0)
    black = float(np.searchsorted(cdf, clip / 100.0)) / 10.0
    white = float(np.searchsorted(cdf, 1.0 - clip / 100.0) + 1) / 10.0
    if white - black < 5.0:  # a flat picture: stretching it would only amplify noise
        return 0.0, 100.0
    return black, min(white, 100.0)


def apply_levels(lightness: np.ndarray, strength: float, clip: float = 0.5) -> np.ndarray:
    black, white = level_points(lightness, clip)
    gain = 100.0 / (white - black)
    # L + s (gain (L - b) - L) = L (1 - s + s gain) - s gain b
    a = np.float32(1.0 - strength + strength * gain)
    b = np.float32(-strength * gain * black)
    out = lightness * a
    out += b
    return np.clip(out, 0.0, 100.0, out=out)


def apply_clahe(lightness: np.ndarray, strength: float) -> np.ndarray:
    """CLAHE on 8-bit L* (the usual 256-bin form, and fast); the change it makes is added to
    the full-precision L*, so a 16-bit scan keeps its fine steps."""
    L8 = cv2.convertScaleAbs(lightness, alpha=2.55)
    equalised = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(L8)
    change = cv2.subtract(equalised, L8, dtype=cv2.CV_16S).astype(np.float32)
    change *= np.float32(strength / 2.55)
    change += lightness
    return np.clip(change, 0.0, 100.0, out=change)


def tone_lightness(lightness: np.ndarray, settings: ToneSettings) -> np.ndarray:
    """Levels, then local contrast, on L*."""
    L = np.asarray(lightness, dtype=np.float32)
    if settings.levels > 0:
        L = apply_levels(L, settings.levels, settings.clip)
    if settings.clahe > 0:
        L = apply_clahe(L, settings.clahe)
    return L


def rgb_for(lightness: np.ndarray, rgb: np.ndarray | None, cast: float = 0.0) -> np.ndarray:
    """sRGB with the lightness ``lightness``: neutral gray when ``rgb`` is ``None`` (a gray
    scan), else ``rgb``'s own chroma, less ``cast`` times its median (the colour cast)."""
    if rgb is None:
        return lightness_to_gray_rgb(lightness)
    lab = rgb_to_lab(rgb)
    lab[..., 0] = lightness
    if cast > 0:
        step = max(1, int(np.ceil(max(lightness.shape) / _THUMB)))
        shift = np.median(lab[::step, ::step, 1:].reshape(-1, 2), axis=0)
        lab[..., 1:] -= (cast * shift).astype(np.float32)
    return lab_to_rgb(lab)
