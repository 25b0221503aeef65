"""Colorization quality metrics: PSNR, SSIM, colourfulness and the AuC of the ab-error CDF.

* PSNR and SSIM on sRGB in [0, 1] (SSIM: Wang et al. 2004, Gaussian window, per channel,
  as in scikit-image's ``structural_similarity``).
* Colourfulness, Hasler and Suesstrunk 2003, Eq. (3) on 8-bit sRGB:
  ``rg = R - G``, ``yb = (R + G) / 2 - B``,
  ``M = sqrt(std(rg)^2 + std(yb)^2) + 0.3 * sqrt(mean(rg)^2 + mean(yb)^2)``.
* AuC (Zhang et al. 2016, Sec. 3.1): the share of pixels whose ab error (Euclidean, Lab
  units) is within a threshold, as a function of the threshold from 0 to 150, and the area
  under that curve normalised to [0, 1].
* Hue hit rates (issue 19): among truth pixels with chroma (sqrt(a^2 + b^2)) above 15, the
  share whose prediction has chroma above 7 and a hue (atan2(b, a) in the ab plane) within 40
  degrees of the truth's: overall (``hue_hit``), for truth-green pixels (hue 95-175 degrees:
  foliage, grass; ``green_hit``) and for truth-blue pixels (hue 200-290 degrees: sky, water;
  ``blue_hit``). A class that covers under 1 % of a photo's pixels is left out for that photo
  (its rate is NaN there, and means over photos skip it).
"""

from __future__ import annotations

import logging

import numpy as np
from skimage.metrics import structural_similarity

from piggydesk.core.color import rgb_to_lab

logger = logging.getLogger(__name__)

AUC_MAX = 150
HUE_TRUTH_CHROMA = 15.0
HUE_PRED_CHROMA = 7.0
HUE_TOLERANCE_DEG = 40.0
HUE_MIN_SHARE = 0.01
HUE_CLASSES = {"hue_hit": None, "green_hit": (95.0, 175.0), "blue_hit": (200.0, 290.0)}


def psnr(result: np.ndarray, truth: np.ndarray, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio (dB) of two images of the same shape."""
    diff = np.asarray(result, np.float64) - np.asarray(truth, np.float64)
    mse = float(np.mean(diff * diff))
    if mse <= 1e-12:
        return 100.0
    return float(10.0 * np.log10(data_range * data_range / mse))


def ssim(result: np.ndarray, truth: np.ndarray) -> float:
    """Structural similarity of two sRGB images ``(H, W, 3)`` in [0, 1]."""
    return float(
        structural_similarity(
            np.asarray(result, np.float32),
            np.asarray(truth, np.float32),
            channel_axis=-1,
            data_range=1.0,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
    )


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler-Suesstrunk colourfulness of an sRGB image in [0, 1] (0 for gray, ~45 photos)."""
    x = np.asarray(rgb, np.float64).reshape(-1, 3) * 255.0
    rg = x[:, 0] - x[:, 1]
    yb = 0.5 * (x[:, 0] + x[:, 1]) - x[:, 2]
    return float(
        np.sqrt(rg.std() ** 2 + yb.std() ** 2) + 0.3 * np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)
    )


def ab_error_cdf(result: np.ndarray, truth: np.ndarray, max_threshold: int = AUC_MAX) -> np.ndarray:
    """Share of pixels with ab error <= t for t = 0, 1, ..., ``max_threshold``."""
    ab_r = rgb_to_lab(np.asarray(result, np.float32))[..., 1:]
    ab_t = rgb_to_lab(np.asarray(truth, np.float32))[..., 1:]
    err = np.sqrt(((ab_r - ab_t) ** 2).sum(-1)).ravel()
    thresholds = np.arange(0, max_threshold + 1)
    sorted_err = np.sort(err)
    return np.searchsorted(sorted_err, thresholds, side="right") / max(err.size, 1)


def auc(result: np.ndarray, truth: np.ndarray, max_threshold: int = AUC_MAX) -> float:
    """Area under the ab-error CDF over thresholds 0..max_threshold, in [0, 1]."""
    return float(np.mean(ab_error_cdf(result, truth, max_threshold)))


def hue_hits(result: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Hue hit rates overall, on truth-green and on truth-blue pixels (NaN: class under 1 %)."""
    ab_r = rgb_to_lab(np.asarray(result, np.float32))[..., 1:].reshape(-1, 2).astype(np.float64)
    ab_t = rgb_to_lab(np.asarray(truth, np.float32))[..., 1:].reshape(-1, 2).astype(np.float64)
    chroma_t = np.hypot(ab_t[:, 0], ab_t[:, 1])
    chroma_r = np.hypot(ab_r[:, 0], ab_r[:, 1])
    hue_t = np.degrees(np.arctan2(ab_t[:, 1], ab_t[:, 0])) % 360.0
    hue_r = np.degrees(np.arctan2(ab_r[:, 1], ab_r[:, 0])) % 360.0
    diff = np.abs(hue_r - hue_t)
    diff = np.minimum(diff, 360.0 - diff)
    hit = (chroma_r > HUE_PRED_CHROMA) & (diff <= HUE_TOLERANCE_DEG)
    saturated = chroma_t > HUE_TRUTH_CHROMA
    out = {}
    for name, band in HUE_CLASSES.items():
        member = saturated if band is None else saturated & (hue_t >= band[0]) & (hue_t <= band[1])
        count = int(member.sum())
        if count < HUE_MIN_SHARE * len(member) or count == 0:
            out[name] = float("nan")
        else:
            out[name] = float(hit[member].mean())
    return out


def all_metrics(result: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    return {
        "psnr": psnr(result, truth),
        "ssim": ssim(result, truth),
        "colourfulness": colourfulness(result),
        "auc": auc(result, truth),
        **hue_hits(result, truth),
    }
