"""The instant engine with the weights shipped in resources/: automatic colorization, hints,
suggested colours and variants, measured on a bundled sample photo."""

from __future__ import annotations

import numpy as np
import pytest

from piggydesk.core.color import lab_to_rgb, rgb_to_lab, rgb_to_lightness
from piggydesk.core.hints import Hint
from piggydesk.core.imaging import load_photo
from piggydesk.core.paths import resources_dir
from piggydesk.engines import registry
from piggydesk.engines.base import ColorizeRequest, SuggestsColors
from piggydesk.engines.instant import create, engine_info
from piggydesk.training.metrics import colourfulness
from tests.cli_helpers import run_together

SAMPLE = resources_dir() / "samples" / "astronaut-gray.jpg"


@pytest.fixture(scope="module")
def engine():
    return create("cpu")


@pytest.fixture(scope="module")
def lightness() -> np.ndarray:
    return load_photo(SAMPLE).lightness


def _ab_near(rgb: np.ndarray, x: int, y: int, r: int = 2) -> np.ndarray:
    return rgb_to_lab(rgb[y - r:y + r + 1, x - r:x + r + 1])[..., 1:].reshape(-1, 2).mean(0)


def _hint_at(lightness: np.ndarray, x: int, y: int, ab: tuple[float, float]) -> Hint:
    """A hint whose colour has the photo's own lightness at (x, y) and the given a*, b*."""
    rgb = lab_to_rgb(np.array([float(lightness[y, x]), ab[0], ab[1]], np.float32))
    return Hint(x=x, y=y, color=tuple(int(v) for v in np.rint(rgb * 255)), radius=2)


def test_shipped_weights_load_and_colorize_the_sample_deterministically(engine, lightness):
    info = engine_info()
    assert info.available and not info.needs_hints
    assert registry.default_engine_name() == "instant"
    request = ColorizeRequest(lightness=lightness)
    first = engine.colorize(request)
    second = create("cpu").colorize(request)
    assert len(first) == 1 and first[0].settings.engine == "instant"
    rgb = first[0].rgb
    assert rgb.shape == (*lightness.shape, 3) and rgb.dtype == np.float32
    assert np.array_equal(rgb, second[0].rgb)
    assert np.abs(rgb_to_lightness(rgb) - lightness).max() < 0.5
    assert colourfulness(rgb) > 5.0  # it actually adds colour without any hint


def test_a_hint_pulls_the_colour_at_its_location_toward_the_hint(engine, lightness):
    x, y = 300, 380
    target = (-45.0, 45.0)  # a strong yellow-green nothing in the photo would get by itself
    hint = _hint_at(lightness, x, y, target)
    hint_ab = rgb_to_lab(np.array(hint.color, np.float32) / 255.0)[1:]
    before = engine.colorize(ColorizeRequest(lightness=lightness))[0].rgb
    after = engine.colorize(ColorizeRequest(lightness=lightness, hints=(hint,)))[0].rgb
    d_before = np.linalg.norm(_ab_near(before, x, y) - hint_ab)
    d_after = np.linalg.norm(_ab_near(after, x, y) - hint_ab)
    assert d_after < 0.5 * d_before and d_after < 15.0, (d_before, d_after)
    far = np.linalg.norm(_ab_near(after, 60, 60) - _ab_near(before, 60, 60))
    assert far < d_before - d_after  # the hint acts locally, not as a global tint


def test_suggestions_at_a_hinted_point_include_the_hint_colour(engine, lightness):
    assert isinstance(engine, SuggestsColors)
    x, y = 150, 420
    hint = _hint_at(lightness, x, y, (50.0, -30.0))
    hint_ab = rgb_to_lab(np.array(hint.color, np.float32) / 255.0)[1:]
    request = ColorizeRequest(lightness=lightness, hints=(hint,))
    engine.colorize(request)
    suggestions = engine.suggest_colors(request, x, y, k=6)
    assert len(suggestions) == 6
    assert len({s.color for s in suggestions}) == 6
    distances = [
        np.linalg.norm(rgb_to_lab(np.array(s.color, np.float32) / 255.0)[1:] - hint_ab)
        for s in suggestions
    ]
    assert min(distances) < 10.0, distances
    plain = engine.suggest_colors(ColorizeRequest(lightness=lightness), x, y, k=3)
    assert len(plain) == 3 and all(0.0 <= s.probability <= 1.0 for s in plain)


def test_variants_differ_coherently_and_repeat_for_the_same_seed(engine, lightness):
    request = ColorizeRequest(lightness=lightness, num_variants=3, seed=7)
    variants = engine.colorize(request)
    assert [v.settings.variant_index for v in variants] == [0, 1, 2]
    single = engine.colorize(ColorizeRequest(lightness=lightness, seed=7))[0].rgb
    assert np.array_equal(variants[0].rgb, single)  # variant 1 is the most likely result
    ab = [rgb_to_lab(v.rgb)[..., 1:] for v in variants]
    for i in range(3):
        for j in range(i + 1, 3):
            diff = np.linalg.norm(ab[i] - ab[j], axis=-1)
            assert np.percentile(diff, 90) > 5.0, (i, j)  # visibly different somewhere
    again = engine.colorize(request)
    for a, b in zip(variants, again):
        assert np.array_equal(a.rgb, b.rgb)
    other = engine.colorize(ColorizeRequest(lightness=lightness, num_variants=3, seed=8))
    assert any(not np.array_equal(a.rgb, b.rgb) for a, b in zip(variants[1:], other[1:]))
    # No pixel noise: each variant's chroma is as smooth as the most likely one's.
    for v in ab[1:]:
        grad = np.abs(np.diff(v, axis=1)).mean()
        assert grad < 2.0 * np.abs(np.diff(ab[0], axis=1)).mean() + 0.5


def test_cli_colorize_and_self_test_use_the_instant_engine_by_default(tmp_path, capsys):
    from piggydesk import cli
    from piggydesk.core.color import rgb_to_lab as to_lab

    out = tmp_path / "out.png"
    assert cli.main(["colorize", str(SAMPLE), "-o", str(out)]) == 0
    colored = load_photo(out).rgb
    chroma = np.linalg.norm(to_lab(colored)[..., 1:], axis=-1)
    assert chroma.mean() > 3.0  # colour without hints: the instant engine, not classic's gray
    capsys.readouterr()
    assert cli.main(["self-test"]) == 0
    assert "instant" in capsys.readouterr().out


PROPAGATION = {"decay": 0.0, "blend": 0.0, "reach": 192}


def test_hint_spread_fills_each_region_with_its_own_hint(engine):
    """With ``hint_spread`` a hint's colour reaches across its region (same lightness)
    further than the network alone takes it, two regions split by an edge each keep their own
    hint's colour, and a lone hint leaves what lies beyond its reach as it was without hints."""
    from piggydesk.engines.instant import InstantColorizer

    lightness = np.full((192, 256), 35.0, np.float32)
    lightness[:, 128:] = 75.0  # a strong vertical edge
    hints = (_hint_at(lightness, 20, 96, (50.0, 40.0)), _hint_at(lightness, 236, 96, (-20.0, -45.0)))
    left_goal, right_goal = (rgb_to_lab(np.array(h.color, np.float32) / 255.0)[1:] for h in hints)
    request = ColorizeRequest(lightness=lightness, hints=hints)
    spread_engine = InstantColorizer(engine.net, {**engine.config, "hint_spread": PROPAGATION})
    alone = InstantColorizer(engine.net, {**engine.config, "hint_spread": None})
    spread = spread_engine.colorize(request)[0].rgb
    net_only = alone.colorize(request)[0].rgb

    def error(rgb, x, y, goal):
        return float(np.linalg.norm(_ab_near(rgb, x, y, r=3) - goal))

    # 40 and 80 px from each hint, in its own region: close to that hint's colour.
    for x, goal in ((60, left_goal), (196, right_goal), (100, left_goal), (156, right_goal)):
        assert error(spread, x, 70, goal) < 12.0, x
        assert error(spread, x, 70, goal) < error(net_only, x, 70, goal) - 5.0, x
    # One hint: beyond the edge (far, by the edge-aware distance) nothing changes.
    lone = ColorizeRequest(lightness=lightness, hints=hints[:1])
    a, b = spread_engine.colorize(lone)[0].rgb, alone.colorize(lone)[0].rgb
    automatic = alone.colorize(ColorizeRequest(lightness=lightness))[0].rgb
    assert np.abs(a[:, 200:] - automatic[:, 200:]).max() < 1e-3
    assert error(a, 60, 96, left_goal) < error(b, 60, 96, left_goal) - 2.0
    # Variants keep the propagated hints too.
    variants = spread_engine.colorize(
        ColorizeRequest(lightness=lightness, hints=hints, num_variants=2, seed=3)
    )
    assert error(variants[1].rgb, 60, 96, left_goal) < 15.0


def test_variants_recolour_whole_regions_not_clouds(engine):
    """Each variant moves whole regions to another colour: inside a flat region the change is
    the same everywhere (no blobs fading across it), and most of the photo keeps variant 1."""
    lightness = np.full((192, 256), 30.0, np.float32)
    lightness[:, 86:172] = 60.0
    lightness[:, 172:] = 88.0
    lightness[:40] = 50.0  # a band across the top
    regions = [(slice(48, 192), slice(6, 80)), (slice(48, 192), slice(92, 166)),
               (slice(48, 192), slice(178, 250)), (slice(0, 34), slice(6, 250))]
    changed_any = False
    for seed in range(4):
        variants = engine.colorize(ColorizeRequest(lightness=lightness, num_variants=3, seed=seed))
        base = rgb_to_lab(variants[0].rgb)[..., 1:]
        for v in variants[1:]:
            diff = rgb_to_lab(v.rgb)[..., 1:] - base
            size = np.linalg.norm(diff, axis=-1)
            assert (size > 3.0).mean() <= 0.5  # most of the photo keeps variant 1's colours
            for ys, xs in regions:
                shift = diff[ys, xs].reshape(-1, 2)
                if np.linalg.norm(shift.mean(0)) > 5.0:  # this region changed colour ...
                    changed_any = True
                    spread = np.linalg.norm(shift - shift.mean(0), axis=-1)
                    # ... all of it, by about the same amount (gamut limits aside)
                    assert np.percentile(spread, 90) < 0.35 * np.linalg.norm(shift.mean(0)) + 3
    assert changed_any


def test_reach_stops_where_the_automatic_colours_change():
    """The edge-aware distance that limits a hint's reach also counts a change of the automatic
    colours as a long way, so a hint does not cross into a neighbour of the same lightness."""
    from piggydesk.engines.instant_hints import geodesic_distance

    lightness = np.full((20, 60), 50.0, np.float32)
    chroma = np.zeros((2, 20, 60), np.float32)
    chroma[0, :, 30:] = 40.0  # same lightness, the network colours the right half differently
    sources = np.zeros((20, 60), bool)
    sources[10, 5] = True
    plain = geodesic_distance(lightness, sources, 1000.0)
    aware = geodesic_distance(lightness, sources, 1000.0, chroma=chroma, chroma_cost=2.0)
    assert abs(plain[10, 50] - 45.0) < 1e-3 and abs(aware[10, 20] - 15.0) < 1e-3
    assert aware[10, 50] > plain[10, 50] + 79.0  # crossing costs 2 x 40 extra pixels


def test_vividness_spans_muted_to_bold_and_is_recorded(engine, lightness):
    """The run's vividness option: 0 is the regression head alone, 1 the annealed mean; more
    vividness, more colour; without it the model's own balance; hints keep their colour."""
    import json

    from piggydesk.core.run_settings import RunSettings
    from piggydesk.engines.instant import default_model_dir

    def run(vividness, hints=()):
        settings = RunSettings(hints=tuple(hints))
        if vividness is not None:
            settings = settings.with_values(vividness=vividness)
        return engine.colorize(ColorizeRequest(lightness=lightness, settings=settings))[0]

    muted, default, bold = run(0.0), run(None), run(1.0)
    levels = [colourfulness(v.rgb) for v in (muted, default, bold)]
    assert levels[0] + 2 < levels[1] < levels[2] - 2, levels
    assert muted.settings.get("vividness") == 0.0 and default.settings.get("vividness") is None
    config = json.loads((default_model_dir() / "config.json").read_text())
    assert config["output"] == "mix"
    halfway = run(config.get("mix_weight", 0.5))
    assert np.array_equal(halfway.rgb, default.rgb)
    hint = _hint_at(lightness, 200, 330, (60.0, 50.0))
    for vividness in (0.0, 1.0):
        ab = _ab_near(run(vividness, [hint]).rgb, 200, 330, r=1)
        assert np.hypot(*(ab - np.array([60.0, 50.0]))) < 12.0, (vividness, ab)


def test_cli_vividness(tmp_path):
    import sys

    cmd = [sys.executable, "-m", "piggydesk", "colorize", str(SAMPLE), "--size", "256"]
    muted, bold = tmp_path / "muted.png", tmp_path / "bold.png"
    *runs, proc = run_together(  # independent processes, side by side
        [*cmd, "-o", str(muted), "--vividness", "0"],
        [*cmd, "-o", str(bold), "--vividness", "1"],
        [*cmd, "-o", str(tmp_path / "bad.png"), "--vividness", "1.5"],
    )
    for run in runs:
        assert run.returncode == 0, run.stderr
    assert colourfulness(load_photo(muted).rgb) + 2 < colourfulness(load_photo(bold).rgb)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "vividness" in proc.stderr and not (tmp_path / "bad.png").exists()
