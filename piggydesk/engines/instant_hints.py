"""How the instant engine spreads a person's hints beyond what its network does with them.

The network takes the hints as input and answers with its own hinted colours, but at a small
size and with a prior that fades a hint's colour a few dozen pixels away. Levin et al.'s
optimisation (``core.propagation``, Eq. 1-2) carries a colour exactly as far as the lightness
allows, but knows nothing of objects. The engine combines the two (``HintSpread`` in
config.json's ``hint_spread``, which overrides these defaults)::

    spread = prior * automatic + Levin(hint - prior * automatic)
    result = blend * hinted + (1 - blend) * spread     (within the hints' reach)

``blend`` is set per place by how sure the network is of its hinted colour (``blend_map``:
where its bin probabilities spread over many colours, the hints' spread decides).
``automatic`` is the network's colour without hints, its chroma scaled within the hints'
reach by how much more or less colourful the hints say the photo is (``saturation_scale``:
one factor, never a hue, trusted more the more hints there are; beyond the reach the
network's colours stay exactly), and ``hinted`` the network's colour with them; ``prior`` = 1
propagates only the hints' corrections to the automatic colours (keeping all of their
variation), 0 propagates the hint colours themselves (the classic engine). The propagation's
affinities are also cut where the automatic colours change (``guide_sigma``, Lab units), so a
hint stops at the boundary between things the network tells apart even where the lightness
does not change; and it is solved at ``1/scale`` of the network's size and brought back with
the guided filter along the lightness (the corrections are smooth inside objects; a quarter
of the unknowns keeps a hint edit live). Levin's propagation alone floods every region
without a hint of its own with the nearest hint's colour; ``reach`` > 0 (net pixels of
edge-aware distance, where a step across a lightness edge or, ``chroma_cost`` per Lab unit,
across a change of the automatic colours counts as a long way) hands the photo beyond every
hint's reach back to the automatic colours (plus ``outside`` of the network's own response
to the hints), so a hint recolours its object, not the photo. The reach is measured on the
solve's coarse grid (texture averages out, edges between objects stay), and inside people's
heads (``instant_variants.head_mask``) a lightness edge counts many times over: a sky hint
does not turn the hair blue, a hint on a coat does not colour the face, while the background
the head's ellipse takes in is reached as anywhere else (no seam along the ellipse).

The hints also check the network (leave-one-out, with two hints or more): each hint in turn
is left out and the others predict its colour, by a low-rank update of the one factorised
propagation (``core.propagation.Propagation.left_out``, no new factorisation). Where the
hints vary as the network's colours do, more of that variation is kept (``prior`` fitted per
photo, ``fitted_prior``); where they show the network wrong beyond their reach across the
photo (a beige sky, olive grass, with hints of more than one colour), the spread carries on
past the reach (``extrapolation_trust``); where the others predict a left-out hint better
from further away, the reach itself grows (``earned_reach``, up to ``reach_limit``), as long
as the hints are of several colours or only quieter than the network's. Hints on one object,
or of one colour, say nothing about the rest of the photo and leave it alone.

Measured on validation photos against the classic engine at k = 1, 5, 10 hints
(benchmarks/RESULTS.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from piggydesk.core.propagation import Propagation
from piggydesk.core.recombine import guided_upsample

EDGE_COST = 2.0  # geodesic distance: extra pixels per unit of L* difference
_HEAD_EDGES = 8.0  # inside people's heads a lightness edge stops the reach this much sooner


@dataclass(frozen=True)
class HintSpread:
    """The ``hint_spread`` settings of an instant model's config.json.

    The defaults were measured with the step-7,200 weights (benchmarks/RESULTS.md). The
    ``hint_propagation`` entry of earlier config.json files, tuned for an earlier combination
    (no prior, no guide, full size), is not read any more.
    """

    blend: float = 0.3  # share of the network's own hinted colours (1: the network alone)
    prior: float = 0.5  # share of the automatic colours' own variation kept under a hint
    guide_sigma: float = 1.5  # Lab units; affinities fade across automatic-colour changes
    scale: int = 4  # the propagation is solved at 1/scale of the network's size
    decay: float = 0.0  # > 0: a propagated colour fades with distance (Levin row + decay)
    reach: float = 512.0  # net pixels of edge-aware distance; 0: unlimited
    chroma_cost: float = 2.0  # reach: extra pixels per Lab unit the automatic colours change
    edge_cost: float = EDGE_COST  # reach: extra pixels per unit of L* difference
    step_cost: float = 1.0  # reach: what a step of one pixel costs (< 1: edges count more)
    outside: float = 0.0  # beyond the reach: share of the network's own hint response kept
    saturation_range: float = 0.5  # the hints may scale the automatic chroma by 1 -+ this; 0: off
    saturation_weight: float = 1.0  # hints it takes to trust that scale half-way
    extrapolate: float = 1.0  # most of the spread trusted beyond the reach (leave-one-out); 0: off
    extrapolate_weight: float = 2.0  # held-out hints beyond the others' reach to trust it half-way
    prior_weight: float = 3.0  # > 0: the prior fitted per photo (leave-one-out), trusted m/(m+this)
    reach_limit: float = 4096.0  # > reach: the longest reach the left-out hints may earn; 0: off
    reach_weight: float = 0.02  # share of the left-out error a longer reach removes, trusted half-way
    confidence: float = 1.0  # blend x (photo's mean / pixel's colour spread of the network) ** this

    @classmethod
    def from_config(cls, entry: dict | None) -> HintSpread:
        """From config.json's entry (missing keys take the defaults); ``None`` means the network
        alone."""
        if entry is None:
            return cls(blend=1.0)
        if not isinstance(entry, dict):
            raise ValueError("its hint_spread entry is not a JSON object")
        fields = cls.__dataclass_fields__
        values = {}
        for key, value in entry.items():
            if key not in fields:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not np.isfinite(value):
                raise ValueError(f"its hint_spread setting {key!r} is not a number")
            values[key] = type(fields[key].default)(value)
        return cls(**values)


def geodesic_distance(
    lightness: np.ndarray,
    sources: np.ndarray,
    limit: float,
    chroma: np.ndarray | None = None,
    chroma_cost: float = 0.0,
    edge_cost: float = EDGE_COST,
    step_cost: float = 1.0,
    edge_weight: np.ndarray | None = None,
) -> np.ndarray:
    """Edge-aware distance (pixels) from the nearest ``True`` pixel of ``sources``.

    A step to one of the 8 neighbours costs ``step_cost`` times its length (1 or sqrt 2) plus
    ``edge_cost`` per unit of L* difference (times the larger ``edge_weight`` of the two
    pixels, ``(h, w)``, where given), so a strong edge counts as a long way; with ``chroma`` (``(2, h, w)``,
    the network's automatic colours) also ``chroma_cost`` per Lab unit of their difference.
    Beyond ``limit``: ``inf``.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra

    h, w = lightness.shape
    index = np.arange(h * w).reshape(h, w)
    rows, cols, costs = [], [], []
    use_chroma = chroma is not None and chroma_cost > 0
    for sa, sb, length in (
        ((slice(None), slice(None, -1)), (slice(None), slice(1, None)), 1.0),
        ((slice(None, -1), slice(None)), (slice(1, None), slice(None)), 1.0),
        ((slice(None, -1), slice(None, -1)), (slice(1, None), slice(1, None)), 2**0.5),
        ((slice(None, -1), slice(1, None)), (slice(1, None), slice(None, -1)), 2**0.5),
    ):
        rows.append(index[sa].ravel())
        cols.append(index[sb].ravel())
        edge = edge_cost * np.abs(lightness[sa] - lightness[sb])
        if edge_weight is not None:
            edge = edge * np.maximum(edge_weight[sa], edge_weight[sb])
        cost = step_cost * length + edge
        if use_chroma:
            step = np.sqrt(((chroma[(slice(None), *sa)] - chroma[(slice(None), *sb)]) ** 2).sum(0))
            cost = cost + chroma_cost * step
        costs.append(cost.ravel())
    graph = coo_matrix(
        (np.concatenate(costs), (np.concatenate(rows), np.concatenate(cols))), shape=(h * w,) * 2
    ).tocsr()
    distance = dijkstra(
        graph, directed=False, indices=np.flatnonzero(sources), min_only=True, limit=limit
    )
    return distance.reshape(h, w)


def saturation_scale(
    settings: HintSpread, automatic: np.ndarray, hint_ab: np.ndarray, hint_mask: np.ndarray
) -> float:
    """How much more (> 1) or less (< 1) colourful the hints say the photo is than the
    network's automatic colours: the least-squares factor ``r`` that takes the automatic
    chroma under the hints closest to the hints' own, bounded to ``1 -+ saturation_range``
    and trusted ``n / (n + saturation_weight)`` of the way for ``n`` hints (one hint moves it
    at most half-way). A factor, not a colour: it makes the automatic colours bolder or
    quieter without turning any of them towards a hint's hue."""
    fixed = hint_mask[0] > 0
    if settings.saturation_range <= 0 or not fixed.any():
        return 1.0
    auto, hints = automatic[:, fixed].astype(np.float64), hint_ab[:, fixed].astype(np.float64)
    power = float((auto * auto).sum())
    if power <= 1e-6:
        return 1.0
    low, high = 1.0 - settings.saturation_range, 1.0 + settings.saturation_range
    ratio = float(np.clip((auto * hints).sum() / power, max(low, 0.0), high))
    count = cv2.connectedComponents(fixed.astype(np.uint8))[0] - 1
    trust = count / (count + max(settings.saturation_weight, 0.0))
    return 1.0 + trust * (ratio - 1.0)


_MAX_HELD_OUT = 12  # hints left out in turn to measure how their spread holds
_ONE_COLOUR = 10.0  # Lab: hints whose colours lie this close (rms) to their mean are one colour
_QUIETER = 2.0  # hints half as colourful as the network's colours under them: fully quieter


@dataclass(frozen=True)
class HeldOut:
    """One hint left out, and what the others say about its place (mean chroma ``(2,)`` over
    its cells at the solve's size)."""

    colour: np.ndarray  # the hint's own colour
    spread_hints: np.ndarray  # the other hints' colours, propagated there
    spread_automatic: np.ndarray  # the automatic colours under the other hints, propagated there
    automatic: np.ndarray  # the automatic colours there (chroma scaled by the hints)
    unscaled: np.ndarray  # the network's automatic colours there
    distance: np.ndarray  # edge-aware distance (net px) of its cells from the others; inf: none
    tint: np.ndarray  # the other hints' mean colour

    def spread(self, prior: float) -> np.ndarray:
        """The other hints' spread at this place with ``prior`` (the module doc's formula)."""
        return prior * self.automatic + self.spread_hints - prior * self.spread_automatic

    def near(self, reach: float) -> float:
        """1 within half of ``reach`` of the other hints, fading to 0 at it (``fade``)."""
        return float(fade(self.distance, reach).mean())


def fade(distance: np.ndarray, reach: float) -> np.ndarray:
    """How far the hints' spread holds at an edge-aware ``distance`` (net px) from the
    nearest hint: 1 within half the ``reach``, fading linearly to 0 at it; no reach (0):
    everywhere 1."""
    if reach <= 0:
        return np.ones_like(distance, dtype=np.float64)
    core = 0.5 * reach
    return np.clip((reach - distance) / (reach - core), 0.0, 1.0)


def leave_one_out(propagation: Propagation, channels: np.ndarray, solution: np.ndarray,
                  automatic: np.ndarray, unscaled: np.ndarray, distance) -> list[HeldOut]:
    """Leave out up to ``_MAX_HELD_OUT`` of the hints (connected groups of the hinted cells of
    ``propagation``) in turn, evenly over them, and propagate the others' four ``channels``
    (hint colours and automatic colours under the hints, ``(4, h, w)``; ``solution`` their
    spread from every hint, ``Propagation.solve_ordered``) to them by the factors' low-rank
    update (``Propagation.left_out``); ``distance(cells)`` ``(h, w)`` the edge-aware distance
    from ``cells`` (net px), or None (no reach: every place near). Fewer than two hints:
    none."""
    hint_cells = propagation.fixed
    count, labels = cv2.connectedComponents(hint_cells.astype(np.uint8), connectivity=8)
    count -= 1
    if count < 2:
        return []
    held = []
    for label in np.unique(np.linspace(1, count, min(count, _MAX_HELD_OUT)).round().astype(int)):
        cells = labels == label
        others = hint_cells & ~cells
        spread = propagation.left_out(cells, channels, solution).mean(axis=0)
        held.append(HeldOut(
            colour=channels[:2, cells].mean(axis=1), spread_hints=spread[:2],
            spread_automatic=spread[2:], automatic=automatic[:, cells].mean(axis=1),
            unscaled=unscaled[:, cells].mean(axis=1),
            distance=distance(others)[cells] if distance is not None else np.zeros(1),
            tint=channels[:2, others].mean(axis=1),
        ))
    return held


def fitted_prior(settings: HintSpread, held: list[HeldOut], reach: float) -> float:
    """The share of the automatic colours' variation to keep under the hints, as the hints
    say (leave-one-out): the least-squares ``prior`` (0-1) whose spread of the other hints
    predicts each left-out hint within their reach best. The spread is linear in the prior
    (``HeldOut.spread``), so it is one division. Trusted ``m / (m + prior_weight)`` of the way
    from the configured ``prior``, ``m`` the left-out hints within the others' reach: where
    the network's colours vary as the photo's do, they are kept; where they vary wrongly,
    the hints' own colours spread flat."""
    if settings.prior_weight <= 0 or not held:
        return settings.prior
    num = den = evidence = 0.0
    for h in held:
        near = h.near(reach)
        if near <= 0:
            continue
        direction = h.automatic - h.spread_automatic
        num += near * float((h.colour - h.spread_hints) @ direction)
        den += near * float(direction @ direction)
        evidence += near
    if den <= 1e-6:
        return settings.prior
    fit = float(np.clip(num / den, 0.0, 1.0))
    return settings.prior + (fit - settings.prior) * evidence / (evidence + settings.prior_weight)


def extrapolation_trust(settings: HintSpread, held: list[HeldOut], prior: float,
                        reach: float) -> float:
    """How much of the hints' spread to trust beyond their reach, as the hints themselves
    say (leave-one-out): the others predict each left-out hint with their spread where it
    lies within their reach and with the network's automatic colours beyond it. The
    least-squares share ``alpha`` (0-1) of the spread beyond the reach that predicts the
    left-out hints best is trusted ``m / (m + extrapolate_weight)`` of the way, ``m`` the
    left-out hints' summed distance past the others' reach (hints on one object, all within
    each other's reach, say nothing about the rest of the photo: 0), and only as far as the
    spread predicts them better than a tint of the other hints' mean colour would: hints of
    one colour say nothing about where colours go (two red hints on a suit, beyond each
    other's reach, would otherwise turn the sky pink). Where the network's colours are right
    beyond the hints they stay; where the hints show them wrong across the photo (a beige
    sky, olive grass), the spread carries on past the reach."""
    if settings.extrapolate <= 0:
        return 0.0
    b = settings.blend
    num = den = evidence = spread_error = tint_error = 0.0
    for h in held:
        near = h.near(reach)
        far = 1.0 - near
        if far <= 1e-3:
            continue
        spread = h.spread(prior)
        inside = b * h.automatic + (1.0 - b) * spread
        residual = h.colour - (near * inside + far * h.unscaled)
        direction = far * (spread - h.unscaled)
        num += float(residual @ direction)
        den += float(direction @ direction)
        evidence += far
        spread_error += far * float(((h.colour - spread) ** 2).sum())
        tint_error += far * float(((h.colour - h.tint) ** 2).sum())
    if den <= 1e-6 or tint_error <= 1e-6:
        return 0.0
    alpha = float(np.clip(num / den, 0.0, 1.0))
    skill = float(np.clip(1.0 - spread_error / tint_error, 0.0, 1.0))
    return min(settings.extrapolate, 1.0) * alpha * skill * evidence / (
        evidence + max(settings.extrapolate_weight, 0.0))


def earned_reach(settings: HintSpread, held: list[HeldOut], prior: float) -> float:
    """How far the hints reach on this photo, as the hints themselves say (leave-one-out):
    of the reaches from ``reach`` up to ``reach_limit`` (steps of sqrt 2), the one with
    which the others' spread (within it; the network's automatic colours beyond) predicts
    the left-out hints best. It is trusted ``d / (d + reach_weight)`` of the way, ``d`` the
    share of the left-out hints' error it takes away, and only where a longer reach cannot
    paint what the hints do not say:

    - the hints are of several colours (their rms distance from their mean colour over
      ``_ONE_COLOUR`` Lab, fully at twice that): hints of one colour (two red hints on a
      suit) say nothing about where that colour stops, so the sky stays as it was;
    - or they are quieter than the network's colours under them (fully at ``1 / _QUIETER``
      of their chroma): grey hints where the network painted orange only take away colour
      the photo does not have, which a longer reach cannot overdo.

    Measured: where the left-out hints ask for a longer reach, a longer reach gains on the
    whole photo (benchmarks/RESULTS.md, session 9)."""
    base, limit = settings.reach, settings.reach_limit
    if base <= 0 or limit <= base or not held:
        return base
    b = settings.blend
    inside = [b * h.automatic + (1.0 - b) * h.spread(prior) for h in held]

    def error(reach: float) -> float:
        total = 0.0
        for h, there in zip(held, inside):
            near = h.near(reach)
            total += float(((h.colour - (near * there + (1.0 - near) * h.unscaled)) ** 2).sum())
        return total

    steps = int(np.floor(2.0 * np.log2(limit / base) + 1e-9))
    reaches = [base * 2.0 ** (0.5 * i) for i in range(steps + 1)]
    errors = [error(reach) for reach in reaches]
    best = int(np.argmin(errors))
    if best == 0 or errors[0] <= 1e-6:
        return base
    drop = 1.0 - errors[best] / errors[0]  # the share of the left-out error it takes away
    colours = np.stack([h.colour for h in held]).astype(np.float64)
    variety = float(np.sqrt(((colours - colours.mean(axis=0)) ** 2).sum(axis=1).mean()))
    many = float(np.clip((variety - _ONE_COLOUR) / _ONE_COLOUR, 0.0, 1.0))
    hint_chroma = float(np.mean([np.linalg.norm(h.colour) for h in held]))
    network_chroma = float(np.mean([np.linalg.norm(h.unscaled) for h in held]))
    quieter = float(np.clip(_QUIETER * (1.0 - hint_chroma / max(network_chroma, 1e-6)), 0.0, 1.0))
    trust = max(many, quieter) * drop / (drop + max(settings.reach_weight, 1e-6))
    return base + trust * (reaches[best] - base)


_BLEND_MOST = 0.8  # where the network is surest, at most this share of its hinted colours


def blend_map(settings: HintSpread, unsure: np.ndarray | None) -> float | np.ndarray:
    """The share of the network's own hinted colours at each place: ``blend`` where the
    network is as unsure of its colour as on average over the photo, more where it is surer,
    less where it is less sure (``(mean / unsure) ** confidence``, at most ``_BLEND_MOST``).
    Where the network's bin probabilities spread over many colours (a wall it cannot tell
    white from blue) the hints' spread decides; where they are peaked, its colours count
    more. Measured: +0.02 / +0.03 dB at k = 10 on people / scenes (benchmarks/RESULTS.md,
    session 10)."""
    b = settings.blend
    if unsure is None or settings.confidence <= 0 or b <= 0:
        return b
    relative = np.maximum(unsure / max(float(unsure.mean()), 1e-6), 1e-3)
    return np.clip(b * relative ** -settings.confidence, 0.0, max(_BLEND_MOST, b))[None]


def _area(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return cv2.resize(np.ascontiguousarray(image, dtype=np.float32), size,
                      interpolation=cv2.INTER_AREA)


def spread_hints(
    settings: HintSpread,
    lightness: np.ndarray,
    automatic: np.ndarray,
    hinted: np.ndarray,
    hint_ab: np.ndarray,
    hint_mask: np.ndarray,
    barrier: np.ndarray | None = None,
    unsure: np.ndarray | None = None,
) -> np.ndarray:
    """The most likely chroma ``(2, h, w)`` with the hints (module doc), all at the network's
    size: ``lightness`` ``(h, w)`` L*, ``automatic`` and ``hinted`` ``(2, h, w)`` the network's
    colours without and with the hints, ``hint_ab`` ``(2, h, w)`` and ``hint_mask``
    ``(1, h, w)`` the rasterised hints, ``unsure`` ``(h, w)`` how unsure the network is of its
    hinted colours (``ab_bins.colour_spread``; None: equally everywhere). ``barrier``
    ``(h, w)`` bool marks where lightness edges count ``_HEAD_EDGES`` times as much for the
    reach (people's heads: a sky hint does not cross the hair line, a coat's hint not the
    chin), while flat background there is reached as anywhere else."""
    fixed = hint_mask[0] > 0
    if settings.blend >= 1.0 or not fixed.any():
        return hinted
    unscaled = automatic  # beyond the hints' reach, the network's colours exactly
    saturation = saturation_scale(settings, automatic, hint_ab, hint_mask)
    if saturation != 1.0:
        automatic = (automatic * saturation).astype(np.float32)
    h, w = lightness.shape
    scale = max(1, int(settings.scale))
    size = (max(w // scale, 1), max(h // scale, 1))
    weight = fixed.astype(np.float32)
    # At the solve's size: the mean hint colour, and the mean automatic colour under the
    # hints, of each cell a hint touches.
    covered = _area(weight, size)
    hint_cells = covered > 0
    channels = np.concatenate([hint_ab * weight, automatic * weight])
    channels = np.stack([_area(c, size) for c in channels]) / np.maximum(covered, 1e-6)
    small_auto = np.stack([_area(c, size) for c in automatic])
    small_light = _area(lightness, size)
    guide = small_auto if settings.guide_sigma > 0 else None

    propagation = Propagation(small_light, hint_cells, decay=settings.decay, guide=guide,
                              guide_sigma=settings.guide_sigma)

    distance = None
    if settings.reach > 0:
        # Beyond the edge-aware reach of every hint the automatic colours come back.
        # Measured on the solve's coarse grid too: fine texture (wrinkles, foliage, grain)
        # averages out there, the edges between objects stay; one coarse step is ``scale``
        # net pixels.
        edge_weight = None  # inside people's heads (share of each coarse cell): edges count more
        if barrier is not None and barrier.any():
            edge_weight = 1.0 + (_HEAD_EDGES - 1.0) * _area(barrier.astype(np.float32), size)
        longest = max(settings.reach, settings.reach_limit)

        def distance(cells: np.ndarray) -> np.ndarray:
            """Edge-aware distance (net px) from the hints in ``cells``; inf past ``longest``."""
            return scale * geodesic_distance(
                small_light, cells, longest / scale, chroma=small_auto,
                chroma_cost=settings.chroma_cost / scale, edge_cost=settings.edge_cost / scale,
                step_cost=settings.step_cost, edge_weight=edge_weight,
            )

    solution = propagation.solve_ordered(channels)
    held: list[HeldOut] = []
    if settings.prior_weight > 0 or (distance is not None and (
            settings.extrapolate > 0 or settings.reach_limit > settings.reach)):
        unscaled_small = np.stack([_area(c, size) for c in unscaled])
        held = leave_one_out(propagation, channels, solution, small_auto, unscaled_small,
                             distance)
    prior = fitted_prior(settings, held, settings.reach)
    spread_all = propagation.on_grid(solution)
    correction = spread_all[..., :2] - prior * spread_all[..., 2:]
    if scale > 1:
        correction = guided_upsample(lightness, correction)
    spread = prior * automatic + correction.transpose(2, 0, 1)
    b = blend_map(settings, unsure)
    inside = b * hinted + (1.0 - b) * spread
    if distance is not None:
        reach = earned_reach(settings, held, prior) if held else settings.reach
        from_hints = distance(hint_cells)
        near = fade(from_hints, reach)
        if reach > settings.reach and edge_weight is not None:
            # A head without a hint of its own keeps the configured reach: grey hints on a
            # wall say nothing about the face's colour, however well they predict each other.
            head = (edge_weight - 1.0) / (_HEAD_EDGES - 1.0)
            _, heads = cv2.connectedComponents((head > 0).astype(np.uint8), connectivity=8)
            hinted_heads = np.unique(heads[hint_cells & (heads > 0)])
            head = np.where(np.isin(heads, hinted_heads), 0.0, head)
            near = head * fade(from_hints, settings.reach) + (1.0 - head) * near
        if scale > 1:
            near = cv2.resize(near.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
        near = near[None]
        # Beyond the reach: the automatic colours, ``outside`` of the network's own response
        # to the hints, and as much of the spread as the hints show it holds there.
        trust = extrapolation_trust(settings, held, prior, reach) if held else 0.0
        beyond = unscaled + trust * (spread - unscaled) + settings.outside * (hinted - unscaled)
        inside = near * inside + (1.0 - near) * beyond
    return inside.astype(np.float32)
