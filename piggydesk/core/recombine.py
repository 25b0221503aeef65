"""Full-resolution recombination: working-size chroma + the photo's own full-size lightness.

Engines colorize at a small working size (256-512 px). Their chroma (the a*, b* channels) is
brought back to the photo's full size here and joined with the *original* L*, so every
detail, every bit of grain and all 16 bits of a 16-bit scan survive colorization.

1. **Edge-aware upsampling** with the fast guided filter (He, Sun and Tang, "Guided Image
   Filtering", TPAMI 2013, Eq. 5-8; He and Sun, "Fast Guided Filter", 2015). At working size,
   with the lightness I as guide and chroma p as input, each window w_k gets the linear model
   q = a_k I + b_k,  a_k = cov_k(I, p) / (var_k(I) + eps),  b_k = mean_k(p) - a_k mean_k(I).
   The averaged coefficients are upsampled (bilinear) and applied to the *full-resolution*
   guide, so chroma edges snap to the real lightness edges instead of bleeding across them.
2. **L-preserving gamut mapping**: L* is replaced by the original L* exactly and, per pixel,
   the chroma (a*, b*) is scaled down by the largest factor t in [0, 1] that keeps the sRGB
   colour inside [0, 1] (vectorised bisection on the out-of-gamut pixels only). Hue and
   lightness are untouched, so the output's L* equals the input's L* to float precision,
   and within about 0.25 after 8-bit quantisation (0.5 is the promise).

The work is done in row bands on a small thread pool (NumPy and OpenCV release the GIL), which
keeps each band in the CPU cache and never stores full-size chroma: on two cores a 12-megapixel
photo recombines in about 0.3-0.5 s with ordinary colours and about 1 s when most of the
chroma has to be pulled back into the gamut.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from piggydesk.core.color import power_float32

logger = logging.getLogger(__name__)

DEFAULT_EPS = 1e-3
"""Guided-filter regulariser for a guide in [0, 1]: smaller follows lightness edges closer."""

_BISECTION_STEPS = 7  # chroma kept to within 1/128 of the largest in-gamut scale
_BAND_PIXELS = 1 << 18
_GAMUT_TOL = 1e-6

# sRGB (D65) linear-RGB-from-XYZ with the reference white folded in: lin = M @ (X/Xn, Y, Z/Zn)
_RGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
_WHITE = np.array([0.95047, 1.0, 1.08883])
_M = (np.linalg.inv(_RGB_TO_XYZ) * _WHITE[None, :]).astype(np.float32)
_EPS = 216.0 / 24389.0
_KAPPA = 24389.0 / 27.0


def resize_lightness(lightness: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize L* ``(H, W)`` to ``shape`` ``(h, w)``: area averaging down, bicubic up."""
    lightness = np.asarray(lightness, dtype=np.float32)
    h, w = int(shape[0]), int(shape[1])
    H, W = lightness.shape[:2]
    if (h, w) == (H, W):
        return lightness.copy()
    if h <= H and w <= W:
        interp = cv2.INTER_AREA
    elif h >= H and w >= W:
        interp = cv2.INTER_CUBIC
    else:
        interp = cv2.INTER_LINEAR
    out = cv2.resize(lightness, (w, h), interpolation=interp)
    return np.clip(out, 0.0, 100.0, out=out)


def recombine(
    lightness_full: np.ndarray,
    ab_work: np.ndarray,
    *,
    eps: float = DEFAULT_EPS,
    radius: int | None = None,
) -> np.ndarray:
    """Full-size sRGB ``(H, W, 3)`` float32 in [0, 1] from full L* and working-size ab.

    ``lightness_full`` is float32 ``(H, W)`` L* (0-100); ``ab_work`` float32 ``(h, w, 2)``
    in Lab units at any working size. The result's L* equals ``lightness_full``.
    Upsampling and gamut mapping run band by band, so no full-size chroma is ever stored.
    """
    lightness_full, ab_work = _check(lightness_full, ab_work)
    H, W = lightness_full.shape
    chroma = _ChromaBands(lightness_full, ab_work, eps=eps, radius=radius)
    out = np.empty((H, W, 3), dtype=np.float32)

    def band(rows: slice) -> None:
        L = np.clip(lightness_full[rows], 0.0, 100.0).reshape(-1)
        a, b = chroma(rows)
        out[rows] = _encode_srgb(_gamut_mapped_linear(L, a, b)).reshape(-1, W, 3)

    _run_bands(H, W, band)
    return out


def guided_upsample(
    lightness_full: np.ndarray,
    ab_work: np.ndarray,
    *,
    eps: float = DEFAULT_EPS,
    radius: int | None = None,
) -> np.ndarray:
    """Chroma ``(h, w, 2)`` to the size of ``lightness_full`` with the fast guided filter."""
    lightness_full, ab_work = _check(lightness_full, ab_work)
    H, W = lightness_full.shape
    chroma = _ChromaBands(lightness_full, ab_work, eps=eps, radius=radius)
    out = np.empty((H, W, 2), dtype=np.float32)

    def band(rows: slice) -> None:
        a, b = chroma(rows)
        out[rows, :, 0] = a.reshape(-1, W)
        out[rows, :, 1] = b.reshape(-1, W)

    _run_bands(H, W, band)
    return out


def _check(lightness: np.ndarray, ab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lightness = np.asarray(lightness, dtype=np.float32)
    ab = np.asarray(ab, dtype=np.float32)
    if lightness.ndim != 2:
        raise ValueError(f"lightness must be (H, W), not {lightness.shape}")
    if ab.ndim != 3 or ab.shape[2] != 2:
        raise ValueError(f"ab must be (h, w, 2), not {ab.shape}")
    return lightness, ab


class _ChromaBands:
    """Full-size a*, b* for any band of rows, from guided-filter coefficients at working size.

    The coefficient maps (a_k, b_k of He et al., averaged over windows) are computed once at
    working size; each band interpolates them bilinearly (half-pixel centres, as
    ``cv2.resize``) to full size and applies them to the full-size guide.
    """

    def __init__(
        self, lightness: np.ndarray, ab: np.ndarray, *, eps: float, radius: int | None
    ) -> None:
        self.lightness = lightness
        self.H, self.W = lightness.shape
        h, w = ab.shape[:2]
        self.passthrough = (h, w) == (self.H, self.W)
        if self.passthrough:
            self.ab = ab
            return
        coeffs = _guided_coefficients(lightness, ab, eps=eps, radius=radius)
        if self.H <= h and self.W <= w:  # the engine ran on an upscaled copy: average down
            self.full = cv2.resize(coeffs, (self.W, self.H), interpolation=cv2.INTER_AREA)
            self.coeffs = None
        else:
            self.full = None
            self.coeffs = coeffs
            src_y = (np.arange(self.H, dtype=np.float64) + 0.5) * (h / self.H) - 0.5
            src_y = np.clip(src_y, 0.0, h - 1)
            self.y0 = np.floor(src_y).astype(np.intp)
            self.y1 = np.minimum(self.y0 + 1, h - 1)
            self.wy = (src_y - self.y0).astype(np.float32)[:, None, None]

    def __call__(self, rows: slice) -> tuple[np.ndarray, np.ndarray]:
        """Flat float32 ``a``, ``b`` for the pixels of ``rows``."""
        if self.passthrough:
            band = self.ab[rows]
            return (
                np.ascontiguousarray(band[..., 0]).reshape(-1),
                np.ascontiguousarray(band[..., 1]).reshape(-1),
            )
        if self.full is not None:
            c = self.full[rows]
        else:
            wy = self.wy[rows]
            top, bottom = self.coeffs[self.y0[rows]], self.coeffs[self.y1[rows]]
            vertical = top + (bottom - top) * wy  # (rows, w, 4)
            c = cv2.resize(vertical, (self.W, vertical.shape[0]), interpolation=cv2.INTER_LINEAR)
        g = self.lightness[rows] * np.float32(0.01)
        a = c[..., 0] * g
        a += c[..., 2]
        b = c[..., 1] * g
        b += c[..., 3]
        return a.reshape(-1), b.reshape(-1)


def _guided_coefficients(
    lightness: np.ndarray, ab: np.ndarray, *, eps: float, radius: int | None
) -> np.ndarray:
    """Window-averaged guided-filter coefficients ``(h, w, 4)``: slope a, b; offset a, b."""
    h, w = ab.shape[:2]
    if radius is None:
        radius = max(2, int(round(max(h, w) / 128)))
    ksize = (2 * radius + 1, 2 * radius + 1)

    def box(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, -1, ksize, normalize=True, borderType=cv2.BORDER_REFLECT)

    guide = resize_lightness(lightness, (h, w)) / np.float32(100.0)
    mean_i = box(guide)
    var_i = box(guide * guide) - mean_i * mean_i
    mean_p = box(ab)
    cov_ip = box(guide[..., None] * ab) - mean_i[..., None] * mean_p
    slope = cov_ip / (np.maximum(var_i, 0.0)[..., None] + np.float32(eps))
    offset = mean_p - slope * mean_i[..., None]
    return np.ascontiguousarray(np.concatenate([box(slope), box(offset)], axis=2))


def lab_to_rgb_preserving_lightness(lightness: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """sRGB ``(H, W, 3)`` in [0, 1] with exactly the given L*, chroma reduced into gamut.

    Per pixel, the largest t in [0, 1] such that (L, t*a, t*b) is inside the sRGB gamut is
    found by bisection (only for pixels outside the gamut at t = 1).
    """
    lightness = np.asarray(lightness, dtype=np.float32)
    ab = np.asarray(ab, dtype=np.float32)
    H, W = lightness.shape
    out = np.empty((H, W, 3), dtype=np.float32)

    def band(rows: slice) -> None:
        L = np.clip(lightness[rows], 0.0, 100.0).reshape(-1)
        a = np.ascontiguousarray(ab[rows, :, 0]).reshape(-1)
        b = np.ascontiguousarray(ab[rows, :, 1]).reshape(-1)
        lin = _gamut_mapped_linear(L, a, b)
        out[rows] = _encode_srgb(lin).reshape(-1, W, 3)

    _run_bands(H, W, band)
    return out


def _gamut_mapped_linear(L: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Linear RGB ``(n, 3)`` for L*, t*a*, t*b* with the per-pixel t that fits the gamut."""
    fy = L * np.float32(1.0 / 116.0)
    fy += np.float32(16.0 / 116.0)
    y = _f_inv(fy)
    da = a * np.float32(1.0 / 500.0)
    db = b * np.float32(1.0 / 200.0)
    lin = _linear(fy, y, da, db)
    outside = np.flatnonzero(_inside(lin) == 0)
    if outside.size:
        fy_o, y_o, da_o, db_o = fy[outside], y[outside], da[outside], db[outside]
        lo = np.zeros(outside.size, dtype=np.float32)
        hi = np.ones(outside.size, dtype=np.float32)
        for _ in range(_BISECTION_STEPS):
            mid = (lo + hi) * np.float32(0.5)
            ok = _inside(_linear(fy_o, y_o, da_o * mid, db_o * mid)) != 0
            lo = np.where(ok, mid, lo)
            hi = np.where(ok, hi, mid)
        lin[outside] = _linear(fy_o, y_o, da_o * lo, db_o * lo)
    return np.clip(lin, 0.0, 1.0, out=lin)


_F_KNEE = np.float32(6.0 / 29.0)
_F_SLOPE = np.float32(116.0 / _KAPPA)
_F_OFFSET = np.float32(16.0 / 116.0)


def _f_inv(f: np.ndarray) -> np.ndarray:
    """Inverse of CIE f: t = f**3 above the knee (f > 6/29), the linear segment below it."""
    out = f * f
    out *= f
    low = f <= _F_KNEE
    if low.any():
        out[low] = (f[low] - _F_OFFSET) * _F_SLOPE
    return out


def _linear(fy: np.ndarray, y: np.ndarray, da: np.ndarray, db: np.ndarray) -> np.ndarray:
    """Linear sRGB ``(n, 3)`` from f(Y), Y and the a/500, b/200 offsets of Lab."""
    xr = _f_inv(fy + da)
    zr = _f_inv(fy - db)
    xyz = cv2.merge([xr, y, zr]).reshape(-1, 1, 3)
    return cv2.transform(xyz, _M).reshape(-1, 3)


def _inside(lin: np.ndarray) -> np.ndarray:
    """uint8 per pixel: 255 where all three linear channels are within [0, 1]."""
    lo, hi = -_GAMUT_TOL, 1.0 + _GAMUT_TOL
    return cv2.inRange(lin.reshape(-1, 1, 3), (lo, lo, lo), (hi, hi, hi)).reshape(-1)


def _encode_srgb(lin: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 transfer curve for linear values already in [0, 1]."""
    knee = np.float32(0.0031308)
    out = power_float32(np.maximum(lin, knee), 1.0 / 2.4)  # below the knee: the linear part
    out *= np.float32(1.055)
    out -= np.float32(0.055)
    out = np.where(lin <= knee, lin * np.float32(12.92), out)
    return np.clip(out, 0.0, 1.0, out=out)


def _run_bands(height: int, width: int, func) -> None:
    """Call ``func(rows)`` on horizontal bands of about ``_BAND_PIXELS`` pixels, in threads."""
    rows_per_band = max(1, _BAND_PIXELS // max(width, 1))
    bands = [slice(r, min(r + rows_per_band, height)) for r in range(0, height, rows_per_band)]
    workers = min(len(bands), max(1, min(os.cpu_count() or 1, 8)))
    if workers <= 1:
        for rows in bands:
            func(rows)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="recombine") as pool:
        for future in [pool.submit(func, rows) for rows in bands]:
            future.result()
