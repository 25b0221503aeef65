"""The ``piggydesk`` command, run as a user would: ``python -m piggydesk ...`` in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from piggydesk import __version__, cli
from piggydesk.core.color import rgb_to_lab
from piggydesk.core.imaging import load_photo
from tests.cli_helpers import one_error_line, piggydesk, piggydesk_together

# The classic engine works at 512 px by default, whatever the photo's size. The tests of files,
# names and exit codes run it at 128 (its colours at the default: the hints-file test's).
SMALL = ("--size", "128")


@pytest.fixture()
def hints_file(tmp_path: Path) -> Path:
    path = tmp_path / "hints.json"
    hints = [
        {"x": 20, "y": 100, "color": "#e06030", "radius": 3},  # orange suit
        {"x": 80, "y": 20, "color": "#d8a890", "radius": 3},  # face
        {"x": 150, "y": 10, "color": "#c8c0b8"},
    ]
    path.write_text(json.dumps({"hints": hints}))
    return path


def test_colorize_with_the_classic_engine_and_a_hints_file(small_photo, hints_file, tmp_path):
    out = tmp_path / "result.png"
    result = piggydesk(
        "colorize",
        small_photo,
        "-o",
        out,
        "--engine",
        "classic",
        "--hints",
        hints_file,
        "--hint",
        "150,110,#3050c0",
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert f"Wrote {out}" in result.stdout
    colour = load_photo(out)
    source = load_photo(small_photo)
    assert colour.size == source.size == (120, 160)
    lab = rgb_to_lab(colour.rgb)
    # The lightness survives (8-bit rounding of the export allows a little more than 0.5).
    assert np.abs(lab[..., 0] - source.lightness).max() < 1.0
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    assert chroma.mean() > 5.0
    # The orange hint shows near where it was put.
    a, b = lab[100, 20, 1:]
    assert a > 15 and b > 15


def test_variants_are_numbered_and_the_classic_engine_says_it_makes_one(small_photo, tmp_path):
    out = tmp_path / "photo.png"
    result = piggydesk(
        "colorize",
        small_photo,
        "-o",
        out,
        "--engine",
        "classic",
        "--hint",
        "20,100,#e06030",
        "--variants",
        "3",
        *SMALL,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "photo-1.png").exists()
    assert not out.exists()
    assert "same result" in result.stdout
    paths = cli.output_paths(Path("dir/photo.tif"), 3)
    assert paths == [Path("dir/photo-1.tif"), Path("dir/photo-2.tif"), Path("dir/photo-3.tif")]
    assert cli.output_paths(Path("photo.jpg"), 1) == [Path("photo.jpg")]


def test_refuses_to_overwrite_unless_asked(small_photo, tmp_path):
    out = tmp_path / "result.tif"
    args = ("colorize", small_photo, "-o", out, "--engine", "classic", "--hint", "5,5,#aa3322",
            *SMALL)
    assert piggydesk(*args).returncode == 0
    before = out.read_bytes()
    refused = piggydesk(*args, "--hint", "100,100,#2233aa")
    assert refused.returncode == 2
    assert "already exists" in one_error_line(refused)
    assert out.read_bytes() == before
    replaced = piggydesk(*args, "--hint", "100,100,#2233aa", "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert out.read_bytes() != before


def test_sixteen_bit_output(small_photo, tmp_path):
    out = tmp_path / "deep.png"
    result = piggydesk(
        "colorize",
        small_photo,
        "-o",
        out,
        "--engine",
        "classic",
        "--hint",
        "5,5,#aa3322",
        "--bit-depth",
        "16",
        *SMALL,
    )
    assert result.returncode == 0, result.stderr
    assert load_photo(out).bit_depth == 16


def test_no_hints_with_classic_writes_the_gray_photo_and_says_why(small_photo, tmp_path):
    result = piggydesk("colorize", small_photo, "-o", tmp_path / "g.png", "--engine", "classic")
    assert result.returncode == 0, result.stderr
    assert "add a few hints" in result.stdout


@pytest.mark.parametrize(
    "make_args",
    [
        pytest.param(lambda d, p: ["colorize", d / "missing.jpg", "-o", d / "o.png"], id="missing"),
        pytest.param(
            lambda d, p: ["colorize", d / "text.png", "-o", d / "o.png"], id="not-a-photo"
        ),
        pytest.param(lambda d, p: ["colorize", d / "empty.jpg", "-o", d / "o.png"], id="empty"),
        pytest.param(lambda d, p: ["colorize", p, "-o", d / "o.gif"], id="bad-extension"),
        pytest.param(lambda d, p: ["colorize", p, "-o", p], id="over-the-source"),
        pytest.param(
            lambda d, p: ["colorize", p, "-o", d / "o.png", "--hint", "1,2,red"], id="bad-hint"
        ),
        pytest.param(
            lambda d, p: [
                "colorize",
                p,
                "-o",
                d / "o.png",
                "--engine",
                "classic",
                "--hint",
                "500,2,#ff0000",
            ],
            id="hint-outside",
        ),
        pytest.param(
            lambda d, p: ["colorize", p, "-o", d / "o.png", "--hints", d / "text.png"],
            id="bad-hints-file",
        ),
        pytest.param(
            lambda d, p: ["colorize", p, "-o", d / "o.png", "--engine", "nope"], id="unknown-engine"
        ),
        pytest.param(
            lambda d, p: ["colorize", p, "-o", d / "o.png", "--variants", "0"], id="zero-variants"
        ),
        pytest.param(  # the app's limit (MAX_VARIANTS); 1,000 were once all written
            lambda d, p: ["colorize", p, "-o", d / "o.png", "--variants", "9"],
            id="too-many-variants",
        ),
        pytest.param(lambda d, p: ["colorize", p], id="no-output"),
        pytest.param(lambda d, p: ["frobnicate"], id="unknown-command"),
        pytest.param(lambda d, p: ["batch", d / "nowhere", "-o", d / "out"], id="no-folder"),
    ],
)
def test_bad_input_is_exit_code_2_and_one_line(make_args, small_photo, tmp_path):
    (tmp_path / "text.png").write_text("this is not a picture\n" * 20)
    (tmp_path / "empty.jpg").write_bytes(b"")
    result = piggydesk(*make_args(tmp_path, small_photo))
    assert result.returncode == 2, (result.stdout, result.stderr)
    line = one_error_line(result)
    assert line.startswith("piggydesk")
    assert not (tmp_path / "o.png").exists()


def test_version_and_help_everywhere():
    commands = ["colorize", "batch", "self-test", "gui", "models"]
    version, top, *helps = piggydesk_together(  # independent processes, side by side
        ["--version"], ["--help"], *([c, "--help"] for c in commands)
    )
    assert version.returncode == 0
    assert version.stdout.strip() == f"piggydesk {__version__}"
    if "models" not in top.stdout:  # a build without the model store
        commands, helps = commands[:-1], helps[:-1]
    for command, result in zip([[], *([c] for c in commands)], [top, *helps]):
        assert result.returncode == 0, (command, result.stderr)
        assert "usage: piggydesk" in result.stdout
    assert "--hints FILE.json" in helps[0].stdout  # colorize --help


def test_batch_skips_a_bad_file_and_lists_it(small_photo, tmp_path):
    photos = tmp_path / "in"
    photos.mkdir()
    for name in ("a.png", "b.jpg"):
        Image.open(small_photo).save(photos / name)
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    (photos / "notes.txt").write_text("not a photo, not even looked at")
    out = tmp_path / "out"
    result = piggydesk(
        "batch",
        photos,
        "-o",
        out,
        "--engine",
        "classic",
        "--hint",
        "20,100,#e06030",
        "--format",
        "tif",
        *SMALL,
    )
    assert result.returncode == 2
    assert "1 of 3 photos failed" in one_error_line(result)
    assert sorted(p.name for p in out.iterdir()) == ["a.tif", "b.tif"]
    assert "Colorized 2 of 3 photos" in result.stdout
    assert "broken.jpg:" in result.stdout

    # Run again: all three fail now (outputs exist) but the batch still goes through them all.
    again = piggydesk("batch", photos, "-o", out, "--engine", "classic", "--format", "tif")
    assert again.returncode == 2
    assert "3 of 3 photos failed" in one_error_line(again)
    assert again.stdout.count("already exists") == 2


def test_batch_all_good_is_exit_code_0(small_photo, tmp_path):
    photos = tmp_path / "in"
    photos.mkdir()
    Image.open(small_photo).save(photos / "only.png")
    result = piggydesk(
        "batch", photos, "-o", tmp_path / "out", "--engine", "classic", "--hint", "20,100,#e06030",
        *SMALL,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "only.png").exists()


def test_self_test_passes():
    result = piggydesk("self-test")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Self-test passed" in result.stdout


def test_self_test_reports_a_broken_engine(monkeypatch, capsys):
    """An engine that returns a gray, wrong-sized result fails the self-test with exit 1."""
    from piggydesk.core.run_settings import RunSettings
    from piggydesk.engines import registry
    from piggydesk.engines.base import Variant

    class Broken:
        name = "classic"

        def colorize(self, request, progress=None, cancel=None):
            h, w = request.image_size
            return [Variant(np.full((h, w, 3), 0.5, np.float32), RunSettings("classic", 0))]

    monkeypatch.setattr(registry, "create_engine", lambda *a, **k: Broken())
    assert cli.main(["self-test", "--engine", "classic"]) == 1
    captured = capsys.readouterr()
    assert "almost gray" in captured.out
    assert len(captured.err.strip().splitlines()) == 1


def test_internal_error_is_one_line_and_the_traceback_goes_to_the_log(
    monkeypatch, capsys, small_photo, tmp_path
):
    from piggydesk.engines import registry

    def explode(*args, **kwargs):
        raise RuntimeError("the flux capacitor\nbroke")

    monkeypatch.setattr(registry, "create_engine", explode)
    code = cli.main(
        [
            "colorize",
            str(small_photo),
            "-o",
            str(tmp_path / "o.png"),
            "--engine",
            "classic",
            "--hint",
            "5,5,#ff0000",
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "internal error: the flux capacitor broke" in err
    log = Path(err.split("(details in ")[1].rstrip().rstrip(")")).read_text()
    assert "Traceback" in log and "RuntimeError" in log


def test_no_arguments_or_a_photo_opens_the_gui(monkeypatch, small_photo):
    calls = []
    fake = types.ModuleType("fake_gui_app")
    fake.main = lambda argv: calls.append(argv) or 0
    monkeypatch.setattr(cli, "_gui_app", lambda: fake)
    assert cli.main([]) == 0
    assert cli.main([str(small_photo)]) == 0
    assert cli.main(["gui", str(small_photo)]) == 0
    assert calls == [[], [str(small_photo)], [str(small_photo)]]


def test_a_missing_gui_is_one_clear_line(monkeypatch, capsys):
    def no_gui():
        raise ModuleNotFoundError("No module named 'PySide6'")

    monkeypatch.setattr(cli, "_gui_app", no_gui)
    assert cli.main([]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "desktop app is not available" in err


def test_the_cli_imports_neither_torch_nor_qt():
    code = (
        "import sys, piggydesk.cli, piggydesk.selftest\n"
        "piggydesk.cli.build_parser()\n"
        "bad = [m for m in ('torch', 'PySide6', 'diffusers') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
