"""Variants of the instant engine: plausible alternative colourings of whole objects.

Variant 1 is the engine's most likely colorization; each further variant recolours a few whole
objects with another colour their predicted distribution holds (another coat, another car,
another sky), never a colour cloud over part of a region:

1. ``objects``: the photo is cut into object-like regions: SLIC superpixels (Achanta et al.
   2012) over the lightness, the most likely colours and the people's heads, then neighbours
   that look alike merged over a region-adjacency graph;
2. ``people_guard``: people keep their colours in every variant. Heads come from a frontal
   face detector (the LBP cascade that ships with scikit-image, on the lightness) widened to
   take in the hair; a skin-coloured or dark region mostly inside a head, or one whose
   distribution lies mostly on skin tones, or a dark, brownish region touching one of those
   (hair) is left alone (the wall or sky behind a head changes with the rest of it);
3. ``variant_ab``: a seeded generator picks, among the other regions, those where a clearly
   different colour has a good share of the probability of the most likely one, up to a third
   of the photo, and shifts each one's chroma to that colour (shading kept) over a mask
   feathered along the photo's edges (guided filter, He et al. 2010).

Same seed, same variants. A region holding a person's hint keeps the hint's colour.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

SEGMENTS = 32  # superpixels per photo (SLIC) before merging
MERGE = 0.12  # neighbouring superpixels closer than this in (L/100, ab/60, head) merge
MIN_AREA = 0.03  # smallest region a variant recolours (share of the photo)
MAX_AREA = 0.25  # most of the photo one variant recolours
SKIN = 0.6  # a region whose distribution has more than this on skin tones keeps its colour
NEAR = 15.0  # Lab units: a colour's probability is the mass of the bins this close to it
ALT_MASS = 0.2  # an alternative colour needs at least this probability ...
PLAUSIBLE = 0.8  # ... and at least this share of the probability of the current colour
MIN_SHIFT = 18.0  # Lab units a sampled region colour keeps away from the current one
GROW_COLOUR = 12.0  # Lab units: neighbours coloured this alike change with a chosen region
HEAD_SHARE = 0.35  # a region with more than this share inside a head keeps its colour ...
HEAD_SKIN = 0.15  # ... when this much of its distribution is on skin tones, or it is dark
HAIR_LIGHTNESS = 40.0  # hair: a region touching a head or skin, darker than this (L*) ...
HAIR_SKIN = 0.25  # ... and with at least this much of its distribution on warm browns
_HEAD_FEATURE = 0.5  # weight of the head mask among the segmentation features
_FACE_MIN = 24  # the cascade's window, pixels


def skin_bins(centres: np.ndarray) -> np.ndarray:
    """Bins of skin tones and their neighbours (reds to yellows, moderate chroma)."""
    hue = np.degrees(np.arctan2(centres[:, 1], centres[:, 0])) % 360.0
    chroma = np.hypot(centres[:, 0], centres[:, 1])
    return ((hue <= 90.0) | (hue >= 350.0)) & (chroma >= 5.0) & (chroma <= 50.0)


@lru_cache(maxsize=1)
def _face_cascade():
    from skimage.data import lbp_frontal_face_cascade_filename
    from skimage.feature import Cascade

    return Cascade(lbp_frontal_face_cascade_filename())


def head_mask(lightness: np.ndarray) -> np.ndarray:
    """Where people's heads are (bool, the size of ``lightness``, L* 0-100).

    Each frontal face the cascade finds becomes an ellipse around the face and the hair:
    1.6 face widths wide and 2.2 face heights tall, reaching 0.9 face heights above the face.
    Faces smaller than 1/10 of the photo's short side are not looked for (their regions are
    small anyway); tight face crops, which the cascade misses, are covered by the skin rule.
    """
    h, w = lightness.shape
    smallest = max(_FACE_MIN, min(h, w) // 10)
    faces = _face_cascade().detect_multi_scale(
        np.ascontiguousarray(lightness / 100.0, dtype=np.float64), scale_factor=1.25,
        step_ratio=1.5, min_size=(smallest, smallest), max_size=(h, w), min_neighbor_number=3,
    )
    mask = np.zeros((h, w), np.uint8)
    for face in faces:
        fy, fx, fh, fw = face["r"], face["c"], face["height"], face["width"]
        centre = (int(round(fx + fw / 2)), int(round(fy + fh / 2 - 0.3 * fh)))
        axes = (int(round(0.8 * fw)), int(round(1.1 * fh)))
        cv2.ellipse(mask, centre, axes, 0.0, 0.0, 360.0, 1, thickness=-1)
    return mask.astype(bool)


def objects(lightness: np.ndarray, ab: np.ndarray, heads: np.ndarray) -> np.ndarray:
    """Object-like regions (int labels) of a photo given at one size: its lightness ``(h, w)``,
    most likely colours ``(2, h, w)`` and head mask ``(h, w)``; regions follow the photo's
    edges, the boundaries between things the network colours differently, and the heads."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from skimage.segmentation import slic

    features = np.dstack(
        [lightness / 100.0, ab.transpose(1, 2, 0) / 60.0, heads * _HEAD_FEATURE]
    ).astype(np.float64)
    labels = slic(features, n_segments=SEGMENTS, compactness=0.1, channel_axis=-1,
                  start_label=0, enforce_connectivity=True, convert2lab=False)
    # Merge neighbouring superpixels that look alike (a floor, a wall, a sky in one piece):
    # the connected parts of the region-adjacency graph once the edges between superpixels
    # whose mean features differ by more than MERGE are cut.
    count = int(labels.max()) + 1
    sums = np.zeros((count, features.shape[-1]))
    np.add.at(sums, labels.ravel(), features.reshape(-1, features.shape[-1]))
    means = sums / np.maximum(np.bincount(labels.ravel(), minlength=count), 1)[:, None]
    pairs = np.array(sorted(_neighbours(labels)), dtype=np.int64).reshape(-1, 2)
    close = np.linalg.norm(means[pairs[:, 0]] - means[pairs[:, 1]], axis=1) < MERGE
    graph = coo_matrix((np.ones(int(close.sum())), (pairs[close, 0], pairs[close, 1])),
                       shape=(count, count))
    _, merged = connected_components(graph, directed=False)
    return merged[labels]


def _neighbours(segments: np.ndarray) -> set[tuple[int, int]]:
    pairs = set()
    for a, b in ((segments[:, :-1], segments[:, 1:]), (segments[:-1], segments[1:])):
        edge = a != b
        pairs.update(zip(a[edge].tolist(), b[edge].tolist()))
    return pairs | {(b, a) for a, b in pairs}


def people_guard(
    segments: np.ndarray,
    lightness: np.ndarray,
    heads: np.ndarray,
    skin_share: dict[int, float],
) -> set[int]:
    """Labels of the regions that keep their colour: heads, skin, and the hair beside them.

    ``skin_share`` maps a label to the share of its predicted distribution on skin tones. The
    head ellipses also take in some of what is behind a head; a region inside one that is
    neither skin-coloured nor dark (a blue wall, a sky) is background and stays free, so it
    changes with the rest of the background instead of leaving a halo around the head.
    """
    keep = set()
    for label, share in skin_share.items():
        region = segments == label
        in_head = heads[region].mean() > HEAD_SHARE
        person_like = share >= HEAD_SKIN or lightness[region].mean() < HAIR_LIGHTNESS
        if share > SKIN or (in_head and person_like):
            keep.add(label)
    for a, b in _neighbours(segments):
        if a in keep and b not in keep and b in skin_share:
            region = segments == b
            if lightness[region].mean() < HAIR_LIGHTNESS and skin_share[b] >= HAIR_SKIN:
                keep.add(b)  # dark hair (or a dark brown hat) next to a face
    return keep


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Edge-preserving smoothing of ``src`` along the edges of ``guide`` (He et al. 2010)."""
    size = (2 * radius + 1, 2 * radius + 1)

    def box(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, -1, size, borderType=cv2.BORDER_REFLECT)

    mean_i, mean_p = box(guide), box(src)
    var_i = box(guide * guide) - mean_i * mean_i
    a = (box(guide * src) - mean_i * mean_p) / (var_i + eps)
    b = mean_p - a * mean_i
    return box(a) * guide + box(b)


@dataclass
class VariantPlan:
    """What every variant of one colorization shares: its regions and their candidates."""

    lightness: np.ndarray  # (h, w) L* at the network's size
    ab: np.ndarray  # (2, h, w) variant 1's chroma
    centres: np.ndarray  # (Q, 2) the bins' colours
    segments: np.ndarray  # region labels at half size
    stats: dict  # label -> (region mask, share of the photo, colour probabilities)
    currents: dict  # label -> the region's mean chroma in variant 1
    free: set  # labels a variant may recolour
    candidates: list  # (label, area, alternative colours, plausibility)
    neighbours: dict = field(default_factory=dict)
    masks: dict = field(default_factory=dict)  # label -> feathered mask at the net's size

    def mask(self, label: int) -> np.ndarray:
        if label not in self.masks:
            hn, wn = self.lightness.shape
            mask = cv2.resize((self.segments == label).astype(np.float32), (wn, hn),
                              interpolation=cv2.INTER_NEAREST)
            guide = self.lightness.astype(np.float32) / 100.0
            self.masks[label] = np.clip(guided_filter(guide, mask, 4, 1e-3), 0.0, 1.0)
        return self.masks[label]


def plan_variants(
    lightness: np.ndarray,
    ab: np.ndarray,
    probs: np.ndarray,
    centres: np.ndarray,
    blocked: np.ndarray,
    influenced: np.ndarray | None = None,
    heads: np.ndarray | None = None,
) -> VariantPlan:
    """Regions and candidates for the variants of ``ab`` (the most likely chroma, Lab units).

    ``lightness`` ``(h, w)`` L*; ``probs`` ``(Q, h4, w4)`` the predicted bin probabilities and
    ``centres`` ``(Q, 2)`` the bins' colours; ``blocked`` ``(h, w)`` bool where the person's
    hints are (a region holding one keeps the colour the person gave it) and ``influenced``
    where the hints changed the colours (a region more than a fifth influenced keeps them too);
    ``heads`` ``(h, w)`` the people's heads if already known (else ``head_mask``).
    A region is a candidate when a colour at least ``MIN_SHIFT`` away from its current one has at least
    ``ALT_MASS`` of the probability and ``PLAUSIBLE`` of its current colour's.
    """
    hn, wn = lightness.shape
    size = (max(wn // 2, 1), max(hn // 2, 1))  # regions at half size: the net's detail is coarse
    L_small = cv2.resize(lightness, size, interpolation=cv2.INTER_AREA)
    ab_small = cv2.resize(ab.transpose(1, 2, 0), size, interpolation=cv2.INTER_AREA)
    heads = head_mask(lightness) if heads is None else heads
    heads = cv2.resize(heads.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    segments = objects(L_small, ab_small.transpose(2, 0, 1), heads)
    hs, ws = segments.shape
    q, h4, w4 = probs.shape
    flat = probs.reshape(q, -1)
    skin = skin_bins(centres)
    nearby = (np.linalg.norm(centres[:, None] - centres[None], axis=-1) <= NEAR).astype(np.float64)
    blocked_small = cv2.resize(blocked.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0
    influenced_small = np.zeros_like(blocked_small)
    if influenced is not None:
        influenced_small = cv2.resize(influenced.astype(np.float32), size,
                                      interpolation=cv2.INTER_AREA) > 0.5
    total = float(hs * ws)
    stats, skin_share = {}, {}
    for label in np.unique(segments).tolist():
        region = segments == label
        cover = cv2.resize(region.astype(np.float32), (w4, h4), interpolation=cv2.INTER_AREA)
        if cover.sum() <= 0:
            continue
        mean = flat @ (cover.ravel() / cover.sum())
        # Probability mass within NEAR Lab units of each bin: a colour counts as plausible
        # when the network puts a real mode there, not when its distribution is merely broad.
        stats[label] = (region, float(region.sum()) / total, nearby @ mean)
        skin_share[label] = float(mean[skin].sum())
    guarded = people_guard(segments, L_small, heads, skin_share)
    currents = {label: ab_small[region].mean(axis=0) for label, (region, _, _) in stats.items()}
    free = {label for label, (region, area, p) in stats.items()
            if label not in guarded and not blocked_small[region].any()
            and influenced_small[region].mean() <= 0.2}
    candidates = []
    for label in sorted(free):
        region, area, p = stats[label]
        if area < MIN_AREA:
            continue
        distance = np.sqrt(((centres - currents[label]) ** 2).sum(-1))
        own = float(p[int(np.argmin(distance))])
        alt = np.where(distance >= MIN_SHIFT, p, 0.0)
        best = float(alt.max())
        if best < ALT_MASS or best < PLAUSIBLE * own:
            continue
        alt = np.where(alt >= 0.75 * best, alt, 0.0)  # the alternative mode(s) only
        candidates.append((label, area, alt, best / max(own, 1e-6)))
    neighbours: dict[int, set[int]] = {}
    for a, b in _neighbours(segments):
        neighbours.setdefault(a, set()).add(b)
    return VariantPlan(lightness, ab, centres, segments, stats, currents, free, candidates,
                       neighbours)


def variant_ab(plan: VariantPlan, rng: np.random.Generator) -> np.ndarray:
    """One alternative colouring ``(2, h, w)``: candidates drawn by area times plausibility,
    each with one of its alternative colours, grown over the rest of its object, up to
    ``MAX_AREA`` of the photo."""
    out = plan.ab.copy()
    candidates = plan.candidates
    if not candidates:
        return out
    q = len(plan.centres)
    weights = np.array([c[1] * c[3] for c in candidates])
    order = rng.choice(len(candidates), size=len(candidates), replace=False,
                       p=weights / weights.sum())
    used, taken = 0.0, set()
    for i in order:
        label, area, alt, _ = candidates[int(i)]
        if label in taken:
            continue
        sharp = alt ** 4.0
        choice = int(rng.choice(q, p=sharp / sharp.sum()))
        group = _grow(label, choice, plan.neighbours, plan.free - taken, plan.stats,
                      plan.currents)
        group_area = sum(plan.stats[g][1] for g in group)
        if used + group_area > MAX_AREA and used > 0:
            continue
        for member in group:  # each part of the object takes the new colour, shading kept
            shift = (plan.centres[choice] - plan.currents[member]).astype(np.float32)
            out += plan.mask(member)[None] * shift[:, None, None]
        taken |= group
        used += group_area
        if used >= MAX_AREA:
            break
    return out


def _grow(
    seed: int,
    choice: int,
    neighbours: dict[int, set[int]],
    free: set[int],
    stats: dict,
    currents: dict[int, np.ndarray],
) -> set[int]:
    """The regions that make one object with ``seed``: neighbours (and theirs) coloured about
    the same (within ``GROW_COLOUR``) for which the new colour bin ``choice`` is plausible
    too, so a floor, a wall or a coat cut into several regions changes as one piece."""
    group, todo = {seed}, [seed]
    while todo:
        for other in neighbours.get(todo.pop(), ()):
            if other in group or other not in free:
                continue
            p = stats[other][2]
            close = np.linalg.norm(currents[other] - currents[seed]) < GROW_COLOUR
            if close and p[choice] >= ALT_MASS:
                group.add(other)
                todo.append(other)
    return group
