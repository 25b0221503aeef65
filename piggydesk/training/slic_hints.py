"""Colour-hint simulation for training the piggyback guider (paper section 4.1).

The paper builds its training hint maps from SLIC superpixels [Achanta et al. 2012] of the
ground-truth image and a colour quantisation of the superpixel colours, then keeps a random
30-50% of the hint regions. This module does exactly that, and adds the two other kinds of
training sample the app needs:

* ``"slic"``: superpixels (``skimage.segmentation.slic``), each region's mean a*b* quantised to
  a grid of ``quant_step`` Lab units, a random 30-50% of regions kept and painted with their
  quantised colour;
* ``"points"``: hints the way a person clicks them in the app: a few small discs at random
  positions, each carrying the ground-truth mean colour of its disc, rasterised with
  ``core.hints.rasterize_hints`` so that training sees exactly what the engine sees;
* ``"none"``: an empty hint map, so that unconditional colorization is learned as well.

The instant engine's ``point_hints.simulate_hints`` (Zhang et al. 2017: square patches, a
geometric number of points) is not reused for the point mode on purpose: the guider is trained
on exactly the discs the app rasterises (``core.hints`` radius in working pixels, 8-bit sRGB
colour), so training and inference see the same hint shapes and colour rounding.

Every generator returns the ``core.hints`` format: ``ab`` float32 ``(2, h, w)`` in Lab units,
``mask`` float32 ``(1, h, w)`` (1 inside hints, 0 elsewhere), at the size of the image given.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from skimage.segmentation import slic

from piggydesk.core.color import lab_to_rgb, rgb_to_lab
from piggydesk.core.hints import Hint, rasterize_hints

logger = logging.getLogger(__name__)

HINT_MODES = ("none", "slic", "points")


@dataclass(frozen=True)
class HintConfig:
    """How training hints are drawn. The mode probabilities are normalised to sum to 1."""

    p_none: float = 0.25
    p_slic: float = 0.5
    p_points: float = 0.25
    # SLIC mode (paper: 30-50% of the quantised superpixel regions kept)
    n_segments: tuple[int, int] = (64, 256)
    compactness: float = 10.0
    quant_step: float = 10.0
    keep_min: float = 0.3
    keep_max: float = 0.5
    # point mode (radii in working pixels, as in core.hints; the app's default is 2)
    points_min: int = 1
    points_max: int = 16
    radius_min: float = 1.0
    radius_max: float = 4.0

    def probabilities(self) -> np.ndarray:
        p = np.array([self.p_none, self.p_slic, self.p_points], dtype=np.float64)
        if (p < 0).any() or p.sum() <= 0:
            raise ValueError(f"hint mode probabilities must be >= 0 and not all 0, not {p}")
        return p / p.sum()


@dataclass(frozen=True)
class HintSample:
    """A simulated hint map plus what produced it (the SLIC fields are for checks and plots)."""

    ab: np.ndarray
    mask: np.ndarray
    mode: str
    segments: np.ndarray | None = None
    kept: np.ndarray | None = None
    region_ab: np.ndarray | None = None


def empty_hints(shape: tuple[int, int]) -> HintSample:
    h, w = shape
    return HintSample(
        ab=np.zeros((2, h, w), np.float32), mask=np.zeros((1, h, w), np.float32), mode="none"
    )


def quantize_ab(ab: np.ndarray, step: float) -> np.ndarray:
    """Snap a*b* values (any shape) to the centres of a ``step``-unit grid (error <= step/2)."""
    if step <= 0:
        return np.asarray(ab, np.float32)
    return (np.round(np.asarray(ab, np.float64) / step) * step).astype(np.float32)


def slic_hints(
    rgb: np.ndarray,
    rng: np.random.Generator,
    config: HintConfig | None = None,
    lab: np.ndarray | None = None,
) -> HintSample:
    """SLIC-region hints: a random 30-50% of the quantised superpixels of ``rgb`` (H,W,3 [0,1])."""
    config = config or HintConfig()
    h, w = rgb.shape[:2]
    lab = rgb_to_lab(rgb) if lab is None else lab
    lo, hi = config.n_segments
    n_segments = int(rng.integers(lo, hi + 1))
    segments = slic(
        rgb.astype(np.float64),
        n_segments=n_segments,
        compactness=config.compactness,
        start_label=0,
        channel_axis=-1,
    )
    n_regions = int(segments.max()) + 1
    flat = segments.ravel()
    counts = np.bincount(flat, minlength=n_regions).astype(np.float64)
    sums_a = np.bincount(flat, weights=lab[..., 1].ravel(), minlength=n_regions)
    sums_b = np.bincount(flat, weights=lab[..., 2].ravel(), minlength=n_regions)
    present = counts > 0
    region_ab = np.zeros((n_regions, 2), np.float32)
    region_ab[present, 0] = sums_a[present] / counts[present]
    region_ab[present, 1] = sums_b[present] / counts[present]
    region_ab = quantize_ab(region_ab, config.quant_step)

    labels = np.flatnonzero(present)
    fraction = rng.uniform(config.keep_min, config.keep_max)
    n_keep = int(np.clip(round(fraction * labels.size), 1, labels.size))
    # keep the realised fraction inside [keep_min, keep_max] despite rounding
    while n_keep > 1 and n_keep / labels.size > config.keep_max:
        n_keep -= 1
    while n_keep < labels.size and n_keep / labels.size < config.keep_min:
        n_keep += 1
    kept = np.sort(rng.choice(labels, size=n_keep, replace=False))

    keep_region = np.zeros(n_regions, bool)
    keep_region[kept] = True
    inside = keep_region[segments]
    ab = np.zeros((2, h, w), np.float32)
    ab[0][inside] = region_ab[segments[inside], 0]
    ab[1][inside] = region_ab[segments[inside], 1]
    mask = inside[None].astype(np.float32)
    return HintSample(
        ab=ab, mask=mask, mode="slic", segments=segments, kept=kept, region_ab=region_ab
    )


def point_hints(
    rgb: np.ndarray,
    rng: np.random.Generator,
    config: HintConfig | None = None,
    lab: np.ndarray | None = None,
) -> HintSample:
    """Clicked-point hints: small discs at random positions with their ground-truth mean colour.

    Each hint becomes a ``core.hints.Hint`` (8-bit sRGB colour of the disc's mean Lab) and is
    rasterised by ``rasterize_hints`` at the image's own size, exactly as the app does.
    """
    config = config or HintConfig()
    h, w = rgb.shape[:2]
    lab = rgb_to_lab(rgb) if lab is None else lab
    n = int(rng.integers(config.points_min, config.points_max + 1))
    hints: list[Hint] = []
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(n):
        x = float(rng.integers(0, w))
        y = float(rng.integers(0, h))
        radius = float(rng.uniform(config.radius_min, config.radius_max))
        r = max(radius, 0.5)
        y0, y1 = max(int(y - r) - 1, 0), min(int(y + r) + 2, h)
        x0, x1 = max(int(x - r) - 1, 0), min(int(x + r) + 2, w)
        disc = (xx[y0:y1, x0:x1] - x) ** 2 + (yy[y0:y1, x0:x1] - y) ** 2 <= r * r
        patch = lab[y0:y1, x0:x1][disc] if disc.any() else lab[int(y), int(x)][None]
        mean_lab = patch.mean(axis=0)
        color = np.clip(np.rint(lab_to_rgb(mean_lab[None])[0] * 255.0), 0, 255).astype(int)
        hints.append(
            Hint(x=x, y=y, color=(int(color[0]), int(color[1]), int(color[2])), radius=radius)
        )
    ab, mask = rasterize_hints(hints, (h, w), (h, w))
    return HintSample(ab=ab, mask=mask, mode="points")


def sample_hints(
    rgb: np.ndarray,
    rng: np.random.Generator,
    config: HintConfig | None = None,
    lab: np.ndarray | None = None,
) -> HintSample:
    """Draw a hint mode (none / SLIC / points) by ``config``'s probabilities and simulate it."""
    config = config or HintConfig()
    mode = HINT_MODES[int(rng.choice(len(HINT_MODES), p=config.probabilities()))]
    if mode == "none":
        return empty_hints(rgb.shape[:2])
    if mode == "slic":
        return slic_hints(rgb, rng, config, lab)
    return point_hints(rgb, rng, config, lab)
