"""The classic engine (Levin et al. 2004): colour spreads within regions and stops at edges."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from piggydesk.core import propagation
from piggydesk.core.color import rgb_to_lab
from piggydesk.core.hints import Hint, rasterize_hints
from piggydesk.engines import classic
from piggydesk.engines.base import Cancelled, Colorizer, ColorizeRequest

RED = (200, 40, 40)
GRAY = (128, 128, 128)


def _two_regions(height: int = 96, width: int = 128, edge: bool = True) -> np.ndarray:
    """L* = 45 on the left half and 85 on the right half (or 50 everywhere without the edge)."""
    lightness = np.full((height, width), 50.0, dtype=np.float32)
    if edge:
        lightness[:, : width // 2] = 45.0
        lightness[:, width // 2 :] = 85.0
    return lightness


def _chroma(rgb: np.ndarray) -> np.ndarray:
    lab = rgb_to_lab(rgb)
    return np.hypot(lab[..., 1], lab[..., 2])


def _hint_ab(color: tuple[int, int, int]) -> np.ndarray:
    return rgb_to_lab(np.array(color, dtype=np.float32) / 255.0)[1:]


def _run(lightness: np.ndarray, hints: list[Hint], **kwargs) -> list:
    request = ColorizeRequest(lightness=lightness, hints=tuple(hints), working_size=128, **kwargs)
    return classic.create().colorize(request)


def test_a_hint_fills_its_region_and_stops_at_a_strong_edge():
    lightness = _two_regions()
    hints = [Hint(10, 10, RED, 2), Hint(120, 85, GRAY, 2)]
    (variant,) = _run(lightness, hints)
    lab = rgb_to_lab(variant.rgb)
    red_ab = _hint_ab(RED)

    left = lab[:, :60, 1:].reshape(-1, 2)
    right = lab[:, 68:, 1:].reshape(-1, 2)
    # The far corner of the left region (about 100 px from the hint) is nearly as red as the hint.
    assert np.linalg.norm(lab[90, 55, 1:] - red_ab) < 8.0
    assert np.median(np.linalg.norm(left - red_ab, axis=1)) < 5.0
    # Across the edge the colour stops: the right region stays nearly neutral (measured: the
    # chroma falls from about 69 two pixels left of the edge to under 5 two pixels right of it;
    # the paper's weight floor of 0.01 lets a trace through).
    assert np.percentile(np.hypot(right[:, 0], right[:, 1]), 99) < 7.0
    assert np.linalg.norm(lab[48, 62, 1:] - red_ab) < 8.0
    assert np.hypot(*lab[48, 66, 1:]) < 7.0


def test_without_the_edge_the_same_hints_blend():
    """Control for the test above: the edge, not the distance, is what stopped the red."""
    (variant,) = _run(_two_regions(edge=False), [Hint(10, 10, RED, 2), Hint(120, 85, GRAY, 2)])
    chroma = _chroma(variant.rgb)
    assert chroma[:, 68:80].mean() > 25.0  # red leaks well into the right half
    assert chroma[:, :8].mean() > chroma[:, 120:].mean() + 10.0  # and fades towards gray


def test_lightness_is_kept_at_full_resolution():
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:300, 0:200]
    lightness = 20 + 60 * (xx / 200) + 10 * np.sin(yy / 9.0) + rng.normal(0, 2, yy.shape)
    lightness = np.clip(lightness, 0, 100).astype(np.float32)
    hints = [Hint(20, 30, (30, 90, 200), 3), Hint(180, 250, (220, 180, 40), 3)]
    (variant,) = _run(lightness, hints)
    assert variant.rgb.shape == (300, 200, 3)
    assert variant.rgb.dtype == np.float32
    assert np.isfinite(variant.rgb).all()
    assert np.abs(rgb_to_lab(variant.rgb)[..., 0] - lightness).max() < 0.5
    assert _chroma(variant.rgb).mean() > 5.0
    assert variant.settings.engine == "classic"
    assert variant.settings.hints == tuple(hints)


def test_no_hints_gives_the_gray_photo_and_says_why():
    lightness = _two_regions()
    (variant,) = _run(lightness, [])
    assert variant.message == classic.NO_HINTS_MESSAGE
    assert _chroma(variant.rgb).max() < 0.5
    assert np.abs(rgb_to_lab(variant.rgb)[..., 0] - lightness).max() < 0.5


def test_asking_for_several_variants_gives_one_and_says_so():
    variants = _run(_two_regions(), [Hint(10, 10, RED, 2)], num_variants=3)
    assert len(variants) == 1
    assert variants[0].message == classic.ONE_VARIANT_MESSAGE


def test_progress_is_reported_up_to_done():
    steps: list[tuple[int, int]] = []
    request = ColorizeRequest(lightness=_two_regions(), hints=(Hint(10, 10, RED, 2),))
    classic.create().colorize(request, progress=lambda s, t: steps.append((s, t)))
    assert steps[-1][0] == steps[-1][1]
    assert [s for s, _ in steps] == sorted(s for s, _ in steps)
    assert len(steps) >= 3


def test_cancel_before_and_during_a_run():
    request = ColorizeRequest(lightness=_two_regions(), hints=(Hint(10, 10, RED, 2),))
    engine = classic.create()
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        engine.colorize(request, cancel=cancel)

    cancel = threading.Event()
    steps: list[int] = []

    def progress(step: int, total: int) -> None:
        steps.append(step)
        cancel.set()  # the user presses Cancel after the first step

    with pytest.raises(Cancelled):
        engine.colorize(request, progress=progress, cancel=cancel)
    assert steps == [1]


def test_window_weights_are_normalised_and_stay_inside():
    rng = np.random.default_rng(0)
    y = rng.random((7, 9))
    weights, valid = propagation.window_weights(y)
    assert weights.shape == (8, 7, 9)
    np.testing.assert_allclose(weights.sum(axis=0), 1.0, rtol=1e-12)
    assert (weights[~valid] == 0).all()
    assert valid[:, 0, 0].sum() == 3 and valid[:, 3, 4].sum() == 8
    # A neighbour of equal lightness outweighs one across a jump.
    step = np.zeros((3, 3))
    step[:, 2] = 1.0
    w, _ = propagation.window_weights(step)
    assert w[3, 1, 1] > 10 * w[4, 1, 1]  # (0,-1) same lightness vs (0,+1) across the jump


def test_nested_dissection_order_is_a_permutation():
    order = propagation.nested_dissection_order(37, 53)
    assert sorted(order.tolist()) == list(range(37 * 53))


def test_solution_satisfies_the_paper_equation():
    """Every free pixel ends up the weighted average of its neighbours (Eq. 1)."""
    rng = np.random.default_rng(3)
    lightness = np.clip(50 + 20 * rng.standard_normal((24, 32)), 0, 100).astype(np.float32)
    hints = [Hint(3, 3, RED, 1), Hint(28, 20, (20, 60, 200), 1)]
    ab_hint, mask = rasterize_hints(hints, (24, 32), (24, 32))
    ab = propagation.propagate_chroma(lightness, ab_hint, mask).astype(np.float64)
    weights, _ = propagation.window_weights(lightness / 100.0)
    padded = np.pad(ab, ((1, 1), (1, 1), (0, 0)))
    average = sum(
        weights[k][..., None] * padded[1 + dy : 25 + dy, 1 + dx : 33 + dx]
        for k, (dy, dx) in enumerate(propagation._OFFSETS)
    )
    free = mask[0] < 0.5
    assert np.abs(ab - average)[free].max() < 1e-2
    fixed = ~free
    np.testing.assert_allclose(ab[fixed], np.moveaxis(ab_hint, 0, -1)[fixed], atol=1e-3)


def test_leaving_hints_out_by_the_low_rank_update_equals_a_new_solve():
    """``Propagation.left_out`` (the Woodbury update of the factors) gives what a fresh
    propagation without those hinted pixels gives there, for any number of channels, with
    a guide and a decay."""
    rng = np.random.default_rng(5)
    lightness = np.clip(50 + 20 * rng.standard_normal((24, 32)), 0, 100).astype(np.float32)
    guide = rng.standard_normal((2, 24, 32)).astype(np.float32) * 3
    hints = [Hint(3, 3, RED, 1), Hint(28, 20, (20, 60, 200), 1), Hint(15, 10, (40, 200, 60), 1)]
    values, mask = rasterize_hints(hints, (24, 32), (24, 32))
    values = np.concatenate([values, 0.5 * values[::-1]])  # four channels
    fixed = mask[0] > 0.5
    left = np.zeros_like(fixed)
    left[8:13, 13:18] = fixed[8:13, 13:18]  # the third hint's pixels
    assert left.any()
    options = dict(decay=0.01, guide=guide, guide_sigma=1.5)
    whole = propagation.Propagation(lightness, fixed, **options)
    got = whole.left_out(left, values, whole.solve_ordered(values))
    fresh = propagation.Propagation(lightness, fixed & ~left, **options).solve(values)
    np.testing.assert_allclose(got, fresh[left], atol=2e-3)
    assert np.abs(fresh[left] - np.moveaxis(values, 0, -1)[left]).max() > 20  # it did change


def test_engine_contract():
    info = classic.engine_info(None)
    assert info.name == "classic" and info.available and info.needs_hints
    assert isinstance(classic.create("cpu", None), Colorizer)
