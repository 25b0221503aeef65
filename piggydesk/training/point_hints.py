"""Simulated user hints, as a person would click them (Zhang et al. 2017, Sec. 3.3).

Training: for each sample, with probability ``p_none`` no hints at all; otherwise a number of
points drawn from a geometric distribution, each a square patch of side 1-9 px placed either
uniformly or from a Gaussian around the image centre (people click on what matters), coloured
with the ground-truth mean ab inside the patch.

Evaluation: ``sample_eval_hints`` draws k ground-truth hints (``core.hints.Hint``) on a full-size
colour photo with a seeded generator, the same for every engine compared.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from piggydesk.core.hints import Hint

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HintSimulation:
    p_none: float = 0.3  # share of samples with no hints at all (automatic colorization)
    p_geometric: float = 1 / 12  # success probability of the geometric point count (mean 1/p)
    max_points: int = 120
    max_patch: int = 9  # patch sides drawn uniformly from 1..max_patch
    p_centered: float = 0.5  # share of points drawn from a centred Gaussian (else uniform)


def simulate_hints(
    ab: np.ndarray, rng: np.random.Generator, sim: HintSimulation = HintSimulation()
) -> tuple[np.ndarray, np.ndarray]:
    """Hints for one sample. ``ab`` float32 ``(2, H, W)`` ground truth (Lab units).

    Returns ``(hint_ab (2,H,W), mask (1,H,W))`` float32, zero where there is no hint.
    """
    _, h, w = ab.shape
    hint_ab = np.zeros_like(ab, dtype=np.float32)
    mask = np.zeros((1, h, w), dtype=np.float32)
    if rng.random() < sim.p_none:
        return hint_ab, mask
    n = int(min(rng.geometric(sim.p_geometric), sim.max_points))
    for _ in range(n):
        size = int(rng.integers(1, sim.max_patch + 1))
        if rng.random() < sim.p_centered:
            cy = int(np.clip(rng.normal(h / 2, h / 4), 0, h - 1))
            cx = int(np.clip(rng.normal(w / 2, w / 4), 0, w - 1))
        else:
            cy, cx = int(rng.integers(0, h)), int(rng.integers(0, w))
        y0, x0 = max(cy - size // 2, 0), max(cx - size // 2, 0)
        y1, x1 = min(y0 + size, h), min(x0 + size, w)
        mean = ab[:, y0:y1, x0:x1].reshape(2, -1).mean(axis=1)
        hint_ab[:, y0:y1, x0:x1] = mean[:, None, None]
        mask[:, y0:y1, x0:x1] = 1.0
    return hint_ab, mask


def sample_eval_hints(
    rgb: np.ndarray, k: int, seed: int, radius: float = 2.0, work_long_side: int = 512
) -> tuple[Hint, ...]:
    """``k`` ground-truth hints for a full-size sRGB photo ``(H, W, 3)`` float in [0, 1].

    Positions are uniform over the photo (seeded); each colour is the mean sRGB of the photo in
    the disc the hint will cover (``radius`` working pixels at ``work_long_side``).
    """
    if k <= 0:
        return ()
    h, w = rgb.shape[:2]
    rng = np.random.default_rng(seed)
    scale = max(h, w) / work_long_side
    r_img = max(radius * scale, 0.5)
    hints = []
    for _ in range(k):
        y = float(rng.uniform(0, h - 1))
        x = float(rng.uniform(0, w - 1))
        y0, y1 = int(max(np.floor(y - r_img), 0)), int(min(np.ceil(y + r_img) + 1, h))
        x0, x1 = int(max(np.floor(x - r_img), 0)), int(min(np.ceil(x + r_img) + 1, w))
        color = rgb[y0:y1, x0:x1].reshape(-1, 3).mean(axis=0)
        c8 = tuple(int(v) for v in np.clip(np.rint(color * 255.0), 0, 255))
        hints.append(Hint(x=x, y=y, color=c8, radius=radius))
    return tuple(hints)
