"""Conversions between numpy images (float32 sRGB in [0, 1]) and Qt images/pixmaps.

Everything is vectorised numpy; the GUI thread never loops over pixels in Python.
"""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap

logger = logging.getLogger(__name__)


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """``(H, W, 3)`` float in [0, 1] (or uint8) to an independent ``QImage`` (RGB888)."""
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=-1)
    if rgb.dtype != np.uint8:
        rgb = np.clip(np.rint(np.asarray(rgb, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)
    rgb = np.ascontiguousarray(rgb[..., :3])
    h, w = rgb.shape[:2]
    image = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    return image.copy()  # detach from the numpy buffer


def rgba_to_qimage(rgba: np.ndarray) -> QImage:
    """``(H, W, 4)`` uint8 RGBA to an independent ``QImage``."""
    rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
    h, w = rgba.shape[:2]
    return QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()


def qimage_to_rgb(image: QImage) -> np.ndarray:
    """A ``QImage`` to ``(H, W, 3)`` float32 sRGB in [0, 1]."""
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h = image.width(), image.height()
    stride = image.bytesPerLine()
    buffer = np.frombuffer(image.constBits(), dtype=np.uint8, count=stride * h)
    pixels = buffer.reshape(h, stride)[:, : 3 * w].reshape(h, w, 3)
    return pixels.astype(np.float32) / 255.0


def rgb_to_pixmap(rgb: np.ndarray) -> QPixmap:
    return QPixmap.fromImage(rgb_to_qimage(rgb))


def thumbnail(rgb: np.ndarray, size: int, device_pixel_ratio: float = 1.0) -> QPixmap:
    """A pixmap whose long side is ``size`` logical pixels (sharp on HiDPI screens).

    The image is first decimated in numpy (cheap striding) so that a 6000 px photo does not
    become a full-size QImage just to be shrunk.
    """
    target = max(1, int(round(size * device_pixel_ratio)))
    h, w = rgb.shape[:2]
    step = max(1, int(max(h, w) // (2 * target)))
    small = rgb[::step, ::step]
    image = rgb_to_qimage(small).scaled(
        target,
        target,
        Qt.AspectRatioMode.KeepAspectRatio,
        Qt.TransformationMode.SmoothTransformation,
    )
    pixmap = QPixmap.fromImage(image)
    pixmap.setDevicePixelRatio(device_pixel_ratio)
    return pixmap
