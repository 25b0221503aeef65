"""Quantised in-gamut ab colour bins and class rebalancing (Zhang, Isola and Efros 2016).

The ab plane is cut into a grid of ``GRID`` x ``GRID`` Lab-unit cells centred on multiples of
``GRID`` in [-110, 110]; a cell is kept when some lightness L in [0, 100] puts a point of the
cell inside the sRGB gamut (the paper's Q = 313 bins for its grid; ours gives about the same).

Class rebalancing (Zhang et al. 2016, Eq. 3-4): with the empirical bin distribution ``p``
smoothed by a Gaussian of ``sigma`` Lab units, the weight of bin q is
``w_q ∝ ((1 - lam) * p~_q + lam / Q) ** -1``, normalised so that ``E_p~[w] = 1``.

Annealed mean (Zhang et al. 2016, Eq. 5): ``f_T(z) = exp(log z / T) / sum exp(log z / T)``,
colour = sum_q f_T(z)_q * centre_q; T = 0.38 in the paper.

Pure numpy (no torch), so both the network and the engines can use it.
"""

from __future__ import annotations

import logging
from functools import lru_cache

import numpy as np

from piggydesk.core.color import lab_to_rgb

logger = logging.getLogger(__name__)

GRID = 10.0
AB_RANGE = 110.0
_AXIS = np.arange(-AB_RANGE, AB_RANGE + 0.5, GRID, dtype=np.float32)  # 23 centres per axis


@lru_cache(maxsize=1)
def bin_centers() -> np.ndarray:
    """``(Q, 2)`` float32 a, b centres of the in-gamut bins, ordered by a then b."""
    a, b = np.meshgrid(_AXIS, _AXIS, indexing="ij")
    centres = np.stack([a.ravel(), b.ravel()], axis=-1)
    offsets = np.array(
        [[0, 0], [-4, -4], [-4, 4], [4, -4], [4, 4], [-4, 0], [4, 0], [0, -4], [0, 4]],
        dtype=np.float32,
    )
    lightness = np.linspace(1.0, 99.0, 50, dtype=np.float32)
    keep = np.zeros(len(centres), dtype=bool)
    for off in offsets:
        ab = centres + off
        lab = np.concatenate(
            [
                np.repeat(lightness[None, :, None], len(ab), axis=0),
                np.repeat(ab[:, None, :], len(lightness), axis=1),
            ],
            axis=-1,
        )
        rgb = lab_to_rgb(lab, clip=False)
        inside = np.all((rgb >= -1e-3) & (rgb <= 1.0 + 1e-3), axis=-1).any(axis=1)
        keep |= inside
    return centres[keep].astype(np.float32)


def num_bins() -> int:
    return int(len(bin_centers()))


@lru_cache(maxsize=1)
def _grid_lookup() -> np.ndarray:
    """``(23, 23)`` int64: for every grid cell, the index of the nearest kept bin."""
    centres = bin_centers()
    a, b = np.meshgrid(_AXIS, _AXIS, indexing="ij")
    cells = np.stack([a.ravel(), b.ravel()], axis=-1)
    d = ((cells[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
    return d.argmin(axis=1).reshape(len(_AXIS), len(_AXIS)).astype(np.int64)


def grid_lookup_table() -> np.ndarray:
    """The cell -> bin table (for a torch implementation of ``encode``)."""
    return _grid_lookup().copy()


def encode(ab: np.ndarray) -> np.ndarray:
    """Hard-assign ab values (``...x2``, Lab units) to bin indices (``...``, int64)."""
    ab = np.asarray(ab, dtype=np.float32)
    idx = np.clip(np.rint((ab + AB_RANGE) / GRID), 0, len(_AXIS) - 1).astype(np.int64)
    return _grid_lookup()[idx[..., 0], idx[..., 1]]


def rebalance_weights(
    histogram: np.ndarray, sigma: float = 5.0, lam: float = 0.5
) -> np.ndarray:
    """Per-bin loss weights from a bin histogram (counts), Zhang et al. 2016 Eq. 4."""
    centres = bin_centers()
    p = np.asarray(histogram, dtype=np.float64)
    p = p / max(p.sum(), 1e-12)
    d2 = ((centres[:, None, :] - centres[None, :, :]) ** 2).sum(-1).astype(np.float64)
    kernel = np.exp(-d2 / (2.0 * sigma * sigma))
    kernel /= kernel.sum(axis=1, keepdims=True)
    p_smooth = kernel.T @ p
    p_smooth /= p_smooth.sum()
    w = 1.0 / ((1.0 - lam) * p_smooth + lam / len(centres))
    w /= (p_smooth * w).sum()
    return w.astype(np.float32)


def annealed_mean(probs: np.ndarray, temperature: float = 0.38, axis: int = -1) -> np.ndarray:
    """Annealed-mean colour (Eq. 5) of bin probabilities along ``axis``; returns ``...x2``."""
    p = np.moveaxis(np.asarray(probs, dtype=np.float64), axis, -1)
    logp = np.log(np.maximum(p, 1e-12)) / temperature
    logp -= logp.max(axis=-1, keepdims=True)
    q = np.exp(logp)
    q /= q.sum(axis=-1, keepdims=True)
    return (q @ bin_centers().astype(np.float64)).astype(np.float32)


def colour_spread(probs: np.ndarray, axis: int = 0) -> np.ndarray:
    """How unsure bin probabilities are of their colour: the standard deviation (Lab units)
    of the ab centres under ``probs`` along ``axis``, ``sqrt(E|c - E c|^2)``; the other axes
    stay (float32)."""
    p = np.moveaxis(np.asarray(probs, dtype=np.float32), axis, -1)
    centres = bin_centers()
    mean = p @ centres
    second = p @ (centres * centres).sum(axis=1)
    return np.sqrt(np.maximum(second - (mean * mean).sum(axis=-1), 0.0)).astype(np.float32)
