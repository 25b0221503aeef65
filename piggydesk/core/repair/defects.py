"""Automatic defect-mask proposal: dust specks, hairline scratches and torn corners on L*.

A proposal, not a verdict: the person sees it as an overlay and adds to it or erases from it
with a brush. Everything works at the scan's own pixel scale (the defects of a scan are a few
pixels wide whatever its size):

1. **Candidates**: the morphological white top-hat ``L - open(L)`` and black-hat
   ``close(L) - L`` with a disc a little wider than the widest defect (``max_width``) keep the
   structures narrower than the disc (Serra, *Image Analysis and Mathematical Morphology*,
   1982; the classic film-dust detector). The response is the smaller of that and the
   residual from a median filter of the same size, which keeps an edge or a corner of the
   photo from passing as a scratch. It is compared with the photo's own texture around each
   pixel (the local standard deviation of the median-filtered photo, and the local mean
   response) and with the grain of the whole scan; hysteresis (Canny's two thresholds) joins
   the faint parts of a scratch to its strong parts. The thresholds here are permissive: the
   candidates hold most defects and many of the photo's own thin structures.
2. **Which candidates are defects**: each connected candidate is described by
   ``FEATURES`` (its size and shape, its contrast against the texture around it, whether it is
   all bright or all dark, and how it lies in the structure tensor of the median-filtered
   photo: a rim along an object's edge runs with the photo's edges, a scratch crosses them)
   and scored by a quadratic logistic model, ``defect_weights.py``, fitted by
   ``benchmarks/fit_defect_classifier.py`` on seeded synthetic damage (``synthetic.py``) drawn
   on real photos. Sure candidates (scored above ``_FRINGE_SCORE``) grow by one pixel into
   neighbours brighter (or darker) than their surroundings in the same sense: the anti-aliased
   fringe of a scratch.
3. **Torn corners and missing paper**: a region grown from a corner of the scan that is flat
   (almost no texture), paper-bright or scanner-lid dark, not too big, not a band along one
   edge, with a step in tone at its edge and beyond the thin lines that may cross it.

Memory: a few ``uint8`` images the size of the scan, texture fields at half size, and per
candidate pixel a few numbers (candidates are a few percent of the pixels).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import cv2
import numpy as np

from piggydesk.core.repair import defect_weights

logger = logging.getLogger(__name__)

# candidate thresholds (permissive; the classifier decides)
_BASE = 3.0  # L*: the smallest contrast a defect can have on a clean, flat region
_NOISE = 4.0  # times the scan's median response (its grain)
_FLAT_TEXTURE = 0.5  # times the local standard deviation of the median-filtered photo
_BUSY_TEXTURE = 2.5  # times the local mean response (fine texture: hair, grass, fabric)
_CANDIDATE = 1.6  # the candidates' base threshold is the tuned one divided by this
_LOW = 0.5  # hysteresis: a pixel joins a seeded defect above this fraction of the threshold
_TEXTURE_WINDOW = 3  # times max_width: the window of the local standard deviation
_BUSY_WINDOW = 15
_FIELD_STEP = 2  # the texture fields are smooth: computed at half size
_THRESHOLD = -1.6  # the classifier's score above which a candidate is a defect (sensitivity 1)
_SENSITIVITY_SLOPE = 2.0  # the threshold moves by this times ln(sensitivity)
_FRINGE = 2.0  # L*: the contrast a neighbour needs to join a kept defect as its fringe
_FRINGE_SCORE = 0.0  # only candidates scored above this (surer than the threshold) grow a fringe

FEATURES = (
    "log_area",  # pixels
    "log_diagonal",  # of the bounding box
    "thickness",  # area / diagonal
    "contrast",  # mean response, tens of L*
    "log_score_mean",  # response / tuned threshold (texture and grain), mean over the pixels
    "log_score_max",
    "log_texture",  # std of the median-filtered photo around it (L*)
    "log_busy",  # mean response around it (L*)
    "purity",  # |mean sign|: all bright or all dark
    "strong_share",  # share of pixels above the tuned threshold
    "log_elongation",  # ratio of the principal second moments
    "edge_crossing",  # log(gradient energy across / along the candidate's direction)
    "log_gradient",  # gradient energy of the photo there, relative to the contrast squared
    "tuned_keep",  # the tuned detector alone would keep it (a seed or a long thin line)
    "response_spread",  # std / mean of the response over its pixels (a scratch is even)
    "tone_spread",  # std of L* over its pixels / contrast (an opaque scratch has one tone)
    "log_grain",  # the scan's median response (L*): its grain, and how sharp it is
    "log_candidate_share",  # share of the scan's pixels that are candidates: how busy it is
)


@dataclass(frozen=True)
class DefectOptions:
    """Tuning of ``propose_defect_mask`` (defaults tuned on ``benchmarks/eval_repair.py``).

    ``sensitivity`` > 0 (the app and the command line take 0.1-3): 1 is the tuned default;
    higher keeps candidates the classifier is less sure of (fainter defects, and more false
    alarms): the threshold on its score moves by ``_SENSITIVITY_SLOPE * ln(sensitivity)``.
    ``max_width`` is the widest scratch or speck (pixels) to look for.
    """

    sensitivity: float = 1.0
    max_width: int = 4
    min_line_length: int = 30
    torn_corners: bool = True


def propose_defect_mask(lightness: np.ndarray, options: DefectOptions | None = None) -> np.ndarray:
    """A ``bool`` mask ``(H, W)`` of the likely dust, scratches and torn corners of ``lightness``."""
    options = options or DefectOptions()
    L = np.ascontiguousarray(lightness, dtype=np.float32)
    mask = _thin_defects(L, options)
    if options.torn_corners:
        mask |= torn_corner_mask(L)
    return mask


def _thin_defects(L: np.ndarray, options: DefectOptions) -> np.ndarray:
    candidates = find_candidates(L, options)
    if candidates.count <= 1:
        return np.zeros(L.shape, bool)
    threshold = _THRESHOLD - _SENSITIVITY_SLOPE * math.log(max(float(options.sensitivity), 1e-3))
    score = score_candidates(candidates.features)
    score[0] = -np.inf
    sure = (score > max(threshold, _FRINGE_SCORE))[candidates.labels]
    mask = _grow_fringe(sure, candidates.bright, candidates.dark)
    del sure
    mask |= (score > threshold)[candidates.labels]
    return mask


@dataclass
class Candidates:
    """Connected candidate components (label 0 is the background) and their features."""

    labels: np.ndarray  # int32 (H, W)
    count: int
    features: np.ndarray  # float64 (count, len(FEATURES)); row 0 is the background
    bright: np.ndarray  # uint8 (H, W): the bright response (8-bit units, 2.55 per L*)
    dark: np.ndarray  # uint8 (H, W): the dark response
    angle: np.ndarray  # float64 (count,): each candidate's direction (radians, x towards y)


def find_candidates(L: np.ndarray, options: DefectOptions | None = None) -> Candidates:
    """The permissive candidates of ``L`` (float32 L*) and one row of ``FEATURES`` for each."""
    options = options or DefectOptions()
    width = max(int(options.max_width), 1)
    k = 2 * width + 1
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    # detection works on 8-bit L* (steps of 0.4 L*): OpenCV's fastest morphology and median
    L8 = _to_u8(L)
    med8 = cv2.medianBlur(L8, _odd(k))
    bright = cv2.morphologyEx(L8, cv2.MORPH_TOPHAT, disc)
    cv2.min(bright, cv2.subtract(L8, med8), dst=bright)  # saturating: 0 where darker
    dark = cv2.morphologyEx(L8, cv2.MORPH_BLACKHAT, disc)
    cv2.min(dark, cv2.subtract(med8, L8), dst=dark)
    del L8
    response = cv2.max(bright, dark)  # 8-bit units (2.55 per L*)
    step = max(1, L.shape[0] // 512), max(1, L.shape[1] // 512)
    noise = float(np.median(response[:: step[0], :: step[1]])) / 2.55
    tuned_base = (_BASE + _NOISE * max(noise, 0.25)) * 2.55
    base = tuned_base / _CANDIDATE
    # only pixels above the lowest threshold a pixel can have are candidates (a few percent)
    ys, xs = np.nonzero(response > _LOW * base)
    values = response[ys, xs].astype(np.float32)
    # the texture terms are smooth fields: computed at half size, read at the candidates at
    # once (one field alive at a time)
    f = _FIELD_STEP
    h2, w2 = (L.shape[0] + f - 1) // f, (L.shape[1] + f - 1) // f
    fy, fx = ys // f, xs // f
    med = cv2.resize(med8, (w2, h2), interpolation=cv2.INTER_AREA).astype(np.float32)
    del med8
    tensor = [field[fy, fx] for field in _structure_tensor(med / 2.55, 1.5 / f, 3.0 / f)]
    window = _odd(_TEXTURE_WINDOW * width // f)
    mean = cv2.blur(med, (window, window))
    texture = cv2.blur(med * med, (window, window))
    texture -= mean * mean
    np.sqrt(np.maximum(texture, 0, out=texture), out=texture)
    del mean, med
    t = texture[fy, fx]
    del texture
    small = cv2.resize(response, (w2, h2), interpolation=cv2.INTER_AREA).astype(np.float32)
    del response
    busy_window = _odd(_BUSY_WINDOW // f)
    b = cv2.blur(small, (busy_window, busy_window))[fy, fx]
    del small
    texture_terms = _FLAT_TEXTURE * t + _BUSY_TEXTURE * b
    tuned_high = tuned_base + texture_terms
    is_weak = values > _LOW * (base + texture_terms)
    weak = np.zeros(L.shape, np.uint8)
    weak[ys[is_weak], xs[is_weak]] = 1
    count, labels, stats, _ = cv2.connectedComponentsWithStats(weak, connectivity=8)
    del weak
    ys, xs = ys[is_weak], xs[is_weak]
    jxx, jxy, jyy = (component[is_weak] for component in tensor)
    del tensor
    tone = L[ys, xs].astype(np.float64)
    values, t, b, tuned_high = values[is_weak], t[is_weak], b[is_weak], tuned_high[is_weak]
    label = labels[ys, xs]
    pixels = np.maximum(np.bincount(label, minlength=count), 1).astype(np.float64)

    def mean_of(v: np.ndarray) -> np.ndarray:
        return np.bincount(label, v, minlength=count) / pixels

    score = values / tuned_high
    score_max = np.zeros(count)
    np.maximum.at(score_max, label, score)
    strong = score > 1.0
    area = stats[:, cv2.CC_STAT_AREA].astype(np.float64)
    diagonal = np.hypot(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT])
    thickness = area / np.maximum(diagonal, 1)
    lines = (diagonal >= options.min_line_length) & (thickness <= width * 0.75)
    tuned_keep = (np.bincount(label, strong, minlength=count) > 0) | lines
    sign = np.where(bright[ys, xs] > dark[ys, xs], 1.0, -1.0)
    # the candidate's direction, from the second moments of its pixels
    cx, cy = mean_of(xs.astype(np.float64)), mean_of(ys.astype(np.float64))
    dx, dy = xs - cx[label], ys - cy[label]
    cxx, cyy, cxy = mean_of(dx * dx) + 1 / 12, mean_of(dy * dy) + 1 / 12, mean_of(dx * dy)
    half_trace = (cxx + cyy) / 2
    spread = np.sqrt(np.maximum(half_trace**2 - (cxx * cyy - cxy**2), 0))
    elongation = (half_trace + spread) / np.maximum(half_trace - spread, 1e-3)
    angle = 0.5 * np.arctan2(2 * cxy, cxx - cyy)
    # the photo's own edges there (structure tensor of the median-filtered photo)
    txx, txy, tyy = mean_of(jxx), mean_of(jxy), mean_of(jyy)
    c, s = np.cos(angle), np.sin(angle)
    along = c * c * txx + 2 * c * s * txy + s * s * tyy
    across = s * s * txx - 2 * c * s * txy + c * c * tyy
    contrast = mean_of(values / 2.55)
    response_spread = np.sqrt(np.maximum(mean_of((values / 2.55) ** 2) - contrast**2, 0))
    tone_mean = mean_of(tone)
    tone_spread = np.sqrt(np.maximum(mean_of(tone**2) - tone_mean**2, 0))
    features = np.stack(
        [
            np.log(area),
            np.log(diagonal + 1),
            thickness,
            contrast / 10,
            np.log(mean_of(score) + 1e-3),
            np.log(score_max + 1e-3),
            np.log(mean_of(t) / 2.55 + 1),
            np.log(mean_of(b) / 2.55 + 0.1),
            np.abs(mean_of(sign)),
            mean_of(strong),
            np.log(elongation),
            np.log((across + 0.01) / (along + 0.01)),
            np.log((txx + tyy) / (contrast**2 + 1) + 1e-4),
            tuned_keep.astype(np.float64),
            response_spread / np.maximum(contrast, 0.1),
            np.log(tone_spread / np.maximum(contrast, 0.1) + 0.05),
            np.full(count, np.log(noise + 0.1)),
            np.full(count, np.log(len(ys) / L.size + 1e-4)),
        ],
        axis=1,
    )
    return Candidates(labels, count, features, bright, dark, angle)


def score_candidates(features: np.ndarray) -> np.ndarray:
    """The classifier's score (log-odds of 'a defect') for each row of ``FEATURES``."""
    w = defect_weights
    z = np.clip((features - np.asarray(w.MEAN)) / np.asarray(w.SCALE), -5.0, 5.0)
    return (
        w.BIAS + z @ np.asarray(w.LINEAR) + np.einsum("ni,ij,nj->n", z, np.asarray(w.QUADRATIC), z)
    )


def _grow_fringe(mask: np.ndarray, bright: np.ndarray, dark: np.ndarray) -> np.ndarray:
    """``mask`` and its neighbours that stand out in the same sense (bright or dark) by ``_FRINGE``."""
    kernel = np.ones((3, 3), np.uint8)
    level = int(round(_FRINGE * 2.55))
    out = mask.copy()
    # (a pixel is bright or dark, never both: the responses exclude each other)
    for response, seed_side in ((bright, bright > dark), (dark, dark >= bright)):
        seed_side &= mask
        near = cv2.dilate(seed_side.view(np.uint8), kernel).view(bool)
        del seed_side
        near &= response > level
        out |= near
    return out


def _structure_tensor(image: np.ndarray, inner: float, outer: float):
    """``Jxx``, ``Jxy``, ``Jyy`` in turn: smoothed products of the gradient of ``image`` smoothed
    by ``inner`` (a generator, so that one field at a time needs memory)."""
    g = cv2.GaussianBlur(image, (0, 0), max(inner, 0.5))
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3, scale=1 / 8)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3, scale=1 / 8)
    del g
    for a, b in ((gx, gx), (gx, gy), (gy, gy)):
        yield cv2.GaussianBlur(a * b, (0, 0), max(outer, 0.5))


def torn_corner_mask(L: np.ndarray) -> np.ndarray:
    """Flat paper-white (or scanner-black) regions grown from the corners of the scan."""
    h, w = L.shape
    out = np.zeros((h, w), bool)
    step = max(1, int(np.ceil(max(h, w) / 1024)))
    small = np.ascontiguousarray(L[::step, ::step])
    sh, sw = small.shape
    local_dev = np.abs(small - cv2.medianBlur(_to_u8(small), 5).astype(np.float32) / 2.55)
    for cy, cx in ((0, 0), (0, sw - 1), (sh - 1, 0), (sh - 1, sw - 1)):
        value = float(np.median(small[max(cy - 2, 0) : cy + 3, max(cx - 2, 0) : cx + 3]))
        if 8.0 < value < 85.0:
            continue  # neither paper nor scanner lid
        blob = _grow_from_corner(small, local_dev, value, cy, cx)
        if blob is None:
            continue
        ys, xs = np.nonzero(blob)
        bh, bw = int(ys.max() - ys.min() + 1), int(xs.max() - xs.min() + 1)
        if max(bh / bw, bw / bh) > 3.0:
            continue  # a band along one edge (a roof, a frame), not a corner torn off
        b8 = blob.view(np.uint8)
        ring = cv2.dilate(b8, np.ones((5, 5), np.uint8)).view(bool) & ~blob
        if not ring.any() or abs(float(np.median(small[ring])) - value) < 8.0:
            continue  # no step at its edge: a bright sky or a dark coat, not a tear
        far = max(9, int(np.sqrt(blob.sum()) / 3) | 1)
        beyond = cv2.dilate(b8, np.ones((far, far), np.uint8)).view(bool)
        beyond &= ~cv2.dilate(b8, np.ones((7, 7), np.uint8)).view(bool)
        if not beyond.any() or abs(float(np.median(small[beyond])) - value) < 8.0:
            continue  # the same white beyond a thin line that bounds it: a background
        blob = cv2.dilate(b8, np.ones((3, 3), np.uint8)).astype(bool)
        full = cv2.resize(blob.view(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
        out |= full.astype(bool)
    return out


def _grow_from_corner(small, local_dev, value, cy, cx):
    """The flat region of tone ``value`` at the corner, with the loosest tolerance that keeps it
    small (a tear next to a bright photo region of nearly its tone needs a tight one)."""
    for tolerance in (4.0, 2.0, 1.0):
        region = (np.abs(small - value) < tolerance) & (local_dev < 3.0)
        _, labels = cv2.connectedComponents(region.view(np.uint8), connectivity=4)
        label = labels[cy, cx]
        if label == 0:
            return None
        blob = labels == label
        area = float(blob.mean())
        if area < 1e-4:
            return None
        if area < 0.03:
            return blob
    return None


def _odd(n: int) -> int:
    return max(3, n | 1)


def _to_u8(values: np.ndarray) -> np.ndarray:
    """L* (0-100) to 0-255, rounded and saturated (OpenCV: one fast pass)."""
    return cv2.convertScaleAbs(values, alpha=2.55)
