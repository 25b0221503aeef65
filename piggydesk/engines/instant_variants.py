"""Variants of the instant engine: plausible alternative colourings of whole objects.

Variant 1 is the engine's most likely colorization; each further variant recolours a few whole
objects with another colour their predicted distribution holds (another coat, another car,
another sky), never a colour cloud over part of a region:

1. ``objects``: the photo is cut into object-like regions: SLIC superpixels (Achanta et al.
   2012) over the lightness, the most likely colours and the people's heads, then neighbours
   merged over a region-adjacency graph when they look alike or when no lightness edge
   separates them (the boundary's mean lightness step, ``WEAK_EDGE``): a region ends where
   the photo shows an edge, so a variant never recolours half a lawn or half a carpet;
2. ``people_guard``: people keep their colours in every variant. Heads come from a frontal
   face detector (the LBP cascade that ships with scikit-image, on the lightness) widened to
   take in the hair; a skin-coloured or dark region mostly inside a head, or one whose
   distribution lies mostly on skin tones, or a dark, brownish region touching one of those
   (hair) is left alone (the wall or sky behind a head changes with the rest of it);
3. ``variant_ab``: a seeded generator picks, among the other regions, those where a clearly
   different colour has a good share of the probability of the most likely one (where no
   region has one, a weaker alternative), up to a quarter of the photo (one object up to
   half of it; the backdrop behind people, however large, alone and half-way), and gives
   each one that colour (``recoloured``: lightness and relative saturation kept) over a mask
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
MAX_AREA = 0.25  # most of the photo one variant recolours (more only for one object) ...
MAX_OBJECT = 0.5  # ... and never an object larger than this: that would be a colour cast,
BACKDROP_SHIFT = 0.5  # ... but for the backdrop behind people, moved this share of the way
TINT_CHROMA = 10.0  # Lab units: a region this colourful takes a new hue at its own saturation
SKIN = 0.6  # a region whose distribution has more than this on skin tones keeps its colour
NEAR = 15.0  # Lab units: a colour's probability is the mass of the bins this close to it
ALT_MASS = 0.2  # an alternative colour needs at least this probability ...
PLAUSIBLE = 0.8  # ... and at least this share of the probability of the current colour
LOOSE_MASS, LOOSE_PLAUSIBLE = 0.1, 0.35  # where no region has such an alternative: weaker ones
MIN_SHIFT = 18.0  # Lab units a sampled region colour keeps away from the current one
GROW_COLOUR = 12.0  # Lab units: neighbours coloured this alike change with a chosen region
WEAK_EDGE = 2.0  # L* per pixel (half the net's size, lightly smoothed): a boundary whose mean
# step is below this (and below TEXTURE x the steps inside its regions) runs through one
# object, not between two
TEXTURE = 2.5
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
    edges, the boundaries between things the network colours differently, and the heads.
    Two neighbouring superpixels are one object when their mean features differ by less than
    ``MERGE``; then regions no lightness edge separates merge too (``_merge_seamless``)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from skimage.segmentation import slic

    features = np.dstack(
        [lightness / 100.0, ab.transpose(1, 2, 0) / 60.0, heads * _HEAD_FEATURE]
    ).astype(np.float64)
    labels = slic(features, n_segments=SEGMENTS, compactness=0.1, channel_axis=-1,
                  start_label=0, enforce_connectivity=True, convert2lab=False)
    count = int(labels.max()) + 1
    sums = np.zeros((count, features.shape[-1]))
    np.add.at(sums, labels.ravel(), features.reshape(-1, features.shape[-1]))
    means = sums / np.maximum(np.bincount(labels.ravel(), minlength=count), 1)[:, None]
    pairs = np.array(sorted(_neighbours(labels)), dtype=np.int64).reshape(-1, 2)
    close = np.linalg.norm(means[pairs[:, 0]] - means[pairs[:, 1]], axis=1) < MERGE
    graph = coo_matrix((np.ones(int(close.sum())), (pairs[close, 0], pairs[close, 1])),
                       shape=(count, count))
    _, merged = connected_components(graph, directed=False)
    labels = merged[labels]
    return _merge_seamless(labels, lightness, heads)


def _merge_seamless(labels: np.ndarray, lightness: np.ndarray, heads: np.ndarray) -> np.ndarray:
    """Merge neighbouring regions no lightness edge separates, weakest boundary first.

    A boundary is weak when its mean L* step is under ``WEAK_EDGE`` and under ``TEXTURE``
    times the steps inside the smoother of the two regions (a boundary through wood grain or
    a carpet is as busy as the texture itself). Each merge adds the two regions' boundaries
    with their other neighbours together, so one soft stretch of a horizon does not join a
    sky to the sea whose boundary is an edge elsewhere. Regions reaching into a head are left
    out: hair meets the wall behind it without much of an edge.
    """
    import heapq

    count = int(labels.max()) + 1
    inner, boundary = _step_sums(labels, lightness)
    near_head = np.bincount(labels.ravel(), weights=heads.ravel().astype(np.float64),
                            minlength=count) > 0.1 * np.bincount(labels.ravel(), minlength=count)
    parent = list(range(count))

    def weakness(pair: tuple[int, int]) -> float:
        """The boundary's mean step over its threshold (merge while under 1)."""
        total, number = boundary[pair]
        texture = min(inner[i, 0] / max(inner[i, 1], 1.0) for i in pair)
        return (total / number) / max(WEAK_EDGE, TEXTURE * texture)

    heap = [(weakness(pair), pair) for pair in boundary
            if not (near_head[pair[0]] or near_head[pair[1]])]
    heapq.heapify(heap)
    while heap:
        value, (a, b) = heapq.heappop(heap)
        if value >= 1.0:
            break
        if parent[a] != a or parent[b] != b or (a, b) not in boundary \
                or value != weakness((a, b)):
            continue  # a region merged away since, or a stale entry
        parent[b] = a  # b joins a: its boundaries and texture become a's
        inner[a] += inner[b]
        del boundary[(a, b)]
        for pair in [p for p in boundary if b in p]:
            other = pair[0] if pair[1] == b else pair[1]
            total, number = boundary.pop(pair)
            key = (min(a, other), max(a, other))
            boundary.setdefault(key, [0.0, 0.0])
            boundary[key][0] += total
            boundary[key][1] += number
        for pair in [p for p in boundary if a in p]:
            if not (near_head[pair[0]] or near_head[pair[1]]):
                heapq.heappush(heap, (weakness(pair), pair))
    roots = np.array([_root(parent, i) for i in range(count)])
    return np.unique(roots[labels], return_inverse=True)[1].reshape(labels.shape)


def _root(parent: list[int], i: int) -> int:
    while parent[i] != i:
        i = parent[i]
    return i


def _step_sums(
    labels: np.ndarray, lightness: np.ndarray
) -> tuple[np.ndarray, dict[tuple[int, int], list[float]]]:
    """The L* steps between 4-neighbouring pixels of the lightly smoothed lightness (grain
    counts less than the edge between two things), summed: inside each region (``(count, 2)``:
    sum, number) and across each boundary (``{(a, b), a < b: [sum, number]}``)."""
    smooth = cv2.GaussianBlur(lightness.astype(np.float32), (0, 0), 1.0)
    count = int(labels.max()) + 1
    inner = np.zeros((count, 2))
    boundary: dict[tuple[int, int], list[float]] = {}
    for a, b, step in (
        (labels[:, :-1], labels[:, 1:], np.abs(smooth[:, :-1] - smooth[:, 1:])),
        (labels[:-1], labels[1:], np.abs(smooth[:-1] - smooth[1:])),
    ):
        a, b, step = a.ravel(), b.ravel(), step.ravel()
        same = a == b
        inner[:, 0] += np.bincount(a[same], weights=step[same], minlength=count)
        inner[:, 1] += np.bincount(a[same], minlength=count)
        low, high = np.minimum(a[~same], b[~same]), np.maximum(a[~same], b[~same])
        key = low.astype(np.int64) * count + high
        sums = np.bincount(key, weights=step[~same], minlength=count * count)
        hits = np.bincount(key, minlength=count * count)
        for k in np.flatnonzero(hits).tolist():
            entry = boundary.setdefault((k // count, k % count), [0.0, 0.0])
            entry[0] += float(sums[k])
            entry[1] += float(hits[k])
    return inner, boundary


def boundary_strength(labels: np.ndarray, lightness: np.ndarray) -> dict[tuple[int, int], float]:
    """For each pair of touching regions ``(a, b)``, ``a < b``: the mean L* step between
    neighbouring pixels across their boundary (``_step_sums``)."""
    _, boundary = _step_sums(labels, lightness)
    return {pair: total / number for pair, (total, number) in boundary.items()}


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


@dataclass(frozen=True)
class Candidate:
    """A region a variant may recolour, and the colours it may take."""

    label: int
    area: float  # share of the photo
    alternatives: np.ndarray  # (Q,) probability of each alternative colour bin, 0 elsewhere
    plausibility: float  # the best alternative's probability over the current colour's
    strong: bool  # a real second mode (``ALT_MASS``, ``PLAUSIBLE``), not a weaker one


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
    candidates: list  # Candidate regions, strong and weak
    neighbours: dict = field(default_factory=dict)
    seamless: set = field(default_factory=set)  # (a, b) pairs no lightness edge separates
    people: set = field(default_factory=set)  # labels of faces, skin and hair (never recoloured)
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
        if best < LOOSE_MASS or best < LOOSE_PLAUSIBLE * own:
            continue
        alt = np.where(alt >= 0.75 * best, alt, 0.0)  # the alternative mode(s) only
        strong = best >= ALT_MASS and best >= PLAUSIBLE * own
        candidates.append(Candidate(label, area, alt, best / max(own, 1e-6), strong))
    neighbours: dict[int, set[int]] = {}
    for a, b in _neighbours(segments):
        neighbours.setdefault(a, set()).add(b)
    # Regions still apart though no edge separates them lie on two sides of a head's outline
    # (the wall inside the ellipse and the rest of it): a variant changes them together.
    seamless = {pair for pair, step in boundary_strength(segments, L_small).items()
                if step < WEAK_EDGE}
    seamless |= {(b, a) for a, b in seamless}
    return VariantPlan(lightness, ab, centres, segments, stats, currents, free, candidates,
                       neighbours, seamless, guarded)


def variant_ab(plan: VariantPlan, rng: np.random.Generator) -> np.ndarray:
    """One alternative colouring ``(2, h, w)``: candidates drawn by area times plausibility,
    each with one of its alternative colours, grown over the rest of its object, up to
    ``MAX_AREA`` of the photo (one object alone up to ``MAX_OBJECT``; a larger backdrop
    behind people alone, ``BACKDROP_SHIFT`` of the way to its new colour). The strong candidates
    come first; only where none of them could change anything do the weak ones, so a variant
    differs from the first wherever the network sees any alternative at all."""
    out = plan.ab.copy()
    for strong in (True, False):
        candidates = [c for c in plan.candidates if c.strong == strong]
        if candidates and _recolour(plan, candidates, rng, out):
            break
    return out


def _recolour(
    plan: VariantPlan, candidates: list[Candidate], rng: np.random.Generator, out: np.ndarray
) -> bool:
    """Recolour objects drawn from ``candidates`` into ``out``; whether any changed."""
    q = len(plan.centres)
    weights = np.array([c.area * c.plausibility for c in candidates])
    order = rng.choice(len(candidates), size=len(candidates), replace=False,
                       p=weights / weights.sum())
    used, taken = 0.0, set()
    for i in order:
        candidate = candidates[int(i)]
        if candidate.label in taken:
            continue
        sharp = candidate.alternatives ** 4.0
        choice = int(rng.choice(q, p=sharp / sharp.sum()))
        group = _grow(candidate.label, choice, plan.neighbours, plan.free - taken, plan.stats,
                      plan.currents, plan.seamless)
        group_area = sum(plan.stats[g][1] for g in group)
        # The wall behind a portrait often fills most of it: it may change on its own, part
        # of the way (another backdrop, not a colour cast over a street or a field).
        backdrop = group_area > MAX_OBJECT and used == 0 and any(
            plan.neighbours.get(member, set()) & plan.people for member in group)
        if (group_area > MAX_OBJECT and not backdrop) \
                or (used + group_area > MAX_AREA and used > 0):
            continue
        strength = BACKDROP_SHIFT if backdrop else 1.0
        for member in group:  # each part of the object takes the new colour, shading kept
            change = recoloured(plan.ab, plan.currents[member], plan.centres[choice]) - plan.ab
            out += (strength * plan.mask(member))[None] * change
        taken |= group
        used += group_area
        if used >= MAX_AREA:
            break
    return used > 0


def recoloured(ab: np.ndarray, current: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``ab`` ``(2, h, w)`` of a region whose mean chroma is ``current``, moved to ``target``:
    each pixel takes the target's hue at its own share of the region's mean saturation (at
    most the target's), so a white blaze in brown fur or a white stripe on a coat stays white
    instead of turning the new colour's opposite; a near-grey region (mean chroma under
    ``TINT_CHROMA``) is tinted by the difference instead, as scaling nothing gives nothing."""
    current = np.asarray(current, np.float32)
    target = np.asarray(target, np.float32)
    strength = float(np.hypot(*current))
    shifted = ab + (target - current)[:, None, None]
    if strength <= 0.0:
        return shifted.astype(np.float32)
    own = np.sqrt((ab * ab).sum(axis=0))
    scaled = target[:, None, None] * np.clip(own / strength, 0.0, 1.0)[None]
    weight = min(strength / TINT_CHROMA, 1.0)
    return (weight * scaled + (1.0 - weight) * shifted).astype(np.float32)


def _grow(
    seed: int,
    choice: int,
    neighbours: dict[int, set[int]],
    free: set[int],
    stats: dict,
    currents: dict[int, np.ndarray],
    seamless: set[tuple[int, int]] = frozenset(),
) -> set[int]:
    """The regions that make one object with ``seed``: neighbours (and theirs) coloured about
    the same (within ``GROW_COLOUR``) for which the new colour bin ``choice`` is plausible
    too, so a floor, a wall or a coat cut into several regions changes as one piece; and any
    free neighbour no lightness edge separates from the object (``seamless``), so a change
    never ends in the middle of a wall."""
    group, todo = {seed}, [seed]
    while todo:
        current = todo.pop()
        for other in neighbours.get(current, ()):
            if other in group or other not in free:
                continue
            p = stats[other][2]
            close = np.linalg.norm(currents[other] - currents[seed]) < GROW_COLOUR
            if (close and p[choice] >= ALT_MASS) or (current, other) in seamless:
                group.add(other)
                todo.append(other)
    return group
