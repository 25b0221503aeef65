"""Draw the PiggyDesk icon (a piggy bank swallowing a half-coloured photo) and write every size.

Run from the repository root: ``python installer/make_icons.py``. It writes
``resources/icons/piggydesk-<N>.png`` for N in 16..1024, ``piggydesk.png`` (512 px),
``piggydesk.ico`` (Windows, 16..256) and ``piggydesk.icns`` (macOS, 16..1024). The drawing is
plain Pillow geometry, so the icon is ours to ship and can be regenerated at any time.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter

logger = logging.getLogger(__name__)

PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512, 1024)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
CANVAS = 1024
SUPERSAMPLE = 2

SKY_TOP = (120, 205, 240)
SKY_BOTTOM = (38, 120, 178)
PIG = (247, 163, 196)
PIG_SHADE = (232, 122, 168)
PIG_LINE = (176, 62, 118)
SNOUT = (240, 132, 176)
INK = (64, 30, 52)


def _scaled(values: tuple[float, ...], scale: float) -> tuple[float, ...]:
    return tuple(v * scale for v in values)


def _rounded_mask(size: int, radius: int) -> Image.Image:
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, size - 1, size - 1), radius=radius, fill=255)
    return mask


def _gradient(size: int, top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Image.Image:
    column = Image.new("RGB", (1, size))
    for y in range(size):
        t = y / max(size - 1, 1)
        column.putpixel((0, y), tuple(round(a + (b - a) * t) for a, b in zip(top, bottom)))
    return column.resize((size, size))


def _photo(width: int, height: int, s: float) -> Image.Image:
    """A white-framed snapshot: the left half still grey, the right half already in colour."""
    frame = Image.new("RGBA", (width, height), (255, 255, 255, 255))
    border = round(34 * s)
    inner_w, inner_h = width - 2 * border, height - border - round(70 * s)
    scene = Image.new("RGB", (inner_w, inner_h), (150, 205, 245))
    draw = ImageDraw.Draw(scene)
    draw.ellipse(
        (inner_w * 0.62, inner_h * 0.12, inner_w * 0.86, inner_h * 0.12 + inner_w * 0.24),
        fill=(255, 206, 84),
    )
    draw.ellipse((-inner_w * 0.3, inner_h * 0.55, inner_w * 0.75, inner_h * 1.6), fill=(96, 178, 92))
    draw.ellipse((inner_w * 0.35, inner_h * 0.68, inner_w * 1.4, inner_h * 1.7), fill=(66, 148, 76))
    # a little house with a red roof
    hx, hy = inner_w * 0.18, inner_h * 0.52
    draw.rectangle((hx, hy, hx + inner_w * 0.22, hy + inner_h * 0.22), fill=(250, 236, 205))
    draw.polygon(
        [(hx - inner_w * 0.04, hy), (hx + inner_w * 0.11, hy - inner_h * 0.16),
         (hx + inner_w * 0.26, hy)],
        fill=(214, 72, 60),
    )
    grey = scene.convert("L").convert("RGB")
    half = Image.new("L", (inner_w, inner_h), 0)
    ImageDraw.Draw(half).rectangle((inner_w // 2, 0, inner_w, inner_h), fill=255)
    scene = Image.composite(scene, grey, half)
    frame.paste(scene, (border, border))
    return frame


def draw_icon(size: int = CANVAS) -> Image.Image:
    """The icon at ``size`` pixels (drawn at twice that and reduced, for smooth edges)."""
    big = size * SUPERSAMPLE
    s = big / CANVAS
    radius = round(225 * s)

    background = _gradient(big, SKY_TOP, SKY_BOTTOM).convert("RGBA")
    background.putalpha(_rounded_mask(big, radius))
    layer = Image.new("RGBA", (big, big), (0, 0, 0, 0))

    # The photo going into the slot: drawn first, the pig's body then hides its lower part.
    photo = _photo(round(360 * s), round(400 * s), s).rotate(
        -14, resample=Image.BICUBIC, expand=True
    )
    shadow = Image.new("RGBA", photo.size, (20, 40, 60, 0))
    shadow.putalpha(photo.getchannel("A").point(lambda a: a * 0.35))
    shadow = shadow.filter(ImageFilter.GaussianBlur(10 * s))
    px, py = round(400 * s), round(40 * s)
    layer.alpha_composite(shadow, (px + round(14 * s), py + round(16 * s)))
    layer.alpha_composite(photo, (px, py))

    pig = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    d = ImageDraw.Draw(pig)
    line = round(16 * s)
    # legs
    for x0 in (300, 420, 610, 730):
        d.rounded_rectangle(
            _scaled((x0, 730, x0 + 104, 880), s), radius=round(34 * s), fill=PIG_SHADE,
            outline=PIG_LINE, width=line,
        )
    # tail: a curl behind the body on the right
    d.arc(_scaled((800, 470, 940, 610), s), start=120, end=470, fill=PIG_LINE, width=round(22 * s))
    # ear at the back
    d.polygon(_scaled((300, 420, 330, 250, 450, 350), s), fill=PIG_SHADE, outline=PIG_LINE)
    # body
    d.ellipse(_scaled((150, 330, 880, 830), s), fill=PIG, outline=PIG_LINE, width=line)
    # belly highlight
    d.ellipse(_scaled((250, 640, 720, 800), s), fill=(251, 190, 214))
    # front ear
    d.polygon(_scaled((360, 410, 400, 240, 500, 380), s), fill=PIG, outline=PIG_LINE)
    d.line(_scaled((360, 410, 400, 240, 500, 380), s), fill=PIG_LINE, width=line, joint="curve")
    # snout
    d.ellipse(_scaled((70, 520, 250, 680), s), fill=SNOUT, outline=PIG_LINE, width=line)
    for nx in (120, 178):
        d.ellipse(_scaled((nx, 570, nx + 30, 632), s), fill=PIG_LINE)
    # eye with a sparkle, and a rosy cheek
    d.ellipse(_scaled((300, 470, 362, 540), s), fill=INK)
    d.ellipse(_scaled((322, 482, 342, 502), s), fill=(255, 255, 255))
    d.ellipse(_scaled((300, 580, 390, 640), s), fill=(245, 120, 160))
    # coin slot where the photo goes in
    d.rounded_rectangle(_scaled((470, 372, 700, 406), s), radius=round(17 * s), fill=INK)

    # The photo must look as if it enters the slot: cut the photo where the body covers it,
    # except above the slot line.
    body_mask = Image.new("L", (big, big), 0)
    ImageDraw.Draw(body_mask).ellipse(_scaled((150, 330, 880, 830), s), fill=255)
    keep_above = Image.new("L", (big, big), 0)
    ImageDraw.Draw(keep_above).rectangle((0, 0, big, round(392 * s)), fill=255)
    hide = ImageChops.subtract(body_mask, keep_above)
    photo_alpha = layer.getchannel("A")
    layer.putalpha(ImageChops.subtract(photo_alpha, hide))

    pig_shadow = Image.new("RGBA", (big, big), (10, 30, 50, 0))
    pig_shadow.putalpha(pig.getchannel("A").point(lambda a: a * 0.3))
    pig_shadow = pig_shadow.filter(ImageFilter.GaussianBlur(14 * s))

    out = background
    out.alpha_composite(pig_shadow, (round(10 * s), round(18 * s)))
    out.alpha_composite(layer)
    out.alpha_composite(pig)
    # keep everything inside the rounded square
    out.putalpha(ImageChops.multiply(out.getchannel("A"), _rounded_mask(big, radius)))
    return out.resize((size, size), Image.LANCZOS)


def write_icons(out_dir: Path) -> list[Path]:
    """Write the PNG sizes, the .ico and the .icns into ``out_dir``; return what was written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    master = draw_icon(CANVAS)
    written = []
    images = {}
    for size in PNG_SIZES:
        # Small sizes are reduced from a mid-size drawing (less ringing than from 1024).
        source = master if size >= 256 else draw_icon(size * 4)
        image = source.resize((size, size), Image.LANCZOS) if source.size[0] != size else source
        images[size] = image
        path = out_dir / f"piggydesk-{size}.png"
        image.save(path, optimize=True)
        written.append(path)
    main_png = out_dir / "piggydesk.png"
    images[512].save(main_png, optimize=True)
    ico = out_dir / "piggydesk.ico"
    images[256].save(ico, sizes=[(n, n) for n in ICO_SIZES],
                     append_images=[images[n] for n in ICO_SIZES if n != 256])
    icns = out_dir / "piggydesk.icns"
    master.save(icns, append_images=[images[n] for n in (16, 32, 64, 128, 256, 512)])
    written += [main_png, ico, icns]
    for path in written:
        logger.info("wrote %s", path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = Path(__file__).resolve().parent.parent
    parser.add_argument("--out", type=Path, default=root / "resources" / "icons")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    write_icons(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

