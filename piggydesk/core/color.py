"""Exact, vectorised sRGB <-> CIE L*a*b* (D65) conversion in float32.

Formulas: IEC 61966-2-1 sRGB transfer curve, the sRGB primaries' matrix to XYZ (D65),
and CIE 1976 L*a*b* with the D65 reference white. All functions take and return
``float32`` arrays with the channel axis last; they work on any leading shape.
"""

from __future__ import annotations

import numpy as np

_RGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ],
    dtype=np.float64,
)
_XYZ_TO_RGB = np.linalg.inv(_RGB_TO_XYZ)
_WHITE_D65 = np.array([0.95047, 1.0, 1.08883], dtype=np.float64)
_EPS = 216.0 / 24389.0
_KAPPA = 24389.0 / 27.0


def power_float32(base: np.ndarray, exponent: float) -> np.ndarray:
    """``base ** exponent`` in float32 for positive ``base`` of any shape.

    NumPy's float32 power is vectorised and keeps its speed whatever OpenCV is installed:
    ``cv2.pow`` with a non-integer exponent is 8x slower in opencv-python 4.12 than in 5.x
    (0.66 s against 0.08 s for 36 M values; NumPy 0.07 s), which made the 12 MP recombination
    1.7x slower under the 4.12 pin (benchmarks/RESULTS.md).
    """
    return np.power(np.asarray(base, dtype=np.float32), np.float32(exponent))


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in [0, 1] to linear light."""
    rgb = np.asarray(rgb, dtype=np.float32)
    base = np.maximum(rgb, np.float32(0.04045))  # the power branch only ever sees its own range
    base += np.float32(0.055)
    base *= np.float32(1.0 / 1.055)
    return np.where(rgb <= 0.04045, rgb * np.float32(1.0 / 12.92), power_float32(base, 2.4)).astype(
        np.float32, copy=False
    )


def linear_to_srgb(lin: np.ndarray) -> np.ndarray:
    """Linear light to sRGB-encoded values (not clipped)."""
    lin = np.asarray(lin, dtype=np.float32)
    high = power_float32(np.maximum(lin, np.float32(0.0031308)), 1.0 / 2.4)
    high *= np.float32(1.055)
    high -= np.float32(0.055)
    return np.where(lin <= 0.0031308, lin * np.float32(12.92), high).astype(np.float32, copy=False)


def _f(t: np.ndarray) -> np.ndarray:
    # The cube root everywhere, then the linear branch only where it applies (a few dark
    # pixels): the same values as ``np.where`` over both branches, without computing the
    # linear one for every pixel.
    t = np.asarray(t)
    out = np.cbrt(t, out=np.empty_like(t))
    dark = t <= _EPS
    if dark.any():
        out[dark] = (_KAPPA * t[dark] + 16.0) / 116.0
    return out


_LINEAR_OF_8_BIT: list[np.ndarray] = []  # srgb_to_linear of the 256 8-bit values, made once


def _linear_from_8_bit(rgb: np.ndarray) -> np.ndarray:
    """``srgb_to_linear(rgb / 255)`` for uint8 ``rgb`` by a 256-entry table: the same values."""
    if not _LINEAR_OF_8_BIT:
        _LINEAR_OF_8_BIT.append(srgb_to_linear(np.arange(256, dtype=np.float32) / np.float32(255.0)))
    return _LINEAR_OF_8_BIT[0][rgb]


def _f_inv(f: np.ndarray) -> np.ndarray:
    f3 = f**3
    return np.where(f3 > _EPS, f3, (116.0 * f - 16.0) / _KAPPA)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] (``...x3``) to L*a*b* (L in [0, 100], a/b roughly [-128, 127]).

    A uint8 array is read as value / 255 (exactly as ``rgb.astype(float32) / 255`` would be,
    through a table: a training batch converts in 0.13 s instead of 0.18 s)."""
    rgb = np.asarray(rgb)
    lin = _linear_from_8_bit(rgb) if rgb.dtype == np.uint8 else srgb_to_linear(rgb)
    xyz = lin @ _RGB_TO_XYZ.T.astype(np.float32)
    xyz = xyz / _WHITE_D65.astype(np.float32)
    f = _f(xyz)
    L = 116.0 * f[..., 1] - 16.0
    a = 500.0 * (f[..., 0] - f[..., 1])
    b = 200.0 * (f[..., 1] - f[..., 2])
    return np.stack([L, a, b], axis=-1).astype(np.float32)


def lab_to_rgb(lab: np.ndarray, clip: bool = True) -> np.ndarray:
    """L*a*b* (``...x3``) to sRGB in [0, 1]; ``clip=False`` keeps out-of-gamut values."""
    lab = np.asarray(lab, dtype=np.float32)
    fy = (lab[..., 0] + 16.0) / 116.0
    fx = fy + lab[..., 1] / 500.0
    fz = fy - lab[..., 2] / 200.0
    xyz = np.stack([_f_inv(fx), _f_inv(fy), _f_inv(fz)], axis=-1) * _WHITE_D65.astype(np.float32)
    lin = xyz @ _XYZ_TO_RGB.T.astype(np.float32)
    rgb = linear_to_srgb(lin)
    return np.clip(rgb, 0.0, 1.0) if clip else rgb


def rgb_to_lightness(rgb: np.ndarray) -> np.ndarray:
    """Only the L* channel of ``rgb_to_lab`` (cheaper: one matrix row)."""
    lin = srgb_to_linear(rgb)
    y = lin @ _RGB_TO_XYZ[1].astype(np.float32)
    return (116.0 * _f(y) - 16.0).astype(np.float32)


def gray_to_lightness(gray: np.ndarray) -> np.ndarray:
    """L* of a neutral sRGB gray (``HxW`` values in [0, 1]): r = g = b, so Y is the linear value."""
    y = srgb_to_linear(gray) * np.float32(_RGB_TO_XYZ[1].sum())
    return (116.0 * _f(y) - 16.0).astype(np.float32)


def lightness_to_gray_rgb(lightness: np.ndarray) -> np.ndarray:
    """L* (``HxW``) to the neutral sRGB gray (``HxWx3``) of exactly that lightness."""
    fy = (np.asarray(lightness, dtype=np.float32) + 16.0) / 116.0
    gray = linear_to_srgb(_f_inv(fy).astype(np.float32))
    return np.repeat(np.clip(gray, 0.0, 1.0)[..., None], 3, axis=-1)


def to_unit_float(pixels: np.ndarray) -> np.ndarray:
    """uint8 / uint16 / float image to float32 in [0, 1]."""
    if pixels.dtype == np.uint8:
        return pixels.astype(np.float32) / 255.0
    if pixels.dtype == np.uint16:
        return pixels.astype(np.float32) / 65535.0
    return np.clip(pixels.astype(np.float32), 0.0, 1.0)


def from_unit_float(pixels: np.ndarray, bit_depth: int) -> np.ndarray:
    """float image in [0, 1] to uint8 (``bit_depth=8``) or uint16 (``bit_depth=16``), rounded."""
    if bit_depth == 8:
        return np.clip(np.rint(pixels * 255.0), 0, 255).astype(np.uint8)
    if bit_depth == 16:
        return np.clip(np.rint(pixels * 65535.0), 0, 65535).astype(np.uint16)
    raise ValueError(f"bit depth must be 8 or 16, not {bit_depth}")
