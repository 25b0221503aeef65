"""Colorization by optimisation (Levin, Lischinski and Weiss, SIGGRAPH 2004): spread chroma.

Each hint's colour spreads to neighbouring pixels of similar lightness. With ``Y`` the
lightness (here CIE L*/100) at the working size, the paper asks every un-hinted pixel ``r`` to
take the weighted average of its 3x3 neighbours ``s`` (Eq. 1)::

    U(r) = sum_s w_rs U(s),     w_rs ∝ exp(-(Y(r) - Y(s))^2 / (2 sigma_r^2))     (Eq. 2)

with ``w_rs`` normalised to sum to one over the window and ``sigma_r`` taken from the
lightness variance in the window around ``r``. Hinted pixels are fixed to their colour. Both
chroma channels (a*, b*) share one sparse matrix ``A = I - W``; it is factorised once and
solved for both right-hand sides. The variance rule and its floors follow the authors' own
reference implementation (``getColorExact.m``): ``2 sigma_r^2 = 0.6 var_r``, at least so
large that the most similar neighbour keeps a weight of 0.01, and never below 2e-6.

Speed: the factorisation dominates. Pixels are ordered by geometric nested dissection of the
grid (one-pixel-wide separator lines, recursively), which keeps the fill of the LU factors
near the optimum for a 2D grid; SuperLU then factorises in single precision without pivoting
(``A`` is diagonally dominant by rows, so no pivoting is needed).

A numpy/scipy algorithm with no model, so it lives in ``core``: the classic engine is this
propagation alone, and the instant engine uses it to spread hint corrections over its own
automatic colours.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from piggydesk.core.progress import CancelToken, ProgressCallback, check_cancel

# The 8 neighbours of the 3x3 window, (dy, dx).
_OFFSETS = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0))
_VARIANCE_FACTOR = 0.6  # 2 sigma_r^2 = 0.6 * local variance (reference implementation)
_MIN_NEIGHBOUR_WEIGHT = 0.01
_MIN_SIGMA2 = 2e-6
_GUIDE_FLOOR = 1e-3  # a guide never cuts a neighbour's affinity to exactly zero
_ND_LEAF = 48  # blocks at most this many pixels are not split further


def window_weights(
    y: np.ndarray, guide: np.ndarray | None = None, guide_sigma: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Normalised affinities ``w_rs`` of Eq. 2 for each pixel's 8 neighbours.

    ``y`` is the lightness in [0, 1], ``(h, w)``. Returns ``(weights, valid)``, both
    ``(8, h, w)`` in the order of ``_OFFSETS``: ``weights[k, i, j]`` is the weight of the
    neighbour ``(i + dy, j + dx)`` of pixel ``(i, j)``, zero where that neighbour lies outside
    the image; each pixel's weights sum to one.

    With a ``guide`` ``(c, h, w)`` (for instance a network's own colours) each affinity is
    also multiplied by ``exp(-|guide(r) - guide(s)|^2 / guide_sigma^2)`` (plus a small floor,
    so no group of pixels is cut off from the rest): colour then spreads less across a
    boundary the guide draws, even where the lightness does not change.
    """
    y = np.asarray(y, dtype=np.float64)
    h, w = y.shape
    padded = np.pad(y, 1, mode="edge")
    inside = np.pad(np.ones((h, w), dtype=bool), 1)
    neighbours = np.stack([padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy, dx in _OFFSETS])
    valid = np.stack([inside[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy, dx in _OFFSETS])

    count = valid.sum(axis=0) + 1.0  # the window includes the pixel itself
    mean = (np.where(valid, neighbours, 0.0).sum(axis=0) + y) / count
    variance = (
        np.where(valid, (neighbours - mean) ** 2, 0.0).sum(axis=0) + (y - mean) ** 2
    ) / count

    diff2 = (neighbours - y) ** 2
    nearest = np.where(valid, diff2, np.inf).min(axis=0)
    two_sigma2 = np.maximum(_VARIANCE_FACTOR * variance, -nearest / np.log(_MIN_NEIGHBOUR_WEIGHT))
    two_sigma2 = np.maximum(two_sigma2, _MIN_SIGMA2)

    weights = np.exp(-diff2 / two_sigma2) * valid
    if guide is not None and guide_sigma > 0:
        guide = np.asarray(guide, dtype=np.float64)
        padded_guide = np.pad(guide, ((0, 0), (1, 1), (1, 1)), mode="edge")
        for k, (dy, dx) in enumerate(_OFFSETS):
            step = padded_guide[:, 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] - guide
            weights[k] *= np.exp(-(step * step).sum(axis=0) / guide_sigma**2) + _GUIDE_FLOOR
    weights /= weights.sum(axis=0)
    return weights, valid


@lru_cache(maxsize=8)
def nested_dissection_order(height: int, width: int, leaf: int = _ND_LEAF) -> np.ndarray:
    """A fill-reducing ordering of the pixels of an ``height x width`` grid.

    Recursively splits the longer side of a block by a one-pixel-wide line (which separates
    the two halves for a 3x3 stencil) and numbers the halves first, the separator last.
    Returns ``order`` with ``order[k]`` = flat index of the k-th pixel.
    """
    index = np.arange(height * width, dtype=np.int64).reshape(height, width)
    parts: list[np.ndarray] = []
    stack: list[tuple[int, int, int, int, bool]] = [(0, height, 0, width, False)]
    # Iterative post-order: a block is pushed back as "done" (its separator) after its halves.
    while stack:
        r0, r1, c0, c1, separator = stack.pop()
        if separator:
            parts.append(index[r0:r1, c0:c1].ravel())
            continue
        h, w = r1 - r0, c1 - c0
        if h <= 0 or w <= 0:
            continue
        if h * w <= leaf or min(h, w) < 3:
            parts.append(index[r0:r1, c0:c1].ravel())
            continue
        if h >= w:
            m = (r0 + r1) // 2
            stack.append((m, m + 1, c0, c1, True))
            stack.append((m + 1, r1, c0, c1, False))
            stack.append((r0, m, c0, c1, False))
        else:
            m = (c0 + c1) // 2
            stack.append((r0, r1, m, m + 1, True))
            stack.append((r0, r1, m + 1, c1, False))
            stack.append((r0, r1, c0, m, False))
    order = np.concatenate(parts)
    order.setflags(write=False)
    return order


def build_system(
    y: np.ndarray,
    fixed: np.ndarray,
    order: np.ndarray,
    decay: float = 0.0,
    guide: np.ndarray | None = None,
    guide_sigma: float = 0.0,
) -> sp.csc_matrix:
    """``A = I - W`` (Eq. 1) with identity rows at the fixed (hinted) pixels, in ``order``.

    ``fixed`` is a boolean ``(h, w)`` mask. Row/column ``k`` of the result is the pixel
    ``order[k]``. Float32, compressed-column, ready for SuperLU. ``decay`` > 0 adds
    ``decay * U(r)`` to every free row, so a propagated value fades with distance from the
    hints instead of filling the whole image (used to spread hint *corrections* over a prior).
    ``guide`` and ``guide_sigma`` as in ``window_weights``.
    """
    h, w = y.shape
    n = h * w
    weights, valid = window_weights(y, guide, guide_sigma)
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n, dtype=np.int64)
    pos = position.reshape(h, w)
    padded_pos = np.pad(pos, 1)
    free = ~fixed

    rows = [pos.ravel()]
    cols = [pos.ravel()]
    vals = [np.where(fixed.ravel(), 1.0, 1.0 + decay).astype(np.float32)]
    for k, (dy, dx) in enumerate(_OFFSETS):
        take = valid[k] & free
        rows.append(pos[take])
        cols.append(padded_pos[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w][take])
        vals.append(-weights[k][take].astype(np.float32))
    return sp.csc_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )


class Propagation:
    """Eq. 1 built and factorised once for one set of hinted pixels.

    ``solve`` spreads any number of channels; ``left_out`` answers what the other hints
    spread to a few of the hinted pixels, were those left out, by a low-rank update of the
    same factors (the Woodbury identity: the left-out pixels' identity rows become Levin's
    rows, a rank-``r`` change for ``r`` pixels) instead of a new factorisation.
    ``lightness`` L* ``(h, w)``; ``fixed`` bool ``(h, w)``; ``decay``, ``guide`` and
    ``guide_sigma`` as in ``build_system``; ``built`` is called once the system is built,
    before the factorisation.
    """

    def __init__(
        self,
        lightness: np.ndarray,
        fixed: np.ndarray,
        decay: float = 0.0,
        guide: np.ndarray | None = None,
        guide_sigma: float = 0.0,
        built: Callable[[], None] | None = None,
    ) -> None:
        self.shape = lightness.shape
        self.fixed = np.asarray(fixed, dtype=bool)
        self.order = nested_dissection_order(*self.shape)
        self._y = np.asarray(lightness, dtype=np.float64) / 100.0
        self._system = (decay, guide, guide_sigma)
        matrix = build_system(self._y, self.fixed, self.order, decay, guide, guide_sigma)
        if built is not None:  # between building and factorising (progress, a cancel check)
            built()
        self._lu = spla.splu(
            matrix,
            permc_spec="NATURAL",  # already in nested-dissection order
            diag_pivot_thresh=0.0,
            options={"SymmetricMode": True},
        )
        self._position = np.empty(self.order.size, dtype=np.int64)
        self._position[self.order] = np.arange(self.order.size, dtype=np.int64)
        self._free_rows: sp.csr_matrix | None = None

    def _rhs(self, values: np.ndarray) -> np.ndarray:
        """``(c, h, w)`` hint values -> the right-hand sides ``(n, c)`` in solve order."""
        c = len(values)
        rhs = np.where(self.fixed[None], values, 0.0).reshape(c, -1)[:, self.order].T
        return np.ascontiguousarray(rhs, dtype=np.float32)

    def solve_ordered(self, values: np.ndarray) -> np.ndarray:
        """The spread ``(n, c)`` in solve order (``values`` ``(c, h, w)``)."""
        return self._lu.solve(self._rhs(values))

    def on_grid(self, solution: np.ndarray) -> np.ndarray:
        """A spread in solve order ``(n, c)`` back on the pixel grid: ``(h, w, c)``."""
        out = np.empty_like(solution)
        out[self.order] = solution
        return out.reshape(*self.shape, solution.shape[1])

    def solve(self, values: np.ndarray) -> np.ndarray:
        """Spread ``values`` ``(c, h, w)`` from the hinted pixels: ``(h, w, c)`` float32."""
        return self.on_grid(self.solve_ordered(values))

    def left_out(self, cells: np.ndarray, values: np.ndarray,
                 solution: np.ndarray) -> np.ndarray:
        """What the other hinted pixels spread to the hinted pixels ``cells`` (bool ``(h, w)``),
        were those left out: ``(r, c)`` float64, one row per pixel of ``cells`` in raster
        order. ``solution`` is ``solve_ordered(values)``."""
        pixels = np.flatnonzero(cells & self.fixed)
        if pixels.size == 0:
            return np.zeros((0, len(values)))
        if self._free_rows is None:  # Levin's rows for every pixel, as if none were hinted
            self._free_rows = build_system(
                self._y, np.zeros(self.shape, bool), self.order, *self._system).tocsr()
        at = self._position[pixels]
        r, n = at.size, self.order.size
        units = np.zeros((n, r), dtype=np.float32)
        units[at, np.arange(r)] = 1.0
        z = self._lu.solve(units).astype(np.float64)  # A^-1 E
        rhs = self._rhs(values).astype(np.float64)
        y = solution.astype(np.float64) - z @ rhs[at]  # A^-1 b' (b' without the left-out hints)
        rows = self._free_rows[at]  # the left-out pixels' new rows; D = rows - E^T
        dy = rows @ y - y[at]
        k = np.eye(r) + rows @ z - z[at]
        return y[at] - z[at] @ np.linalg.solve(k, dy)


def propagate_chroma(
    lightness: np.ndarray,
    hint_ab: np.ndarray,
    hint_mask: np.ndarray,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    total_steps: int = 3,
    decay: float = 0.0,
    guide: np.ndarray | None = None,
    guide_sigma: float = 0.0,
) -> np.ndarray:
    """Solve Eq. 1 for a* and b*: spread the hinted chroma over the image.

    ``lightness`` ``(h, w)`` L* in [0, 100] at the working size; ``hint_ab`` ``(2, h, w)`` and
    ``hint_mask`` ``(1, h, w)`` as from ``core.hints.rasterize_hints``. Returns ``(h, w, 2)``
    float32 chroma in Lab units (``(h, w, c)`` for ``c`` channels of ``hint_ab``: one
    factorisation spreads them all). Reports steps 1..3 of ``total_steps`` through ``progress``.
    ``decay``, ``guide`` and ``guide_sigma`` as in ``build_system`` (0 and None: Levin et
    al.'s exact propagation).
    """
    h, w = lightness.shape
    fixed = hint_mask[0] > 0.5
    if not fixed.any():
        return np.zeros((h, w, len(hint_ab)), dtype=np.float32)

    def built() -> None:
        if progress:
            progress(1, total_steps)
        check_cancel(cancel)

    propagation = Propagation(lightness, fixed, decay, guide, guide_sigma, built)
    if progress:
        progress(2, total_steps)
    check_cancel(cancel)
    ab = propagation.solve(hint_ab)
    if progress:
        progress(3, total_steps)
    return ab
