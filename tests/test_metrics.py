"""The evaluation metrics against values worked out by hand."""

from __future__ import annotations

import numpy as np

from piggydesk.core.color import lab_to_rgb, rgb_to_lab
from piggydesk.training.metrics import ab_error_cdf, auc, colourfulness, psnr, ssim


def test_psnr_of_a_known_error():
    truth = np.full((8, 8, 3), 0.5, np.float32)
    result = truth + 0.1  # MSE 0.01 -> 20 dB
    assert abs(psnr(result, truth) - 20.0) < 1e-4
    assert psnr(truth, truth) == 100.0


def test_ssim_is_one_for_identical_images_and_lower_for_noise():
    rng = np.random.default_rng(0)
    img = rng.uniform(0, 1, (32, 32, 3)).astype(np.float32)
    assert abs(ssim(img, img) - 1.0) < 1e-6
    noisy = np.clip(img + rng.normal(0, 0.2, img.shape), 0, 1).astype(np.float32)
    assert ssim(noisy, img) < 0.9


def test_colourfulness_follows_hasler_suesstrunk():
    gray = np.full((10, 10, 3), 0.4, np.float32)
    assert colourfulness(gray) == 0.0
    # Uniform pure red: rg = 255, yb = 127.5, no spread -> 0.3 * sqrt(255^2 + 127.5^2).
    red = np.zeros((10, 10, 3), np.float32)
    red[..., 0] = 1.0
    assert abs(colourfulness(red) - 0.3 * np.hypot(255.0, 127.5)) < 1e-3
    # Half red, half green: std(rg) = 255, yb = 127.5 constant, mean(rg) = 0.
    half = np.zeros((10, 10, 3), np.float32)
    half[:5, :, 0] = 1.0
    half[5:, :, 1] = 1.0
    expected = 255.0 + 0.3 * 127.5
    assert abs(colourfulness(half) - expected) < 1e-3


def test_auc_of_a_constant_ab_error():
    lab = np.zeros((16, 16, 3), np.float32)
    lab[..., 0] = 60.0
    truth = lab_to_rgb(lab)
    assert abs(auc(truth, truth) - 1.0) < 1e-6
    shifted = lab.copy()
    shifted[..., 1] = 30.0  # every pixel 30 units away in ab (in gamut at L = 60)
    result = lab_to_rgb(shifted)
    err = np.abs(rgb_to_lab(result)[..., 1] - rgb_to_lab(truth)[..., 1]).mean()
    cdf = ab_error_cdf(result, truth)
    assert cdf[int(err) - 1] == 0.0 and cdf[int(err) + 1] == 1.0
    # Area: thresholds 0..150, the CDF is 1 from ~30 on -> (151 - 30) / 151.
    assert abs(auc(result, truth) - (151 - np.ceil(err)) / 151) < 0.01


def _lab_image(a: np.ndarray, b: np.ndarray, lightness: float = 60.0) -> np.ndarray:
    lab = np.stack([np.full_like(a, lightness), a, b], axis=-1).astype(np.float32)
    return lab_to_rgb(lab)


def test_hue_hits_follow_the_issue_definition():
    from piggydesk.training.metrics import hue_hits

    # Truth: left half sky blue (hue ~250 deg, chroma 40), right half grass green (~130 deg).
    h, w = 20, 40
    a = np.zeros((h, w), np.float32)
    b = np.zeros((h, w), np.float32)
    blue_ab = 40 * np.array([np.cos(np.radians(250)), np.sin(np.radians(250))])
    green_ab = 40 * np.array([np.cos(np.radians(130)), np.sin(np.radians(130))])
    a[:, :20], b[:, :20] = blue_ab
    a[:, 20:], b[:, 20:] = green_ab
    truth = _lab_image(a, b)
    perfect = hue_hits(truth, truth)
    assert perfect["hue_hit"] > 0.99 and perfect["green_hit"] > 0.99 and perfect["blue_hit"] > 0.99
    gray = _lab_image(np.zeros_like(a), np.zeros_like(b))
    assert hue_hits(gray, truth) == {"hue_hit": 0.0, "green_hit": 0.0, "blue_hit": 0.0}
    # Right hue but chroma 5 (below 7) is a miss; hue 30 degrees off with chroma 10 is a hit.
    pa, pb = np.zeros_like(a), np.zeros_like(b)
    weak = 5 * np.array([np.cos(np.radians(250)), np.sin(np.radians(250))])
    near = 10 * np.array([np.cos(np.radians(160)), np.sin(np.radians(160))])
    pa[:, :20], pb[:, :20] = weak
    pa[:, 20:], pb[:, 20:] = near
    mixed = hue_hits(_lab_image(pa, pb), truth)
    assert mixed["blue_hit"] == 0.0 and mixed["green_hit"] > 0.99
    assert abs(mixed["hue_hit"] - 0.5) < 0.02
    # Sepia everywhere: 70 degrees hue, misses both.
    sepia = 20 * np.array([np.cos(np.radians(70)), np.sin(np.radians(70))])
    s = hue_hits(_lab_image(np.full_like(a, sepia[0]), np.full_like(b, sepia[1])), truth)
    assert s["green_hit"] == 0.0 and s["blue_hit"] == 0.0


def test_hue_hit_classes_under_one_percent_are_left_out():
    from piggydesk.training.metrics import hue_hits

    h, w = 50, 50  # 2,500 pixels: 1 % is 25
    a = np.zeros((h, w), np.float32)
    b = np.zeros((h, w), np.float32)
    blue_ab = 40 * np.array([np.cos(np.radians(250)), np.sin(np.radians(250))])
    a[:4, :5], b[:4, :5] = blue_ab  # 20 blue pixels: under 1 %
    truth = _lab_image(a, b)
    result = hue_hits(truth, truth)
    assert np.isnan(result["blue_hit"]) and np.isnan(result["green_hit"])
    assert np.isnan(result["hue_hit"])  # all saturated pixels together are under 1 % too
    a[:6, :5], b[:6, :5] = blue_ab  # 30 pixels: counted
    result = hue_hits(_lab_image(a, b), _lab_image(a, b))
    assert result["blue_hit"] > 0.99 and np.isnan(result["green_hit"])
