"""sRGB <-> CIE L*a*b* (D65): reference values and exact round trips at 8 and 16 bits."""

from __future__ import annotations

import numpy as np
import pytest

from piggydesk.core.color import (
    from_unit_float,
    gray_to_lightness,
    lab_to_rgb,
    lightness_to_gray_rgb,
    linear_to_srgb,
    rgb_to_lab,
    rgb_to_lightness,
    srgb_to_linear,
    to_unit_float,
)

# Reference values (D65, 2 degree observer), e.g. from Bruce Lindbloom's calculator.
REFERENCE = [
    ((1.0, 1.0, 1.0), (100.0, 0.0, 0.0)),
    ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0)),
    ((1.0, 0.0, 0.0), (53.2408, 80.0925, 67.2032)),
    ((0.0, 1.0, 0.0), (87.7347, -86.1827, 83.1793)),
    ((0.0, 0.0, 1.0), (32.2970, 79.1875, -107.8602)),
    ((0.5, 0.5, 0.5), (53.3890, 0.0, 0.0)),
]


@pytest.mark.parametrize("rgb,lab", REFERENCE)
def test_reference_values(rgb, lab) -> None:
    result = rgb_to_lab(np.array(rgb, dtype=np.float32))
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, lab, atol=0.01)
    np.testing.assert_allclose(lab_to_rgb(np.array(lab, dtype=np.float32)), rgb, atol=1e-4)


def test_every_8bit_value_round_trips() -> None:
    rng = np.random.default_rng(0)
    levels = np.arange(256, dtype=np.uint8)
    grays = np.repeat(levels[:, None], 3, axis=1)
    colours = rng.integers(0, 256, size=(200_000, 3), dtype=np.uint8)
    for pixels in (grays, colours):
        back = from_unit_float(lab_to_rgb(rgb_to_lab(to_unit_float(pixels))), 8)
        np.testing.assert_array_equal(back, pixels)


def test_uint8_input_gives_exactly_the_values_of_its_float_reading() -> None:
    # Training batches hand uint8 crops straight to rgb_to_lab (a 256-entry table); the
    # result must be the float path's, bit for bit, dark pixels (the linear branch) included.
    rng = np.random.default_rng(2)
    levels = np.arange(256, dtype=np.uint8)
    pixels = np.concatenate([np.repeat(levels[:, None], 3, axis=1),
                             rng.integers(0, 256, size=(100_000, 3), dtype=np.uint8),
                             rng.integers(0, 12, size=(1_000, 3), dtype=np.uint8)])
    batch = pixels[:100_000].reshape(4, 125, 200, 3)
    for u8 in (pixels, batch):
        np.testing.assert_array_equal(rgb_to_lab(u8), rgb_to_lab(u8.astype(np.float32) / 255.0))
    assert rgb_to_lab(pixels).dtype == np.float32
    np.testing.assert_allclose(rgb_to_lab(np.array([255, 0, 0], np.uint8)), REFERENCE[2][1],
                               atol=0.01)


def test_16bit_values_round_trip() -> None:
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 65536, size=(200_000, 3), dtype=np.uint16)
    back = from_unit_float(lab_to_rgb(rgb_to_lab(to_unit_float(pixels))), 16)
    assert np.abs(back.astype(np.int64) - pixels).max() <= 2  # float32 maths: within 2/65535
    gray = np.arange(0, 65536, dtype=np.uint16)
    lightness = gray_to_lightness(to_unit_float(gray))
    assert (np.diff(lightness) >= 0).all()
    back = from_unit_float(lightness_to_gray_rgb(lightness)[..., 0], 16)
    assert np.abs(back.astype(np.int64) - gray).max() <= 2


def test_shapes_and_lightness_helpers() -> None:
    rng = np.random.default_rng(2)
    rgb = rng.random((7, 9, 3), dtype=np.float32)
    lab = rgb_to_lab(rgb)
    assert lab.shape == (7, 9, 3)
    np.testing.assert_allclose(rgb_to_lightness(rgb), lab[..., 0], atol=1e-4)
    gray = rgb[..., 0]
    np.testing.assert_allclose(
        gray_to_lightness(gray), rgb_to_lightness(np.repeat(gray[..., None], 3, -1)), atol=1e-4
    )
    neutral = lightness_to_gray_rgb(lab[..., 0])
    np.testing.assert_allclose(rgb_to_lab(neutral)[..., 0], lab[..., 0], atol=1e-3)
    np.testing.assert_allclose(rgb_to_lab(neutral)[..., 1:], 0, atol=1e-3)


def test_transfer_curve_is_inverse_and_continuous() -> None:
    x = np.linspace(0, 1, 10001, dtype=np.float32)
    np.testing.assert_allclose(linear_to_srgb(srgb_to_linear(x)), x, atol=2e-6)
    knee = np.float32(0.04045)
    assert abs(float(srgb_to_linear(knee)) - float(srgb_to_linear(knee + 1e-6))) < 1e-5


def test_out_of_gamut_lab_is_clipped_unless_asked() -> None:
    lab = np.array([50.0, 120.0, 0.0], dtype=np.float32)
    clipped = lab_to_rgb(lab)
    assert clipped.min() >= 0 and clipped.max() <= 1
    raw = lab_to_rgb(lab, clip=False)
    assert raw.min() < 0 or raw.max() > 1


def test_quantisation_helpers() -> None:
    values = np.array([0.0, 0.5, 1.0, 1.2, -0.1], dtype=np.float32)
    np.testing.assert_array_equal(from_unit_float(values, 8), [0, 128, 255, 255, 0])
    np.testing.assert_array_equal(from_unit_float(values, 16), [0, 32768, 65535, 65535, 0])
    assert to_unit_float(np.array([255], np.uint8))[0] == 1.0
    assert to_unit_float(np.array([65535], np.uint16))[0] == 1.0
    with pytest.raises(ValueError):
        from_unit_float(values, 12)
