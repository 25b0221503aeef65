"""The README's before/after strip (``docs/before-after.jpg``), made by the shipped instant
engine from the bundled sample photos, through the ``piggydesk`` command as a user runs it.

Three rows: the astronaut sample (its gray version; the instant engine with no hints; the same
with the sample's hints file; the original colour photo), the cat sample (gray; automatic;
original) and the toy-car photo, which the engine never saw in training (gray; automatic;
original). Run it again whenever the instant engine's weights change::

    python docs/make_before_after.py            # writes docs/before-after.jpg
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
SAMPLES = ROOT / "resources" / "samples"
TILE = 300
CAPTION = 26


def colorize(photo: Path, out: Path, *extra: str) -> Path:
    result = subprocess.run(
        [sys.executable, "-m", "piggydesk", "colorize", str(photo), "-o", str(out),
         "--engine", "instant", "--device", "cpu", "--overwrite", *extra],
        cwd=ROOT, capture_output=True, text=True, check=False,
        env=dict(os.environ, PIGGYDESK_HOME=str(out.parent / "home")),
    )
    if result.returncode != 0:
        raise SystemExit(f"make_before_after: {result.stderr.strip()}")
    return out


def _font() -> ImageFont.ImageFont:
    for name in ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"):
        try:
            return ImageFont.truetype(name, 16)
        except OSError:
            continue
    return ImageFont.load_default()


def strip(rows: list[list[tuple[Path, str]]]) -> Image.Image:
    """Tiles of at most TILE x TILE pixels, a caption above each, rows as tall as their
    tallest tile."""
    tiles = []
    for row in rows:
        loaded = []
        for path, label in row:
            with Image.open(path) as image:
                tile = image.convert("RGB")
            tile.thumbnail((TILE - 8, TILE - 8))
            loaded.append((tile, label))
        tiles.append(loaded)
    heights = [max(t.height for t, _ in row) + 8 + CAPTION for row in tiles]
    columns = max(len(r) for r in rows)
    sheet = Image.new("RGB", (columns * TILE, sum(heights)), "white")
    draw, font = ImageDraw.Draw(sheet), _font()
    top = 0
    for row, height in zip(tiles, heights):
        for c, (tile, label) in enumerate(row):
            sheet.paste(tile, (c * TILE + (TILE - tile.width) // 2, top + CAPTION))
            width = draw.textlength(label, font=font)
            draw.text((c * TILE + (TILE - width) / 2, top + 5), label, fill=(30, 30, 30),
                      font=font)
        top += height
    return sheet


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DOCS / "before-after.jpg")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        astronaut = SAMPLES / "astronaut-gray.jpg"
        cat = SAMPLES / "chelsea-gray.jpg"
        car = SAMPLES / "rc-car-gray.jpg"  # held out of training
        rows = [
            [(astronaut, "Before (gray)"),
             (colorize(astronaut, work / "astronaut-auto.png"), "Instant, no hints"),
             (colorize(astronaut, work / "astronaut-hints.png", "--hints",
                       str(SAMPLES / "astronaut-hints.json")), "Instant, 81 hints"),
             (SAMPLES / "astronaut-color.jpg", "Original colour")],
            [(cat, "Before (gray)"),
             (colorize(cat, work / "cat-auto.png"), "Instant, no hints"),
             (SAMPLES / "chelsea-color.jpg", "Original colour")],
            [(car, "Before (gray, never trained on)"),
             (colorize(car, work / "car-auto.png"), "Instant, no hints"),
             (SAMPLES / "rc-car-color.jpg", "Original colour")],
        ]
        strip(rows).save(args.out, quality=90, optimize=True)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
