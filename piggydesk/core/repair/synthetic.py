"""Seeded synthetic scan damage on a clean photo, for the repair evaluation and its tests.

``add_defects(lightness, seed)`` draws what an old print's scan shows, on CIE L* (0-100):

* hairline scratches 1-3 px wide at random angles, each a quadratic Bezier curve (so some are
  straight and some bend), brighter or darker than the photo by 15-50 L*, anti-aliased;
* ``specks`` dust specks (default 200), small ellipses 1-4 px across, bright or dark;
* one torn corner: a jagged polygon at a random corner filled with paper (L* about 90, with a
  little grain), as when a piece of the print is missing.

It returns the damaged lightness and the ground truth: per-pixel coverage in [0, 1] (how much
of each pixel the damage covers). Everything comes from ``numpy.random.default_rng(seed)``, so
the same seed draws the same damage. Used by ``benchmarks/eval_repair.py`` and the tests; the
app never calls it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

VISIBLE = 2.0
"""A change of L* from which a defect pixel counts as visible (the smear limit of the goals)."""
_SUPERSAMPLE = 4  # drawn at 4x, area-averaged down: anti-aliased coverage


@dataclass(frozen=True)
class Damage:
    """A damaged photo and its ground truth (see the module docstring)."""

    lightness: np.ndarray  # float32 (H, W) L*, damaged
    clean: np.ndarray  # float32 (H, W) L*, before the damage
    coverage: np.ndarray  # float32 (H, W) in [0, 1]: how much of each pixel is damaged
    thin: np.ndarray  # bool (H, W): scratches and specks (coverage > 0)
    hole: np.ndarray  # bool (H, W): the torn corner

    @property
    def mask(self) -> np.ndarray:
        """Pixels that visibly belong to a defect: a quarter covered and changed by 2 L* or more.

        (A translucent scratch over a region of its own tone changes nothing there, and
        nothing there needs repair.)
        """
        return (self.coverage >= 0.25) & (np.abs(self.lightness - self.clean) >= VISIBLE)

    @property
    def touched(self) -> np.ndarray:
        """Every pixel any defect touches at all."""
        return self.coverage > 0


def enlarge_like_scan(lightness: np.ndarray, scale: float = 2.0) -> np.ndarray:
    """L* (0-100) enlarged ``scale`` times by bicubic interpolation: soft at the pixel scale, as
    a real scan of a print is. ``scale`` 1 returns the pixel-sharp photo as it is."""
    if scale == 1:
        return lightness
    big = cv2.resize(lightness, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    return np.clip(big, 0, 100, out=big)


def add_defects(
    lightness: np.ndarray,
    seed: int = 0,
    hairlines: int | None = None,
    specks: int = 200,
    torn_corner: bool = True,
) -> Damage:
    """Draw hairlines, ``specks`` dust specks and a torn corner on ``lightness`` (see above)."""
    clean = np.asarray(lightness, dtype=np.float32)
    h, w = clean.shape
    rng = np.random.default_rng(seed)
    if hairlines is None:
        hairlines = int(np.clip(round(np.hypot(h, w) / 120), 4, 40))
    out = clean.copy()
    thin_cov = np.zeros((h, w), np.float32)
    for _ in range(hairlines):
        cov = _draw(h, w, lambda img, s: _hairline(img, s, rng, h, w))
        _blend_offset(out, cov, rng)
        np.maximum(thin_cov, cov, out=thin_cov)
    for _ in range(specks):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        rx, ry = rng.uniform(0.5, 2.0, size=2)
        y0, y1 = max(int(cy - 4), 0), min(int(cy + 5), h)
        x0, x1 = max(int(cx - 4), 0), min(int(cx + 5), w)
        if y1 <= y0 or x1 <= x0:
            continue
        ph, pw = y1 - y0, x1 - x0
        angle = float(rng.uniform(0, 180))

        def speck(img, s, cx=cx - x0, cy=cy - y0, rx=rx, ry=ry, angle=angle):
            centre = (int(round(cx * s)), int(round(cy * s)))
            axes = (max(int(round(rx * s)), 1), max(int(round(ry * s)), 1))
            cv2.ellipse(img, centre, axes, angle, 0, 360, 255, -1, cv2.LINE_8)

        patch_cov = _draw(ph, pw, speck)
        patch = out[y0:y1, x0:x1]
        _blend_offset(patch, patch_cov, rng)
        np.maximum(thin_cov[y0:y1, x0:x1], patch_cov, out=thin_cov[y0:y1, x0:x1])
    hole = np.zeros((h, w), np.float32)
    if torn_corner:
        hole = _draw(h, w, lambda img, s: _torn_corner(img, s, rng, h, w))
        paper = (90.0 + rng.normal(0.0, 0.8, size=(h, w))).astype(np.float32)
        out += hole * (paper - out)
    coverage = np.maximum(thin_cov, hole)
    np.clip(out, 0.0, 100.0, out=out)
    return Damage(out, clean, coverage, thin_cov > 0, hole > 0)


def _draw(h: int, w: int, paint) -> np.ndarray:
    s = _SUPERSAMPLE
    big = np.zeros((h * s, w * s), np.uint8)
    paint(big, s)
    return cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def _blend_offset(out: np.ndarray, cov: np.ndarray, rng: np.random.Generator) -> None:
    """Bright or dark by 15-50 L*; half the defects are opaque (a fixed level), half translucent."""
    sign = 1.0 if rng.random() < 0.5 else -1.0
    delta = sign * float(rng.uniform(15.0, 50.0))
    if rng.random() < 0.5:
        target = out + delta
    else:
        level = float(np.clip(np.median(out[cov > 0]) + delta, 0, 100)) if cov.any() else 0.0
        target = np.full_like(out, level)
    out += cov * (np.clip(target, 0.0, 100.0) - out)


def _hairline(img: np.ndarray, s: int, rng: np.random.Generator, h: int, w: int) -> None:
    length = rng.uniform(0.15, 0.6) * np.hypot(h, w)
    angle = rng.uniform(0, np.pi)
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    dx, dy = np.cos(angle) * length / 2, np.sin(angle) * length / 2
    p0 = np.array([cx - dx, cy - dy])
    p2 = np.array([cx + dx, cy + dy])
    bend = rng.normal(0.0, 0.12) * length
    p1 = np.array([cx, cy]) + bend * np.array([-np.sin(angle), np.cos(angle)])
    t = np.linspace(0.0, 1.0, max(int(length / 4), 8))[:, None]
    pts = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2
    width = float(rng.uniform(1.0, 3.0))
    pts = np.round(pts * s).astype(np.int32)
    cv2.polylines(img, [pts], False, 255, max(int(round(width * s)), 1), cv2.LINE_8)


def _torn_corner(img: np.ndarray, s: int, rng: np.random.Generator, h: int, w: int) -> None:
    size = rng.uniform(0.08, 0.16) * min(h, w)
    corner = int(rng.integers(4))
    n = 14
    a = np.linspace(0.0, 1.0, n)
    # a jagged tear from one edge to the other, across the corner
    along = np.stack([a * size * 1.3, (1 - a) * size * 1.1], axis=1)
    along += rng.normal(0.0, size * 0.06, size=along.shape)
    along = np.clip(along, 0, None)
    pts = np.concatenate([[[0.0, 0.0]], [[size * 1.3, 0.0]], along[-2:0:-1], [[0.0, size * 1.1]]])
    if corner in (1, 2):
        pts[:, 0] = w - pts[:, 0]
    if corner in (2, 3):
        pts[:, 1] = h - pts[:, 1]
    cv2.fillPoly(img, [np.round(pts * s).astype(np.int32)], 255, cv2.LINE_8)
