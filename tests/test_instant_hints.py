"""Hint spreading of the instant engine (``engines.instant_hints``), with the shipped weights.

The spread hints follow the module's formula; a hint stays within its object (the issue's
astronaut: two brick-red hints on the suit turned the sky pink and the hair ginger); with ten
hints the engine beats the classic engine on the colour samples.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from piggydesk.core.color import rgb_to_lab
from piggydesk.core.hints import Hint, rasterize_hints
from piggydesk.core.imaging import load_photo
from piggydesk.core.paths import resources_dir
from piggydesk.core.propagation import propagate_chroma
from piggydesk.engines.base import ColorizeRequest
from piggydesk.engines.classic import ClassicColorizer
from piggydesk.engines.instant import InstantColorizer, create
from piggydesk.engines.instant_hints import HintSpread, spread_hints
from piggydesk.training.metrics import psnr
from piggydesk.training.point_hints import sample_eval_hints

SAMPLES = resources_dir() / "samples"


@pytest.fixture(scope="module")
def engine() -> InstantColorizer:
    """The shipped weights and config.json, as the app runs them."""
    return create("cpu")


def _two_hints(shape=(48, 64)):
    lightness = np.full(shape, 50.0, np.float32)
    hints = (Hint(x=8, y=24, color=(200, 60, 50)), Hint(x=56, y=24, color=(40, 90, 200)))
    hint_ab, hint_mask = rasterize_hints(hints, shape, shape)
    automatic = np.zeros((2, *shape), np.float32)
    automatic[0, :, 32:] = 30.0  # the network colours the right half differently
    return lightness, automatic, hint_ab, hint_mask


def test_spread_is_classic_propagation_at_prior_0_and_corrections_at_prior_1():
    lightness, automatic, hint_ab, hint_mask = _two_hints()
    hinted = automatic + 5.0
    plain = dict(blend=0.0, guide_sigma=0.0, scale=1, reach=0.0, saturation_range=0.0,
                 prior_weight=0.0)
    classic = propagate_chroma(lightness, hint_ab, hint_mask).transpose(2, 0, 1)
    got = spread_hints(HintSpread(prior=0.0, **plain), lightness, automatic, hinted,
                       hint_ab, hint_mask)
    np.testing.assert_allclose(got, classic, atol=1e-3)
    residual = propagate_chroma(lightness, hint_ab - automatic, hint_mask).transpose(2, 0, 1)
    got = spread_hints(HintSpread(prior=1.0, **plain), lightness, automatic, hinted,
                       hint_ab, hint_mask)
    np.testing.assert_allclose(got, automatic + residual, atol=1e-3)
    blended = spread_hints(HintSpread(prior=1.0, **{**plain, "blend": 0.3}), lightness,
                           automatic, hinted, hint_ab, hint_mask)
    np.testing.assert_allclose(blended, 0.3 * hinted + 0.7 * got, atol=1e-3)


def test_the_network_counts_more_where_it_is_surer_of_its_colour():
    """The share of the network's hinted colours follows its confidence: ``blend`` where it
    is as unsure as on average, more where surer, less where less sure."""
    lightness, automatic, hint_ab, hint_mask = _two_hints()
    settings = HintSpread(blend=0.3, guide_sigma=0.0, scale=1, reach=0.0, saturation_range=0.0,
                          prior_weight=0.0)
    unsure = np.full(lightness.shape, 8.0, np.float32)
    unsure[:, :32] = 2.0  # sure of the left half (mean 5: 0.4 and 1.6 of it)

    def share(settings, unsure):
        """The result moves by ``share`` of a change to the network's hinted colours."""
        run = [spread_hints(settings, lightness, automatic, hinted, hint_ab, hint_mask,
                            unsure=unsure) for hinted in (automatic, automatic + 10.0)]
        return (run[1] - run[0])[0] / 10.0

    got = share(settings, unsure)
    np.testing.assert_allclose(got[:, :32], 0.75, atol=1e-4)  # 0.3 / 0.4
    np.testing.assert_allclose(got[:, 32:], 0.1875, atol=1e-4)  # 0.3 / 1.6
    for plain in (share(settings, None),
                  share(dataclasses.replace(settings, confidence=0.0), unsure),
                  share(settings, np.full(lightness.shape, 5.0, np.float32))):
        np.testing.assert_allclose(plain, 0.3, atol=1e-4)
    unsure[:, :32] = 0.1  # very sure: at most 0.8 of the network's colours
    np.testing.assert_allclose(share(settings, unsure)[:, :16], 0.8, atol=1e-4)


def test_the_engine_weighs_its_hinted_colours_by_its_confidence(engine):
    truth = load_photo(SAMPLES / "coffee-color.jpg")
    request = ColorizeRequest(lightness=truth.lightness,
                              hints=sample_eval_hints(truth.rgb, 5, 1005))
    shipped = engine.colorize(request)[0].rgb
    saved = engine.hint_spread
    try:
        engine.hint_spread = dataclasses.replace(saved, confidence=0.0)
        flat = engine.colorize(request)[0].rgb
    finally:
        engine.hint_spread = saved
    change = np.linalg.norm(rgb_to_lab(shipped)[..., 1:] - rgb_to_lab(flat)[..., 1:], axis=-1)
    assert 0.3 < change.mean() < 5.0


def test_the_guide_keeps_each_hint_on_its_side_of_an_automatic_colour_change():
    """Equal lightness everywhere: only the network's colours tell the halves apart."""
    lightness, automatic, hint_ab, hint_mask = _two_hints()
    flat = propagate_chroma(lightness, hint_ab, hint_mask)
    guided = propagate_chroma(lightness, hint_ab, hint_mask, guide=automatic, guide_sigma=1.5)
    left, right = hint_ab[:, 24, 8], hint_ab[:, 24, 56]
    for ab in (flat, guided):
        assert np.linalg.norm(ab[24, 8] - left) < 1e-3  # hints are kept exactly
    # 20 px from the left hint, still on its side: the guided spread is the hint's colour.
    assert np.linalg.norm(guided[24, 28] - left) < 5.0
    assert np.linalg.norm(flat[24, 28] - left) > 10.0  # lightness alone mixes the two
    assert np.linalg.norm(guided[24, 36] - right) < 5.0


def _change(engine, lightness, hints) -> np.ndarray:
    auto = rgb_to_lab(engine.colorize(ColorizeRequest(lightness=lightness))[0].rgb)[..., 1:]
    hinted = engine.colorize(ColorizeRequest(lightness=lightness, hints=hints))[0].rgb
    return np.linalg.norm(rgb_to_lab(hinted)[..., 1:] - auto, axis=-1)


SKY, HAIR, FACE = np.s_[10:120, 300:350], np.s_[20:60, 190:260], np.s_[80:150, 200:250]
FAR_ON_THE_SUIT = np.s_[300:360, 60:120]  # 100 px from the nearest suit hint


def test_two_hints_on_the_astronauts_suit_leave_sky_hair_and_face_alone(engine):
    """The issue's case (the previous engine: sky 8.5, hair 13.2, face 7.3 Lab units)."""
    lightness = load_photo(SAMPLES / "astronaut-gray.jpg").lightness
    red = (150, 60, 45)
    hints = (Hint(x=110, y=420, color=red, radius=3), Hint(x=330, y=400, color=red, radius=3))
    change = _change(engine, lightness, hints)
    assert change[SKY].mean() < 4.0
    assert change[HAIR].mean() < 1.0 and change[FACE].mean() < 1.0
    assert change[FAR_ON_THE_SUIT].mean() > 15.0


def test_a_sky_hint_does_not_turn_the_hair_blue(engine):
    """Inside people's heads edges stop a hint (the previous engine: hair 25, face 11)."""
    lightness = load_photo(SAMPLES / "astronaut-gray.jpg").lightness
    change = _change(engine, lightness, (Hint(x=330, y=60, color=(90, 140, 210), radius=4),))
    assert change[SKY].mean() > 20.0
    assert change[HAIR].mean() < 8.0 and change[FACE].mean() < 2.0
    assert change[FAR_ON_THE_SUIT].mean() < 2.0


def test_grey_hints_on_the_background_leave_the_face_alone(engine):
    """Three grey hints on the background, quieter than the network's colours, earn a longer
    reach (``earned_reach``); people's heads keep the configured one (without: face 10 Lab
    units greyer)."""
    lightness = load_photo(SAMPLES / "astronaut-gray.jpg").lightness
    hints = (Hint(x=330, y=60, color=(128, 128, 128), radius=4),
             Hint(x=470, y=40, color=(120, 120, 122), radius=4),
             Hint(x=40, y=40, color=(60, 60, 60), radius=4))
    change = _change(engine, lightness, hints)
    assert change[HAIR].mean() < 1.0 and change[FACE].mean() < 1.0


def test_ten_hints_beat_the_classic_engine_on_the_colour_samples(engine):
    classic, gains = ClassicColorizer(), []
    for name in ("astronaut", "coffee", "chelsea"):
        truth = load_photo(SAMPLES / f"{name}-color.jpg")
        hints = sample_eval_hints(truth.rgb, 10, 1010)
        request = ColorizeRequest(lightness=truth.lightness, hints=hints)
        gains.append(psnr(engine.colorize(request)[0].rgb, truth.rgb)
                     - psnr(classic.colorize(request)[0].rgb, truth.rgb))
    assert np.mean(gains) > 1.0, gains


@pytest.mark.parametrize("entry", [{"blend": "lots"}, {"scale": None}, [0.3], {"prior": True}])
def test_unusable_hint_settings_are_one_clear_sentence(tmp_path, entry):
    import json

    from piggydesk.engines.base import EngineUnavailable

    shipped = resources_dir() / "models" / "instant"
    (tmp_path / "model.safetensors").symlink_to(shipped / "model.safetensors")
    config = json.loads((shipped / "config.json").read_text(encoding="utf-8"))
    (tmp_path / "config.json").write_text(json.dumps({**config, "hint_spread": entry}))
    with pytest.raises(EngineUnavailable) as caught:
        create("cpu", tmp_path)
    message = str(caught.value)
    assert "hint_spread" in message and message.count(".") >= 1 and "\n" not in message


def test_the_hints_scale_the_automatic_chroma_bounded_and_by_how_many_agree():
    from piggydesk.engines.instant_hints import saturation_scale

    shape = (40, 80)
    automatic = np.zeros((2, *shape), np.float32)
    automatic[0] = 40.0  # the network: a bold red everywhere

    def scale(colours, settings=HintSpread()):
        hints = tuple(Hint(x=10 + 20 * i, y=20, color=c) for i, c in enumerate(colours))
        hint_ab, hint_mask = rasterize_hints(hints, shape, shape)
        factor = saturation_scale(settings, automatic, hint_ab, hint_mask)
        return factor, float(hint_ab[0][hint_mask[0] > 0].mean()) / 40.0

    one, ratio = scale([(170, 100, 95)])  # a quieter red: the photo is less colourful
    assert 0.6 < ratio < 0.8
    assert one == pytest.approx(1.0 - 0.5 * (1.0 - ratio), abs=1e-3)  # one hint: half-way
    three, _ = scale([(170, 100, 95)] * 3)
    assert three == pytest.approx(1.0 - 0.75 * (1.0 - ratio), abs=1e-3)  # three: 3/4
    assert scale([(255, 0, 60)])[0] == pytest.approx(1.25)  # bolder, bounded to 1.5
    assert scale([(60, 140, 60)])[0] == pytest.approx(0.75)  # another hue: bounded to 0.5
    assert scale([(170, 100, 95)], HintSpread(saturation_range=0.0))[0] == 1.0


def test_quieter_hints_calm_their_object_and_nothing_beyond_their_reach():
    """Hints less colourful than the network's colours scale its colours down where the
    hints reach (their object), and leave the photo beyond it exactly as it was."""
    shape = (48, 128)
    lightness = np.full(shape, 50.0, np.float32)
    lightness[:, 64:] = 95.0  # a strong edge: the right half is another object
    automatic = np.zeros((2, *shape), np.float32)
    automatic[0] = np.linspace(10.0, 50.0, 128, dtype=np.float32)[None]  # varying reds
    hints = tuple(Hint(x=x, y=24, color=(150, 115, 110)) for x in (8, 30, 52))
    hint_ab, hint_mask = rasterize_hints(hints, shape, shape)
    settings = dict(blend=0.0, scale=1, reach=60.0, chroma_cost=0.0, edge_cost=4.0)
    on = spread_hints(HintSpread(**settings), lightness, automatic, automatic, hint_ab,
                      hint_mask)
    off = spread_hints(HintSpread(saturation_range=0.0, **settings), lightness, automatic,
                       automatic, hint_ab, hint_mask)
    # Between the hints, the automatic variation is kept at a smaller scale.
    spread_on = np.ptp(on[0, 24, 10:50])
    spread_off = np.ptp(off[0, 24, 10:50])
    assert spread_on < 0.85 * spread_off
    np.testing.assert_array_equal(on[:, :, 96:], automatic[:, :, 96:])  # beyond the reach


def _two_bands(hints, automatic_ab=(4.0, 18.0), barrier=None, **overrides):
    """A sky band over a grass band (a strong lightness edge between), both coloured beige
    by the network; hints at the bands' far ends, the middle beyond every hint's reach.
    Returns the automatic colours, the spread with ``overrides``, and the spread within the
    configured reach alone (no extrapolation, no earned reach)."""
    shape = (48, 192)
    lightness = np.full(shape, 80.0, np.float32)
    lightness[24:] = 40.0
    automatic = np.zeros((2, *shape), np.float32)
    automatic[0], automatic[1] = automatic_ab  # beige everywhere, unless told
    hint_ab, hint_mask = rasterize_hints(hints, shape, shape)
    settings = HintSpread(blend=0.0, scale=1, reach=40.0, chroma_cost=0.0, edge_cost=4.0,
                          saturation_range=0.0, reach_limit=0.0)
    on = spread_hints(dataclasses.replace(settings, **overrides), lightness, automatic,
                      automatic, hint_ab, hint_mask, barrier=barrier)
    off = spread_hints(dataclasses.replace(settings, extrapolate=0.0), lightness,
                       automatic, automatic, hint_ab, hint_mask)
    return automatic, on, off


def test_hints_that_show_the_automatic_colours_wrong_across_the_photo_carry_past_their_reach():
    """Blue hints at both ends of the sky and green ones at both ends of the grass: each
    left-out hint is predicted by the others' spread far better than by the beige automatic
    colours or by one tint, so the middle of the sky turns blue and of the grass green."""
    blue, green = (90, 150, 220), (60, 140, 50)
    automatic, on, off = _two_bands((Hint(x=4, y=8, color=blue), Hint(x=187, y=8, color=blue),
                                     Hint(x=4, y=40, color=green),
                                     Hint(x=187, y=40, color=green)))
    middle = (slice(None), slice(None), slice(88, 104))
    np.testing.assert_array_equal(off[middle], automatic[middle])  # without: beige
    sky, grass = on[:, :20, 88:104].mean(axis=(1, 2)), on[:, 28:, 88:104].mean(axis=(1, 2))
    assert sky[1] < -5.0 and grass[0] < -10.0, (sky, grass)  # blue (b* < 0), green (a* < 0)


def test_hints_of_one_colour_at_both_ends_stay_within_their_reach():
    """Two red hints far apart predict each other as well as a red tint would: they say
    nothing about where colours go, so the photo beyond their reach keeps its colours."""
    red = (200, 60, 50)
    automatic, on, off = _two_bands((Hint(x=4, y=8, color=red), Hint(x=187, y=8, color=red)))
    np.testing.assert_array_equal(on, off)
    np.testing.assert_array_equal(on[:, :, 88:104], automatic[:, :, 88:104])


EARNED = dict(extrapolate=0.0, reach_limit=512.0)  # the reach alone carries past 40 px


def test_hints_of_several_colours_predicted_from_afar_earn_a_longer_reach():
    """The same sky and grass hints, with the spread past the reach turned off: each left-out
    hint is predicted by the others from 180 px away far better than by one tint, so the
    hints earn a reach that takes in the middle of each band (``earned_reach``)."""
    blue, green = (90, 150, 220), (60, 140, 50)
    automatic, on, off = _two_bands((Hint(x=4, y=8, color=blue), Hint(x=187, y=8, color=blue),
                                     Hint(x=4, y=40, color=green),
                                     Hint(x=187, y=40, color=green)), **EARNED)
    middle = (slice(None), slice(None), slice(88, 104))
    np.testing.assert_array_equal(off[middle], automatic[middle])  # the configured reach
    sky, grass = on[:, :20, 88:104].mean(axis=(1, 2)), on[:, 28:, 88:104].mean(axis=(1, 2))
    assert sky[1] < -10.0 and grass[0] < -15.0, (sky, grass)


def test_hints_quieter_than_the_network_across_the_photo_earn_a_longer_reach():
    """The network paints sky and grass a strong orange; grey hints at both ends of both say
    it is wrong everywhere they are. One colour, but quieter than the network's: where the
    hints only take colour away, a longer reach cannot paint anything new."""
    grey, darker = (128, 128, 126), (90, 92, 90)
    hints = (Hint(x=4, y=8, color=grey), Hint(x=187, y=8, color=grey),
             Hint(x=4, y=40, color=darker), Hint(x=187, y=40, color=darker))
    automatic, on, off = _two_bands(hints, automatic_ab=(25.0, 35.0), **EARNED)
    middle = (slice(None), slice(None), slice(88, 104))
    np.testing.assert_array_equal(off[middle], automatic[middle])
    chroma = np.linalg.norm(on[middle], axis=0)
    assert chroma.max() < 15.0, chroma.max()  # the network's own: 43


def test_a_head_takes_the_longer_reach_only_from_a_hint_of_its_own():
    """The same grey hints with a head in the middle of the sky: without a hint on it the
    head keeps the network's colours (grey hints on a wall say nothing about a face); with
    one, the head takes the longer reach like the rest of the photo."""
    barrier = np.zeros((48, 192), bool)
    barrier[2:22, 60:132] = True
    grey, darker = (128, 128, 126), (90, 92, 90)
    hints = [Hint(x=4, y=8, color=grey), Hint(x=187, y=8, color=grey),
             Hint(x=4, y=40, color=darker), Hint(x=187, y=40, color=darker)]
    automatic, on, _ = _two_bands(tuple(hints), automatic_ab=(25.0, 35.0), barrier=barrier,
                                  **EARNED)
    face = (slice(None), slice(8, 16), slice(118, 126))
    np.testing.assert_allclose(on[face], automatic[face], atol=0.5)
    assert np.linalg.norm(on[:, 40:, 118:126], axis=0).max() < 15.0  # the grass below: grey
    hints.append(Hint(x=64, y=12, color=(118, 112, 108)))  # on the head, 55 px from the face
    automatic, on, _ = _two_bands(tuple(hints), automatic_ab=(25.0, 35.0), barrier=barrier,
                                  **EARNED)
    assert np.linalg.norm(on[face], axis=0).max() < 15.0


def test_hints_of_one_colour_earn_no_longer_reach():
    """Two red hints far apart (the astronaut's suit): a red tint predicts each as well, so
    the reach stays as configured and the sky between keeps its colours."""
    automatic, on, off = _two_bands((Hint(x=4, y=8, color=(200, 60, 50)),
                                     Hint(x=187, y=8, color=(185, 75, 60))), **EARNED)
    np.testing.assert_array_equal(on[:, :, 60:132], automatic[:, :, 60:132])
    assert np.abs(on - off).max() < 0.5


@pytest.mark.parametrize("follows", [True, False])
def test_the_hints_choose_how_much_of_the_automatic_variation_to_keep(follows):
    """Six hints along one object whose automatic colours vary: where the hints vary as the
    automatic colours do, more of that variation is kept between them than the configured
    prior keeps; where the hints are one flat colour, less (leave-one-out, ``fitted_prior``)."""
    shape = (32, 192)
    lightness = np.full(shape, 50.0, np.float32)
    automatic = np.zeros((2, *shape), np.float32)
    automatic[0] = 30.0 * np.sin(np.linspace(0, 6 * np.pi, shape[1], dtype=np.float32))[None]
    xs = [8, 40, 72, 104, 136, 168]
    ab = np.zeros((2, *shape), np.float32)
    ab[0] = automatic[0] + 20.0 if follows else 20.0
    hint_ab, hint_mask = np.zeros_like(ab), np.zeros((1, *shape), np.float32)
    for x in xs:
        hint_ab[:, 14:18, x:x + 4] = ab[:, 14:18, x:x + 4]
        hint_mask[:, 14:18, x:x + 4] = 1.0
    settings = dict(blend=0.0, scale=1, reach=0.0, guide_sigma=0.0, saturation_range=0.0)
    fitted = spread_hints(HintSpread(**settings), lightness, automatic, automatic, hint_ab,
                          hint_mask)
    fixed = spread_hints(HintSpread(prior_weight=0.0, **settings), lightness, automatic,
                         automatic, hint_ab, hint_mask)
    error_fitted = np.abs(fitted[0] - ab[0]).mean()
    error_fixed = np.abs(fixed[0] - ab[0]).mean()
    assert error_fitted < 0.8 * error_fixed, (error_fitted, error_fixed)
