"""``piggydesk repair`` and the repair options of ``colorize`` and ``batch``, run as a user would."""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from piggydesk.core.color import lab_to_rgb, rgb_to_lab
from piggydesk.core.imaging import load_photo
from piggydesk.core.paths import resources_dir
from piggydesk.core.repair.synthetic import add_defects
from piggydesk.training.metrics import psnr
from tests.cli_helpers import one_error_line, piggydesk

SAMPLES = resources_dir() / "samples"


_psnr = functools.partial(psnr, data_range=100.0)  # of L*, which runs 0-100


@pytest.fixture(scope="module")
def scan(tmp_path_factory) -> tuple[Path, np.ndarray, object]:
    """A scanned-looking print: the cat sample enlarged, faded, sepia, dusty and scratched,
    saved as a JPEG; with its clean lightness and the damage's ground truth."""
    folder = tmp_path_factory.mktemp("scan")
    lightness = load_photo(SAMPLES / "chelsea-gray.jpg").lightness
    clean = np.clip(cv2.resize(lightness, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC), 0, 100)
    faded = clean * 0.55 + 30
    damage = add_defects(faded, seed=3)
    lab = np.dstack([damage.lightness, np.full_like(clean, 3.0), np.full_like(clean, 14.0)])
    rgb = (lab_to_rgb(lab) * 255).round().astype(np.uint8)
    path = folder / "scan.jpg"
    Image.fromarray(rgb).save(path, quality=95)
    return path, faded, damage


def test_repair_removes_dust_fades_and_cast(scan, tmp_path):
    path, faded, damage = scan
    out = tmp_path / "repaired.png"
    result = piggydesk("repair", path, "-o", out, "--auto-dust")
    assert result.returncode == 0, result.stderr
    assert f"Wrote {out}" in result.stdout and "dust and scratches" in result.stdout
    before, after = load_photo(path), load_photo(out)
    assert after.size == before.size
    assert _psnr(after.lightness, faded) >= _psnr(before.lightness, faded) + 4

    toned = tmp_path / "toned.png"
    result = piggydesk("repair", path, "-o", toned, "--levels", "--remove-cast")
    assert result.returncode == 0, result.stderr
    photo = load_photo(toned)

    def spread(lightness):
        return np.percentile(lightness, 99) - np.percentile(lightness, 1)

    assert spread(photo.lightness) > 1.3 * spread(before.lightness)  # levels stretched it
    chroma = np.hypot(*rgb_to_lab(photo.rgb)[..., 1:].transpose(2, 0, 1))
    assert np.median(chroma) < 2.0  # the sepia is gone
    assert np.median(np.hypot(*rgb_to_lab(before.rgb)[..., 1:].transpose(2, 0, 1))) > 10


def test_a_brushed_mask_changes_only_its_pixels(tmp_path):
    gray = np.asarray(Image.open(SAMPLES / "coffee-gray.jpg").convert("L")).copy()
    gray[100:103, 50:400] = 255  # a scratch
    source = tmp_path / "scratched.png"
    Image.fromarray(gray).save(source)
    mask = np.zeros_like(gray)
    mask[99:104, 48:402] = 255
    mask_path = tmp_path / "mask.png"
    Image.fromarray(mask).save(mask_path)
    out = tmp_path / "out.png"
    result = piggydesk("repair", source, "-o", out, "--mask", mask_path)
    assert result.returncode == 0, result.stderr
    repaired = np.asarray(Image.open(out).convert("L"))
    outside = mask == 0
    assert np.array_equal(repaired[outside], gray[outside])
    assert repaired[100:103, 50:400].mean() < 200  # the white line is filled in


def test_straighten_and_crop_then_colorize_keeps_hints_on_their_content(tmp_path):
    # a gray card, tilted 4 degrees, with a dark disc where the hint goes
    h, w = 240, 320
    card = np.full((h, w), 180, np.uint8)
    cv2.circle(card, (220, 80), 14, 60, -1)
    turn = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), 4, 1.0)  # counter-clockwise
    tilted = cv2.warpAffine(card, turn, (w, h), flags=cv2.INTER_CUBIC, borderValue=180)
    source = tmp_path / "tilted.png"
    Image.fromarray(tilted).save(source)
    cx, cy = turn @ np.array([220.0, 80.0, 1.0])  # the disc's centre in the input
    out = tmp_path / "colour.png"
    result = piggydesk(
        "colorize", source, "-o", out, "--engine", "classic",
        "--straighten", "4", "--rotate", "90", "--crop", "10,10,180,250",
        "--hint", f"{cx:.1f},{cy:.1f},#d02020,3",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    colour = load_photo(out)
    assert colour.size == (250, 180)
    lab = rgb_to_lab(colour.rgb)
    dark = colour.lightness < 40  # the disc, wherever the geometry put it
    assert dark.sum() > 400
    assert lab[dark][:, 1].mean() > 15  # and it is red: the hint moved with it


def test_batch_repairs_each_photo_with_its_mask_and_lists_a_bad_one(tmp_path):
    photos, masks = tmp_path / "in", tmp_path / "masks"
    photos.mkdir()
    masks.mkdir()
    gray = np.asarray(Image.open(SAMPLES / "camera-gray.jpg").convert("L").resize((200, 160)))
    for name in ("a", "b", "c"):
        Image.fromarray(gray).save(photos / f"{name}.png")
    mask = np.zeros_like(gray)
    mask[50:53, 20:180] = 255
    Image.fromarray(mask).save(masks / "a.png")
    Image.fromarray(np.full((48, 64), 255, np.uint8)).save(masks / "c.png")  # wrong size
    out = tmp_path / "out"
    result = piggydesk(
        "batch", photos, "-o", out, "--engine", "classic", "--mask", masks,
        "--levels", "--rotate", "270",
    )  # fmt: skip
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    # stderr: a progress line per photo, then the one-line verdict
    assert "1 of 3 photos failed" in result.stderr.strip().splitlines()[-1]
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    assert "c.png:" in result.stdout and "a mask must be the size of its photo" in result.stdout
    assert load_photo(out / "a.png").size == (200, 160)  # turned


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--straighten", "60"), "limited to -45 to 45 degrees"),
        (("--crop", "1,2,3"), "X,Y,WIDTH,HEIGHT"),
        (("--levels", "2"), "between 0 and 1"),
        (("--mask", "missing.png"), "does not exist"),
    ],
)
def test_bad_repair_options_are_one_line_and_exit_2(scan, tmp_path, args, message):
    path, _, _ = scan
    result = piggydesk("repair", path, "-o", tmp_path / "x.png", *args)
    assert result.returncode == 2
    assert message in one_error_line(result)
    assert not (tmp_path / "x.png").exists()


def test_a_mask_of_the_wrong_size_is_refused(scan, tmp_path):
    path, _, _ = scan
    result = piggydesk(
        "repair", path, "-o", tmp_path / "x.png", "--mask", SAMPLES / "camera-gray.jpg"
    )
    assert result.returncode == 2
    assert "a mask must be the size of its photo" in one_error_line(result)
