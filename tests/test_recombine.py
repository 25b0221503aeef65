"""Full-resolution recombination: edge-aware chroma upsampling and exact lightness."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from piggydesk.core.color import (
    from_unit_float,
    gray_to_lightness,
    lab_to_rgb,
    linear_to_srgb,
    rgb_to_lab,
    srgb_to_linear,
    to_unit_float,
)
from piggydesk.core.recombine import (
    guided_upsample,
    lab_to_rgb_preserving_lightness,
    recombine,
    resize_lightness,
)


def _photo_lightness(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Blocks with hard edges, soft shading and grain: a stand-in for a scanned photo."""
    rng = np.random.default_rng(seed)
    blocks = cv2.resize(
        rng.uniform(2, 98, (6, 8)).astype(np.float32), (w, h), interpolation=cv2.INTER_NEAREST
    )
    shading = cv2.resize(
        rng.uniform(-10, 10, (h // 16, w // 16)).astype(np.float32),
        (w, h),
        interpolation=cv2.INTER_CUBIC,
    )
    grain = rng.normal(0, 1.5, (h, w)).astype(np.float32)
    return np.clip(blocks + shading + grain, 0, 100).astype(np.float32)


def _chroma(h: int, w: int, seed: int = 1, scale: float = 60.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ab = cv2.resize(
        rng.uniform(-scale, scale, (6, 8, 2)).astype(np.float32),
        (w, h),
        interpolation=cv2.INTER_NEAREST,
    )
    return cv2.GaussianBlur(ab, (0, 0), 1.5)


def _quantised_lightness(rgb: np.ndarray, bit_depth: int) -> np.ndarray:
    return rgb_to_lab(to_unit_float(from_unit_float(rgb, bit_depth)))[..., 0]


# ----------------------------------------------------------------------------- resize


def test_resize_lightness_area_down_and_cubic_up() -> None:
    lightness = np.arange(16, dtype=np.float32).reshape(4, 4) * 6
    down = resize_lightness(lightness, (2, 2))
    np.testing.assert_allclose(down[0, 0], lightness[:2, :2].mean(), atol=1e-4)
    up = resize_lightness(lightness, (8, 8))
    assert up.shape == (8, 8) and up.dtype == np.float32
    assert up.min() >= 0 and up.max() <= 100
    same = resize_lightness(lightness, (4, 4))
    np.testing.assert_array_equal(same, lightness)
    assert same is not lightness
    assert resize_lightness(lightness, (2, 8)).shape == (2, 8)


# ----------------------------------------------------------------------------- lightness kept


@pytest.mark.parametrize("bit_depth", [8, 16])
def test_output_lightness_equals_input_lightness(bit_depth: int) -> None:
    H, W = 300, 400
    levels = 255 if bit_depth == 8 else 65535
    gray = np.rint(_photo_lightness(H, W) / 100 * levels) / levels  # a real 8/16-bit scan
    lightness = gray_to_lightness(gray.astype(np.float32))
    ab = _chroma(96, 128, scale=110.0)  # far outside the gamut in places
    rgb = recombine(lightness, ab)
    assert rgb.shape == (H, W, 3) and rgb.dtype == np.float32
    assert rgb.min() >= 0.0 and rgb.max() <= 1.0
    np.testing.assert_allclose(rgb_to_lab(rgb)[..., 0], lightness, atol=0.01)
    error = np.abs(_quantised_lightness(rgb, bit_depth) - lightness).max()
    assert error < 0.5
    if bit_depth == 16:
        assert error < 0.02


def test_sixteen_bit_input_gives_true_sixteen_bit_output() -> None:
    ramp = np.linspace(20, 80, 2048, dtype=np.float32)[None, :].repeat(40, axis=0)
    rgb = recombine(ramp, np.full((16, 256, 2), (20.0, 30.0), dtype=np.float32))
    green16 = from_unit_float(rgb, 16)[..., 1]
    assert len(np.unique(green16[20])) > 1500  # an 8-bit result promoted would have < 256
    assert np.abs(_quantised_lightness(rgb, 16) - ramp).max() < 0.01


# ----------------------------------------------------------------------------- gamut mapping


def test_in_gamut_colour_is_unchanged() -> None:
    colour = np.array([0.62, 0.41, 0.28], dtype=np.float32)
    lab = rgb_to_lab(colour)
    L = np.full((40, 40), lab[0], dtype=np.float32)
    ab = np.broadcast_to(lab[1:], (40, 40, 2)).astype(np.float32)
    rgb = lab_to_rgb_preserving_lightness(L, ab)
    np.testing.assert_allclose(rgb, np.broadcast_to(colour, rgb.shape), atol=2e-4)


def test_out_of_gamut_keeps_hue_and_lightness_and_reduces_chroma() -> None:
    L = np.array([[30.0, 50.0, 70.0, 90.0]], dtype=np.float32)
    angles = np.deg2rad([10.0, 120.0, 200.0, 300.0])
    ab = (np.stack([np.cos(angles), np.sin(angles)], -1) * 150.0)[None].astype(np.float32)
    rgb = lab_to_rgb_preserving_lightness(L, ab)
    lab = rgb_to_lab(rgb)
    np.testing.assert_allclose(lab[..., 0], L, atol=0.01)
    hue = np.arctan2(lab[..., 2], lab[..., 1])
    np.testing.assert_allclose(np.angle(np.exp(1j * (hue - angles))), 0, atol=np.deg2rad(1.0))
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    assert (chroma < 150).all() and (chroma > 5).all()
    # as much chroma as fits: 2 Lab units more leaves the gamut
    more = lab.copy()
    more[..., 1:] *= ((chroma + 2.0) / chroma)[..., None]
    beyond = lab_to_rgb(more, clip=False)
    assert ((beyond < 0) | (beyond > 1)).any(axis=-1).all()


def test_zero_chroma_gives_neutral_gray_and_extremes_survive() -> None:
    L = np.array([[0.0, 0.5, 25.0, 50.0, 99.9, 100.0]], dtype=np.float32)
    rgb = lab_to_rgb_preserving_lightness(L, np.zeros((1, 6, 2), dtype=np.float32))
    np.testing.assert_allclose(rgb[..., 0], rgb[..., 1], atol=1e-6)
    np.testing.assert_allclose(rgb[..., 1], rgb[..., 2], atol=1e-6)
    np.testing.assert_allclose(rgb[0, 0], 0, atol=1e-6)
    np.testing.assert_allclose(rgb[0, -1], 1, atol=1e-6)
    np.testing.assert_allclose(rgb_to_lab(rgb)[..., 0], L, atol=0.01)


# ----------------------------------------------------------------------------- edges


def test_guided_upsampling_keeps_colour_on_its_side_of_an_edge() -> None:
    H, W, scale = 256, 256, 8
    edge = 133  # deliberately between working-size pixel boundaries
    L = np.full((H, W), 25.0, dtype=np.float32)
    L[:, edge:] = 75.0
    ideal = np.where(np.arange(W) < edge, 40.0, -40.0).astype(np.float32)
    # what a network at working size predicts: the right colours, a soft boundary
    low_a = cv2.resize(
        ideal[None, :].repeat(H, 0), (W // scale, H // scale), interpolation=cv2.INTER_AREA
    )
    ab = np.stack([low_a, np.zeros_like(low_a)], -1)
    guided = guided_upsample(L, ab)[..., 0]
    bilinear = cv2.resize(ab, (W, H), interpolation=cv2.INTER_LINEAR)[..., 0]
    band = slice(edge - 12, edge + 12)
    err_guided = np.abs(guided[:, band] - ideal[band]).mean()
    err_bilinear = np.abs(bilinear[:, band] - ideal[band]).mean()
    assert err_guided < 0.5 * err_bilinear
    # right at the edge the two sides get clearly different, correct-signed colours
    assert guided[:, edge - 1].mean() > 20 and guided[:, edge].mean() < -20


def test_same_size_chroma_passes_through_and_small_photos_come_back_small() -> None:
    L = _photo_lightness(64, 96)
    ab = _chroma(64, 96)
    np.testing.assert_array_equal(guided_upsample(L, ab), ab)
    tiny = _photo_lightness(40, 48)
    rgb = recombine(tiny, _chroma(256, 320))  # engine ran on an upscaled copy
    assert rgb.shape == (40, 48, 3)
    assert np.abs(_quantised_lightness(rgb, 8) - tiny).max() < 0.5


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError):
        recombine(np.zeros((10, 10, 3), np.float32), np.zeros((4, 4, 2), np.float32))
    with pytest.raises(ValueError):
        recombine(np.zeros((10, 10), np.float32), np.zeros((4, 4, 3), np.float32))


def test_bands_and_threads_give_the_same_result_as_one_piece(monkeypatch) -> None:
    from piggydesk.core import recombine as module

    L = _photo_lightness(120, 160)
    ab = _chroma(48, 64, scale=90.0)
    whole = recombine(L, ab)
    whole_ab = guided_upsample(L, ab)
    monkeypatch.setattr(module, "_BAND_PIXELS", 1000)  # 7 rows a band, many threads' work
    # equal up to float rounding (SIMD code paths differ with the length of a band)
    np.testing.assert_allclose(recombine(L, ab), whole, atol=1e-6, rtol=0)
    np.testing.assert_allclose(guided_upsample(L, ab), whole_ab, atol=1e-4, rtol=0)
    small = _photo_lightness(40, 48)
    big_ab = _chroma(256, 320)
    np.testing.assert_array_equal(recombine(small, big_ab), recombine(small, big_ab))


def test_the_srgb_curve_matches_the_standard_without_cv2_pow(monkeypatch) -> None:
    """cv2.pow with a non-integer exponent is 8x slower in the pinned opencv 4.12 than in 5.x
    (it made 12 MP results take 0.65 s instead of 0.36 s): the transfer curves do not use it,
    and still give the IEC 61966-2-1 values."""

    def refused(*args, **kwargs):
        raise AssertionError("cv2.pow is on the full-resolution path")

    monkeypatch.setattr(cv2, "pow", refused)
    lightness = np.linspace(0, 100, 64 * 48, dtype=np.float32).reshape(48, 64)
    ab = np.zeros((48, 64, 2), np.float32)
    ab[..., 0], ab[..., 1] = 20.0, -10.0
    rgb = recombine(lightness, ab)
    linear = np.linspace(0, 1, 1001, dtype=np.float32)
    encoded = linear_to_srgb(linear)
    reference = np.where(linear <= 0.0031308, 12.92 * linear,
                         1.055 * np.power(linear.astype(np.float64), 1 / 2.4) - 0.055)
    np.testing.assert_allclose(encoded, reference, atol=2e-6)
    np.testing.assert_allclose(srgb_to_linear(encoded), linear, atol=2e-6)
    assert np.isfinite(rgb).all() and rgb.shape == (48, 64, 3)
