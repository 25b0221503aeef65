"""Colour hints: parsing, files, editing helpers and rasterisation at the working size."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from piggydesk.core.color import rgb_to_lab
from piggydesk.core.errors import PhotoError
from piggydesk.core.hints import (
    DEFAULT_RADIUS,
    Hint,
    load_hints_file,
    parse_color,
    parse_hint_arg,
    rasterize_hints,
    save_hints_file,
)


def test_parse_color_and_hint_argument() -> None:
    assert parse_color("#aa3322") == (170, 51, 34)
    assert parse_color("AA3322") == (170, 51, 34)
    for bad in ("#abc", "red", "#gg0000", ""):
        with pytest.raises(ValueError):
            parse_color(bad)
    hint = parse_hint_arg("120,45,#aa3322")
    assert hint == Hint(120.0, 45.0, (170, 51, 34), DEFAULT_RADIUS)
    assert parse_hint_arg("1.5, 2.5, #000000, 7").radius == 7.0
    with pytest.raises(ValueError):
        parse_hint_arg("120,45")


def test_hint_helpers() -> None:
    hint = Hint(10, 20, (255, 0, 0), 3)
    assert hint.hex == "#ff0000"
    assert hint.moved_to(5, 6) == Hint(5.0, 6.0, (255, 0, 0), 3)
    assert hint.recoloured((1, 2, 3)).color == (1, 2, 3)
    assert hint.resized(9).radius == 9.0
    assert hint.hit(12, 21, tolerance=3) and not hint.hit(20, 20, tolerance=3)
    assert Hint.from_dict(hint.to_dict()) == hint
    with pytest.raises(PhotoError):
        Hint.from_dict({"x": 1, "color": "#000000"})
    with pytest.raises(PhotoError):
        Hint.from_dict({"x": 1, "y": 2, "color": "blue"})


def test_hints_file_round_trip_and_errors(tmp_path: Path) -> None:
    hints = [Hint(120, 45, (170, 51, 34), 2), Hint(3.25, 7.5, (0, 128, 255), 0.5)]
    save_hints_file(tmp_path / "h.json", hints)
    assert load_hints_file(tmp_path / "h.json") == hints
    data = json.loads((tmp_path / "h.json").read_text())
    assert data["hints"][0] == {"x": 120, "y": 45, "color": "#aa3322", "radius": 2}

    (tmp_path / "doc.json").write_text('{"hints": [{"x": 1, "y": 2, "color": "#010203"}]}')
    assert load_hints_file(tmp_path / "doc.json")[0].radius == DEFAULT_RADIUS
    with pytest.raises(PhotoError, match="does not exist"):
        load_hints_file(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(PhotoError, match="could not be read"):
        load_hints_file(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(PhotoError, match="hints"):
        load_hints_file(tmp_path / "list.json")


def test_no_hints_rasterise_to_zeros() -> None:
    ab, mask = rasterize_hints([], (600, 800), (48, 64))
    assert ab.shape == (2, 48, 64) and mask.shape == (1, 48, 64)
    assert ab.dtype == np.float32 and mask.dtype == np.float32
    assert not ab.any() and not mask.any()


def test_hint_lands_at_the_scaled_position_with_its_colour() -> None:
    image, work = (600, 800), (60, 80)  # scale 1/10
    # pixel centres: original pixel 404.5 is the centre of working pixel 40 at scale 1/10
    hint = Hint(x=404.5, y=204.5, color=(200, 40, 30), radius=2)
    ab, mask = rasterize_hints([hint], image, work)
    ys, xs = np.nonzero(mask[0])
    assert abs(ys.mean() - 20) < 1e-6 and abs(xs.mean() - 40) < 1e-6
    assert mask[0, 20, 40] == 1 and mask[0, 20, 43] == 0
    expected_ab = rgb_to_lab(np.array(hint.color, dtype=np.float32) / 255)[1:]
    np.testing.assert_allclose(ab[:, 20, 40], expected_ab, atol=1e-4)
    assert mask.sum() == 13  # disc of radius 2 on the pixel grid
    assert set(np.unique(mask)) == {0.0, 1.0}
    assert not ab[:, mask[0] == 0].any()


def test_radius_is_in_working_pixels() -> None:
    """The same radius covers the same working-size area for a small and a huge scan."""
    small_scan = Hint(x=500, y=500, color=(0, 0, 255), radius=5)
    huge_scan = Hint(x=2500, y=2500, color=(0, 0, 255), radius=5)
    _, small = rasterize_hints([small_scan], (1000, 1000), (100, 100))
    _, huge = rasterize_hints([huge_scan], (5000, 5000), (100, 100))
    assert small.sum() == pytest.approx(np.pi * 25, rel=0.1)
    assert huge.sum() == pytest.approx(np.pi * 25, rel=0.1)
    _, wide = rasterize_hints([small_scan.resized(10)], (1000, 1000), (100, 100))
    assert wide.sum() == pytest.approx(np.pi * 100, rel=0.1)


def test_tiny_radius_marks_one_pixel_and_later_hints_win() -> None:
    ab, mask = rasterize_hints([Hint(10.3, 10.3, (255, 0, 0), 0.1)], (100, 100), (100, 100))
    assert mask.sum() == 1 and mask[0, 10, 10] == 1
    red = Hint(50, 50, (255, 0, 0), 3)
    blue = Hint(50, 50, (0, 0, 255), 1)
    ab, mask = rasterize_hints([red, blue], (100, 100), (100, 100))
    blue_ab = rgb_to_lab(np.array([0, 0, 1], dtype=np.float32))[1:]
    red_ab = rgb_to_lab(np.array([1, 0, 0], dtype=np.float32))[1:]
    np.testing.assert_allclose(ab[:, 50, 50], blue_ab, atol=1e-4)
    np.testing.assert_allclose(ab[:, 50, 53], red_ab, atol=1e-4)


def test_hints_outside_or_at_edges_of_the_image() -> None:
    outside = Hint(-50, -50, (0, 255, 0), 2)
    edge = Hint(0, 0, (0, 255, 0), 3)
    ab, mask = rasterize_hints([outside], (100, 100), (50, 50))
    assert not mask.any()
    ab, mask = rasterize_hints([edge], (100, 100), (50, 50))
    assert mask[0, 0, 0] == 1 and 0 < mask.sum() < np.pi * 9
