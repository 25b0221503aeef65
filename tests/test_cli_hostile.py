"""The command line against hostile or careless input, run as a user would (a subprocess).

Bad hints (NaN, infinite or negative radius, ``"x": true``, a file nested 100,000 deep), a
corrupt ``--model``, outputs that must not be written, batches whose photos share a name, a
rerun over a half-done batch, and leftovers of a write that was killed: each ends in one
clear line and exit status 2, or in the right files, never in a traceback or a lost result.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from piggydesk.core.paths import resources_dir
from tests.cli_helpers import piggydesk

HINT = "20,100,#e06030"
# The classic engine works at 512 px by default, whatever the photo's size; the tests below that
# let it colorize are about files and messages, so they run it at 128 (test_cli checks its
# colours at the default).
SMALL = ("--size", "128")


def refused(result: subprocess.CompletedProcess, *fragments: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "internal error" not in lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture()
def photo(small_photo: Path) -> Path:
    return small_photo  # conftest's 160x120 gray crop


@pytest.fixture()
def broken_model(tmp_path: Path) -> Path:
    """An instant model folder whose weights file is garbage (the config is the shipped one)."""
    shipped = resources_dir() / "models" / "instant"
    folder = tmp_path / "broken-model"
    folder.mkdir()
    shutil.copy(shipped / "config.json", folder / "config.json")
    (folder / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    return folder


# ----------------------------------------------------------------------------- hints


@pytest.mark.parametrize("radius", ["nan", "inf", "-3"])
def test_bad_hint_radius_on_the_command_line_is_refused(photo, tmp_path, radius):
    result = piggydesk("colorize", photo, "-o", tmp_path / "out.png", "--engine", "classic",
                       "--hint", f"20,100,#e06030,{radius}")
    refused(result, "radius")
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize(
    ("hint", "fragment"),
    [
        ('{"x": 20, "y": 100, "color": "#e06030", "radius": NaN}', "not a number PiggyDesk"),
        ('{"x": 20, "y": 100, "color": "#e06030", "radius": 1e400}', "out of range"),
        ('{"x": 20, "y": 100, "color": "#e06030", "radius": -1}', "radius -1"),
        ('{"x": true, "y": 100, "color": "#e06030"}', "x is not a number"),
        ('{"x": 20, "y": 100, "color": 255}', "colour is not text"),
        ('{"x": 20, "y": 100}', "no 'color'"),
    ],
)
def test_bad_hint_in_a_hints_file_is_refused(photo, tmp_path, hint, fragment):
    hints = tmp_path / "hints.json"
    hints.write_text('{"hints": [' + hint + "]}")
    result = piggydesk("colorize", photo, "-o", tmp_path / "out.png", "--engine", "classic",
                       "--hints", hints)
    refused(result, fragment)


def test_deeply_nested_hints_file_is_refused(photo, tmp_path):
    hints = tmp_path / "deep.json"
    hints.write_text('{"hints": ' + "[" * 100_000 + "]" * 100_000 + "}")
    refused(piggydesk("colorize", photo, "-o", tmp_path / "out.png", "--engine", "classic",
                      "--hints", hints), "nested")


# ----------------------------------------------------------------------------- models


def test_corrupt_instant_weights_are_one_clear_line(photo, tmp_path, broken_model):
    result = piggydesk("colorize", photo, "-o", tmp_path / "out.png", "--engine", "instant",
                       "--model", broken_model)
    refused(result, "model.safetensors", "unusable")


def test_instant_config_that_is_a_list_is_one_clear_line(photo, tmp_path):
    shipped = resources_dir() / "models" / "instant"
    folder = tmp_path / "list-config"
    folder.mkdir()
    os.symlink(shipped / "model.safetensors", folder / "model.safetensors")
    (folder / "config.json").write_text("[1, 2, 3]")
    result = piggydesk("colorize", photo, "-o", tmp_path / "out.png", "--engine", "instant",
                       "--model", folder)
    refused(result, "config.json", "not an object")


# ----------------------------------------------------------------------------- early checks
# What can be refused without the engine is refused before the engine (and torch, seconds of
# start-up) is loaded: the command runs in a subprocess that reports whether torch was imported.

_MAIN = (
    "import sys\n"
    "from piggydesk.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "print('torch imported' if 'torch' in sys.modules else 'torch not imported')\n"
    "sys.exit(code)\n"
)


def piggydesk_no_engine(*args: object) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-c", _MAIN, *map(str, args)],
                            capture_output=True, text=True)
    assert "torch not imported" in result.stdout, result.stdout + result.stderr
    return result


def test_output_over_the_source_is_refused_before_the_engine_loads(photo):
    before = photo.read_bytes()
    refused(piggydesk_no_engine("colorize", photo, "-o", photo, "--overwrite"),
            "never writes over")
    assert photo.read_bytes() == before


def test_output_that_is_a_folder_is_refused_before_the_engine_loads(photo, tmp_path):
    folder = tmp_path / "out.png"
    folder.mkdir()
    refused(piggydesk_no_engine("colorize", photo, "-o", folder, "--overwrite"), "is a folder")


def test_hint_outside_the_photo_is_refused_before_the_engine_loads(photo, tmp_path):
    refused(piggydesk_no_engine("colorize", photo, "-o", tmp_path / "out.png",
                                "--hint", "500,10,#ff0000"), "outside the photo")


def test_bad_hints_file_is_refused_before_the_engine_loads(photo, tmp_path):
    hints = tmp_path / "hints.json"
    hints.write_text('{"hints": [{"x": 1, "y": 1, "color": "#ff0000", "radius": -4}]}')
    refused(piggydesk_no_engine("batch", photo.parent, "-o", tmp_path / "out",
                                "--hints", hints), "radius")


def test_first_frame_note_reaches_the_user(photo, tmp_path):
    gif = tmp_path / "animated.gif"
    first = Image.open(photo).convert("L")
    second = Image.fromarray(255 - np.asarray(first))
    first.save(gif, save_all=True, append_images=[second], duration=100, loop=0)
    result = piggydesk("colorize", gif, "-o", tmp_path / "out.png", "--engine", "classic",
                       "--hint", HINT, *SMALL)
    assert result.returncode == 0, result.stderr
    assert "Note: animated.gif has 2 frames; PiggyDesk uses the first one." in result.stdout


# ----------------------------------------------------------------------------- batch


def test_batch_photos_sharing_a_name_keep_every_result(photo, tmp_path):
    photos = tmp_path / "in"
    photos.mkdir()
    image = Image.open(photo)
    image.save(photos / "scan.jpg")
    image.save(photos / "scan.jpeg")
    image.save(photos / "scan.png")
    out = tmp_path / "out"
    result = piggydesk("batch", photos, "-o", out, "--engine", "classic", "--hint", HINT,
                       "--overwrite", *SMALL)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["scan-jpeg.png", "scan-png.png", "scan.png"]
    assert "Colorized 3 of 3 photos" in result.stdout
    assert "scan.jpeg shares its name with another photo; its result is scan-jpeg.png" in (
        result.stdout)


def test_batch_into_the_photos_own_folder_never_plans_over_a_photo(photo, tmp_path):
    photos = tmp_path / "in"
    photos.mkdir()
    Image.open(photo).save(photos / "scan.png")
    before = (photos / "scan.png").read_bytes()
    result = piggydesk("batch", photos, "-o", photos, "--engine", "classic", "--hint", HINT,
                       "--overwrite", *SMALL)
    assert result.returncode == 0, result.stderr
    assert (photos / "scan.png").read_bytes() == before
    assert (photos / "scan-png.png").is_file()


def test_rerun_with_skip_existing_counts_skips_apart_from_failures(photo, tmp_path):
    photos = tmp_path / "in"
    photos.mkdir()
    for name in ("a.png", "b.png", "c.png"):
        Image.open(photo).save(photos / name)
    out = tmp_path / "out"
    first = piggydesk("batch", photos, "-o", out, "--engine", "classic", "--hint", HINT,
                      *SMALL)
    assert first.returncode == 0, first.stderr
    (out / "b.png").unlink()  # as if the first batch had been interrupted before b
    kept = (out / "a.png").stat().st_mtime_ns
    again = piggydesk("batch", photos, "-o", out, "--engine", "classic", "--hint", HINT,
                      "--skip-existing", *SMALL)
    assert again.returncode == 0, again.stderr
    assert "Colorized 1 of 3 photos" in again.stdout and "2 already done" in again.stdout
    assert "failed" not in again.stdout + again.stderr
    assert (out / "b.png").is_file() and (out / "a.png").stat().st_mtime_ns == kept
    both = piggydesk("batch", photos, "-o", out, "--skip-existing", "--overwrite")
    refused(both, "not both")


def test_stale_temporary_files_of_a_killed_write_are_cleaned(photo, tmp_path):
    photos = tmp_path / "in"
    photos.mkdir()
    Image.open(photo).save(photos / "a.png")
    out = tmp_path / "out"
    out.mkdir()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    dead = out / f".a.png.{gone}-0123abcd.piggydesk-tmp"  # its writer was killed
    dead.write_bytes(b"half a png")
    legacy = out / ".b.png.89abcdef.piggydesk-tmp"  # an old-style name, two days old
    legacy.write_bytes(b"half a png")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(legacy, (two_days_ago, two_days_ago))
    alive = out / f".c.png.{os.getpid()}-fedc4321.piggydesk-tmp"  # a live writer's: kept
    alive.write_bytes(b"being written")
    foreign = out / ".d.png.tmp"  # not ours: never touched
    foreign.write_bytes(b"someone else's")
    result = piggydesk("batch", photos, "-o", out, "--engine", "classic", "--hint", HINT,
                       *SMALL)
    assert result.returncode == 0, result.stderr
    assert not dead.exists() and not legacy.exists()
    assert alive.exists() and foreign.exists()
    assert (out / "a.png").is_file()
    leftovers = [p.name for p in out.iterdir() if p.name.endswith(".piggydesk-tmp")]
    assert leftovers == [alive.name]
