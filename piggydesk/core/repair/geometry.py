"""Crop, quarter turns, flips and straightening, as parameters applied in one resampling.

A ``Geometry`` is what the document stores; the photo itself is never changed. The steps, in
this order, each in the previous step's pixel coordinates (pixel centres at whole numbers):

1. ``rotate``: quarter turns clockwise (0-3);
2. ``flip_h`` / ``flip_v``: mirror left-right / top-bottom;
3. ``straighten``: a small rotation (degrees, clockwise positive, at most 45) about the
   centre, cropped to the largest rectangle of the same shape that lies inside the rotated
   photo, so no empty corners appear. For a W x H photo turned by t that rectangle is s W by
   s H with s = min(W / (W cos t + H sin t), H / (W sin t + H cos t));
4. ``crop``: ``(x, y, width, height)`` in the pixels of the result of 1-3.

Together they are one affine map ``matrix(size)`` from source to output pixels, so
``map_points`` moves hint positions with the photo and ``unmap_points`` brings a click on the
shown photo back to the source. Without straightening the steps are exact array operations
(no resampling: every output pixel is a source pixel); with it the photo is resampled once,
bicubic, by ``cv2.warpAffine``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import cv2
import numpy as np

logger = logging.getLogger(__name__)

MAX_STRAIGHTEN = 45.0


@dataclass(frozen=True)
class Geometry:
    rotate: int = 0
    flip_h: bool = False
    flip_v: bool = False
    straighten: float = 0.0
    crop: tuple[int, int, int, int] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "rotate", int(self.rotate) % 4)
        angle = float(self.straighten)
        if not math.isfinite(angle) or abs(angle) > MAX_STRAIGHTEN:
            raise ValueError(
                f"straightening is limited to +-{MAX_STRAIGHTEN:g} degrees, not {angle}"
            )
        object.__setattr__(self, "straighten", angle)
        if self.crop is not None:
            x, y, w, h = (int(v) for v in self.crop)
            if w < 1 or h < 1 or x < 0 or y < 0:
                raise ValueError(f"a crop needs x, y >= 0 and a positive size, not {self.crop}")
            object.__setattr__(self, "crop", (x, y, w, h))

    @property
    def is_identity(self) -> bool:
        return self == Geometry()

    def to_dict(self) -> dict:
        return {
            "rotate": self.rotate,
            "flip_h": self.flip_h,
            "flip_v": self.flip_v,
            "straighten": self.straighten,
            "crop": list(self.crop) if self.crop else None,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Geometry:
        crop = data.get("crop")
        return cls(
            rotate=int(data.get("rotate", 0)),
            flip_h=bool(data.get("flip_h", False)),
            flip_v=bool(data.get("flip_v", False)),
            straighten=float(data.get("straighten", 0.0)),
            crop=tuple(int(v) for v in crop) if crop else None,
        )

    # ------------------------------------------------------------------ sizes and maps

    def _turned_size(self, size: tuple[int, int]) -> tuple[int, int]:
        h, w = size
        return (w, h) if self.rotate % 2 else (h, w)

    def straightened_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """``(height, width)`` after steps 1-3 (what a crop is measured in)."""
        h, w = self._turned_size(size)
        if self.straighten == 0:
            return h, w
        t = math.radians(abs(self.straighten))
        c, s = math.cos(t), math.sin(t)
        scale = min(w / (w * c + h * s), h / (w * s + h * c))
        return max(int(math.floor(h * scale)), 1), max(int(math.floor(w * scale)), 1)

    def clamped_crop(self, size: tuple[int, int]) -> tuple[int, int, int, int] | None:
        """The crop limited to the straightened photo (``None``: no crop, or it covers all)."""
        if self.crop is None:
            return None
        h, w = self.straightened_size(size)
        x, y, cw, ch = self.crop
        x, y = min(x, w - 1), min(y, h - 1)
        cw, ch = min(cw, w - x), min(ch, h - y)
        if (x, y, cw, ch) == (0, 0, w, h):
            return None
        return x, y, cw, ch

    def output_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """``(height, width)`` of the output for a source of ``size`` ``(height, width)``."""
        crop = self.clamped_crop(size)
        if crop is not None:
            return crop[3], crop[2]
        return self.straightened_size(size)

    def matrix(self, size: tuple[int, int]) -> np.ndarray:
        """The 3x3 affine map from source pixel coordinates ``(x, y, 1)`` to output pixels."""
        h, w = size
        m = np.eye(3)
        for _ in range(self.rotate):  # clockwise quarter turn: (x, y) -> (H - 1 - y, x)
            m = np.array([[0.0, -1.0, h - 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]) @ m
            h, w = w, h
        if self.flip_h:
            m = np.array([[-1.0, 0.0, w - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]) @ m
        if self.flip_v:
            m = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, h - 1.0], [0.0, 0.0, 1.0]]) @ m
        if self.straighten:
            sh, sw = self.straightened_size(size)
            t = math.radians(self.straighten)  # clockwise on screen (y points down)
            c, s = math.cos(t), math.sin(t)
            to_centre = np.array([[1.0, 0, -(w - 1) / 2], [0, 1.0, -(h - 1) / 2], [0, 0, 1.0]])
            turn = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
            back = np.array([[1.0, 0, (sw - 1) / 2], [0, 1.0, (sh - 1) / 2], [0, 0, 1.0]])
            m = back @ turn @ to_centre @ m
        crop = self.clamped_crop(size)
        if crop is not None:
            m = np.array([[1.0, 0, -crop[0]], [0, 1.0, -crop[1]], [0, 0, 1.0]]) @ m
        return m

    def map_points(self, points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Source ``(N, 2)`` x, y to output coordinates (may fall outside the output)."""
        return _affine(self.matrix(size), points)

    def unmap_points(self, points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Output ``(N, 2)`` x, y back to source coordinates."""
        return _affine(np.linalg.inv(self.matrix(size)), points)

    # ------------------------------------------------------------------ pixels

    def apply(self, image: np.ndarray, mask: bool = False) -> np.ndarray:
        """The output for ``image`` ``(H, W[, C])``; ``mask=True`` for a ``bool`` mask."""
        size = (int(image.shape[0]), int(image.shape[1]))
        if self.is_identity:
            return image
        if self.straighten == 0:
            out = np.rot90(image, -self.rotate) if self.rotate else image
            if self.flip_h:
                out = out[:, ::-1]
            if self.flip_v:
                out = out[::-1]
            crop = self.clamped_crop(size)
            if crop is not None:
                x, y, w, h = crop
                out = out[y : y + h, x : x + w]
            return np.ascontiguousarray(out)
        oh, ow = self.output_size(size)
        m = self.matrix(size)[:2].astype(np.float64)
        if mask:
            src = np.where(np.asarray(image, dtype=bool), np.uint8(255), np.uint8(0))
            warped = cv2.warpAffine(
                src,
                m,
                (ow, oh),
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=0,
            )
            return warped > 0
        src = np.ascontiguousarray(image)
        out = cv2.warpAffine(src, m, (ow, oh), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
        if np.issubdtype(out.dtype, np.floating):
            lo, hi = float(image.min(initial=0.0)), float(image.max(initial=1.0))
            np.clip(out, lo, hi, out=out)  # bicubic overshoot stays in the source's range
        return out


def _affine(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return pts @ m[:2, :2].T + m[:2, 2]


def angle_of_line(x0: float, y0: float, x1: float, y1: float) -> float:
    """The straightening (degrees) that makes the drawn line level, or upright when steep."""
    angle = math.degrees(math.atan2(y1 - y0, x1 - x0))
    # the nearest of horizontal / vertical
    while angle > 45:
        angle -= 90
    while angle <= -45:
        angle += 90
    return -angle
