"""Reading photos: formats, bit depths, orientation, metadata and every kind of bad input."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import ExifTags, Image, ImageCms, ImageOps

from piggydesk.core.color import rgb_to_lightness
from piggydesk.core.errors import PhotoError
from piggydesk.core.imaging import MAX_PIXELS, Photo, load_photo, load_photo_bytes, photo_from_array
from piggydesk.core.metadata import date_taken, read_exif_tags


def _gradient(h: int = 48, w: int = 64) -> np.ndarray:
    """An RGB uint8 picture whose every pixel differs from its neighbours."""
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 255 // (w - 1), yy * 255 // (h - 1), (xx + yy) % 256], -1).astype(
        np.uint8
    )


def _srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _exif(orientation: int = 1, date: str | None = "1958:06:01 14:05:00") -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Kodak"
    exif[ExifTags.Base.Orientation] = orientation
    if date:
        exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = date
    return exif


# ----------------------------------------------------------------------------- good files


def test_png_rgb_8bit_exact(tmp_path: Path) -> None:
    pixels = _gradient()
    Image.fromarray(pixels).save(tmp_path / "a.png")
    photo = load_photo(tmp_path / "a.png")
    assert isinstance(photo, Photo)
    assert photo.size == (48, 64)
    assert photo.bit_depth == 8
    assert photo.format == "PNG"
    assert photo.rgb.dtype == np.float32 and photo.rgb.shape == (48, 64, 3)
    np.testing.assert_array_equal(np.rint(photo.rgb * 255).astype(np.uint8), pixels)
    np.testing.assert_allclose(photo.lightness, rgb_to_lightness(pixels / 255.0), atol=1e-4)
    assert photo.is_color
    assert photo.path == tmp_path / "a.png"


def test_gray_jpeg_is_not_colour(tmp_path: Path) -> None:
    gray = _gradient()[..., 0]
    Image.fromarray(np.repeat(gray[..., None], 3, axis=2)).save(tmp_path / "g.jpg", quality=90)
    photo = load_photo(tmp_path / "g.jpg")
    assert not photo.is_color
    assert photo.format == "JPEG"


def test_sepia_photo_is_accepted_as_colour(tmp_path: Path) -> None:
    gray = _gradient()[..., 0].astype(np.float32) / 255.0
    sepia = np.stack([gray * 1.0, gray * 0.85, gray * 0.6], -1)
    Image.fromarray(np.rint(sepia * 255).astype(np.uint8)).save(tmp_path / "sepia.png")
    photo = load_photo(tmp_path / "sepia.png")
    assert photo.is_color
    expected = rgb_to_lightness(np.rint(sepia * 255) / 255.0)
    np.testing.assert_allclose(photo.lightness, expected, atol=1e-4)


def test_16bit_rgb_png_keeps_all_bits(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 65536, size=(40, 50, 3), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), pixels[..., ::-1])
    photo = load_photo(tmp_path / "deep.png")
    assert photo.bit_depth == 16
    np.testing.assert_array_equal(np.rint(photo.rgb * 65535).astype(np.uint16), pixels)
    expected = rgb_to_lightness(pixels.astype(np.float32) / 65535.0)
    np.testing.assert_allclose(photo.lightness, expected, atol=1e-4)
    truncated = rgb_to_lightness((pixels >> 8).astype(np.float32) / 255.0)
    assert np.abs(photo.lightness - truncated).max() > 0.05  # really from the 16-bit values


def test_16bit_gray_png(tmp_path: Path) -> None:
    ramp = np.linspace(0, 65535, 64 * 48).reshape(48, 64).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "gray16.png"), ramp)
    photo = load_photo(tmp_path / "gray16.png")
    assert photo.bit_depth == 16
    assert not photo.is_color
    np.testing.assert_array_equal(np.rint(photo.rgb[..., 1] * 65535).astype(np.uint16), ramp)
    # neighbouring 16-bit levels give different lightness (8 bits would merge them)
    assert len(np.unique(photo.lightness)) > 2000


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_16bit_rgb_tiff(tmp_path: Path, compression: str | None) -> None:
    rng = np.random.default_rng(2)
    pixels = rng.integers(0, 65536, size=(40, 50, 3), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "deep.tif", pixels, photometric="rgb", compression=compression)
    photo = load_photo(tmp_path / "deep.tif")
    assert photo.bit_depth == 16
    assert photo.format == "TIFF"
    np.testing.assert_array_equal(np.rint(photo.rgb * 65535).astype(np.uint16), pixels)


def test_16bit_gray_tiff_and_planar_rgb(tmp_path: Path) -> None:
    gray = np.linspace(0, 65535, 48 * 64).reshape(48, 64).astype(np.uint16)
    tifffile.imwrite(tmp_path / "g.tif", gray, photometric="minisblack")
    photo = load_photo(tmp_path / "g.tif")
    assert photo.bit_depth == 16 and not photo.is_color
    np.testing.assert_array_equal(np.rint(photo.rgb[..., 0] * 65535).astype(np.uint16), gray)

    planar = np.stack([gray, gray[::-1], gray[:, ::-1]])  # (3, H, W)
    tifffile.imwrite(tmp_path / "p.tif", planar, photometric="rgb", planarconfig="separate")
    photo = load_photo(tmp_path / "p.tif")
    np.testing.assert_array_equal(
        np.rint(photo.rgb * 65535).astype(np.uint16), np.moveaxis(planar, 0, -1)
    )


def test_cmyk_tiff(tmp_path: Path) -> None:
    cmyk = np.zeros((40, 40, 4), dtype=np.uint8)
    cmyk[:20, :, 0] = 255  # cyan ink on the top half
    cmyk[20:, :, 3] = 128  # half black on the bottom half
    Image.fromarray(cmyk, mode="CMYK").save(tmp_path / "cmyk.tif")
    photo = load_photo(tmp_path / "cmyk.tif")
    np.testing.assert_allclose(photo.rgb[5, 5], [0.0, 1.0, 1.0], atol=1 / 255)
    np.testing.assert_allclose(photo.rgb[30, 5], [127 / 255] * 3, atol=1.5 / 255)
    assert photo.is_color


def test_palette_png(tmp_path: Path) -> None:
    index = (np.arange(48 * 64).reshape(48, 64) % 3).astype(np.uint8)
    image = Image.fromarray(index, mode="P")
    image.putpalette([200, 30, 40, 10, 220, 50, 5, 6, 250] + [0] * (256 * 3 - 9))
    image.save(tmp_path / "pal.png")
    photo = load_photo(tmp_path / "pal.png")
    colours = np.array([[200, 30, 40], [10, 220, 50], [5, 6, 250]], dtype=np.float32) / 255
    np.testing.assert_allclose(photo.rgb, colours[index], atol=1e-6)


def test_rgba_png_is_flattened_onto_white(tmp_path: Path) -> None:
    rgba = np.zeros((40, 40, 4), dtype=np.uint8)
    rgba[..., 0] = 255
    rgba[:, :20, 3] = 255  # left half opaque red, right half fully transparent
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "rgba.png")
    photo = load_photo(tmp_path / "rgba.png")
    np.testing.assert_allclose(photo.rgb[10, 5], [1, 0, 0], atol=1e-6)
    np.testing.assert_allclose(photo.rgb[10, 35], [1, 1, 1], atol=1e-6)


@pytest.mark.parametrize("fmt,suffix", [("BMP", ".bmp"), ("WEBP", ".webp")])
def test_bmp_and_webp(tmp_path: Path, fmt: str, suffix: str) -> None:
    options = {"lossless": True} if fmt == "WEBP" else {}
    Image.fromarray(_gradient()).save(tmp_path / f"x{suffix}", fmt, **options)
    photo = load_photo(tmp_path / f"x{suffix}")
    assert photo.format == fmt
    np.testing.assert_allclose(photo.rgb, _gradient() / 255.0, atol=1.5 / 255)


def _frames() -> list[Image.Image]:
    return [
        Image.fromarray(np.full((40, 40, 3), value, dtype=np.uint8))
        for value in ((250, 10, 10), (10, 250, 10), (10, 10, 250))
    ]


@pytest.mark.parametrize("fmt,suffix", [("GIF", ".gif"), ("WEBP", ".webp")])
def test_animation_uses_first_frame_and_says_so(tmp_path: Path, fmt: str, suffix: str) -> None:
    frames = _frames()
    options = {"lossless": True} if fmt == "WEBP" else {}
    frames[0].save(
        tmp_path / f"anim{suffix}",
        fmt,
        save_all=True,
        append_images=frames[1:],
        duration=100,
        loop=0,
        **options,
    )
    photo = load_photo(tmp_path / f"anim{suffix}")
    assert photo.rgb[20, 20, 0] > 0.9 and photo.rgb[20, 20, 1] < 0.1  # the red first frame
    assert any("3 frames" in note and "first" in note for note in photo.notes)


def test_multipage_tiff_uses_first_page(tmp_path: Path) -> None:
    pages = np.stack([np.full((40, 40), v, dtype=np.uint16) for v in (1000, 60000)])
    tifffile.imwrite(tmp_path / "pages.tif", pages)
    photo = load_photo(tmp_path / "pages.tif")
    assert photo.size == (40, 40)
    assert abs(photo.rgb[0, 0, 0] - 1000 / 65535) < 1e-6


# ----------------------------------------------------------------------------- orientation + metadata


def test_jpeg_orientation_6_is_rotated(tmp_path: Path) -> None:
    pixels = np.zeros((40, 60, 3), dtype=np.uint8)  # landscape, bright block top-left
    pixels[:10, :15] = 255
    Image.fromarray(pixels).save(tmp_path / "o6.jpg", quality=95, exif=_exif(6))
    photo = load_photo(tmp_path / "o6.jpg")
    assert photo.size == (60, 40)  # portrait once rotated 90 degrees clockwise
    # clockwise rotation takes the top-left corner to the top-right corner
    assert photo.lightness[:8, -8:].mean() > 90
    assert photo.lightness[:8, :8].mean() < 10
    assert read_exif_tags(photo.exif)[ExifTags.Base.Orientation] == 1


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_matches_pillow(tmp_path: Path, orientation: int) -> None:
    pixels = _gradient(40, 56)
    Image.fromarray(pixels).save(tmp_path / "o.png", exif=_exif(orientation))
    photo = load_photo(tmp_path / "o.png")
    with Image.open(tmp_path / "o.png") as image:
        expected = np.asarray(ImageOps.exif_transpose(image))
    np.testing.assert_array_equal(np.rint(photo.rgb * 255).astype(np.uint8), expected)


def test_icc_and_exif_are_kept(tmp_path: Path) -> None:
    icc = _srgb_icc()
    Image.fromarray(_gradient()).save(
        tmp_path / "m.jpg", quality=95, icc_profile=icc, exif=_exif(3, "1962:07:14 10:30:00")
    )
    photo = load_photo(tmp_path / "m.jpg")
    assert photo.icc_profile == icc
    assert photo.exif is not None and photo.exif.startswith(b"Exif\x00\x00")
    assert date_taken(photo.exif) == "1962:07:14 10:30:00"
    tags = read_exif_tags(photo.exif)
    assert tags[ExifTags.Base.Make] == "Kodak"
    assert tags[ExifTags.Base.Orientation] == 1


def test_gray_icc_profile_is_not_carried_to_rgb(tmp_path: Path) -> None:
    gray_icc = bytearray(_srgb_icc())
    gray_icc[16:20] = b"GRAY"
    Image.fromarray(_gradient()[..., 0]).save(tmp_path / "g.png", icc_profile=bytes(gray_icc))
    assert load_photo(tmp_path / "g.png").icc_profile is None


# ----------------------------------------------------------------------------- bad input


def _expect_error(path: Path, *words: str) -> str:
    with pytest.raises(PhotoError) as info:
        load_photo(path)
    message = str(info.value)
    for word in words:
        assert word in message, message
    assert "Traceback" not in message
    return message


def test_missing_file_and_folder(tmp_path: Path) -> None:
    _expect_error(tmp_path / "nope.jpg", "does not exist")
    _expect_error(tmp_path, "folder")


def test_zero_byte_file(tmp_path: Path) -> None:
    (tmp_path / "empty.jpg").write_bytes(b"")
    _expect_error(tmp_path / "empty.jpg", "empty")


def test_text_named_png(tmp_path: Path) -> None:
    (tmp_path / "notes.png").write_text("Grandma's photos, 1950s\nbox 3\n", encoding="utf-8")
    _expect_error(tmp_path / "notes.png", "not a picture PiggyDesk can read", "looks like text")


def test_web_page_named_jpg(tmp_path: Path) -> None:
    (tmp_path / "photo.jpg").write_text("<!DOCTYPE html><html><body>404</body></html>")
    _expect_error(tmp_path / "photo.jpg", "web page")


def test_random_bytes(tmp_path: Path) -> None:
    (tmp_path / "noise.tif").write_bytes(np.random.default_rng(0).bytes(3000))
    _expect_error(tmp_path / "noise.tif", "not a picture")


def test_truncated_jpeg(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    noisy = rng.integers(0, 256, size=(200, 200, 3), dtype=np.uint8)
    Image.fromarray(noisy).save(tmp_path / "full.jpg", quality=95)
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    _expect_error(tmp_path / "cut.jpg", "damaged or incomplete")


def test_truncated_png(tmp_path: Path) -> None:
    Image.fromarray(_gradient(200, 200)).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    _expect_error(tmp_path / "cut.png", "damaged or incomplete")


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_decompression_bomb_header_is_refused_before_decoding(tmp_path: Path) -> None:
    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)  # 30000x30000 gray
    idat = zlib.compress(b"\x00" * 100)
    png = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat)
    png += _png_chunk(b"IEND", b"")
    (tmp_path / "bomb.png").write_bytes(png)
    assert len(png) < 200
    message = _expect_error(tmp_path / "bomb.png", "30000x30000", "megapixels")
    assert f"{MAX_PIXELS // 1_000_000}" in message


def test_large_but_allowed_header_is_not_a_bomb() -> None:
    assert 20000 * 6000 <= MAX_PIXELS  # a big panorama scan is still accepted


def test_one_pixel_image(tmp_path: Path) -> None:
    Image.new("L", (1, 1), 128).save(tmp_path / "dot.png")
    _expect_error(tmp_path / "dot.png", "1x1", "at least 32")


def test_thin_image(tmp_path: Path) -> None:
    Image.new("RGB", (500, 20)).save(tmp_path / "strip.png")
    _expect_error(tmp_path / "strip.png", "at least 32")


def test_load_photo_bytes_names_the_file() -> None:
    with pytest.raises(PhotoError, match="scan.png"):
        load_photo_bytes(b"hello there", name="scan.png")


# ----------------------------------------------------------------------------- arrays


def test_photo_from_array_kinds() -> None:
    gray8 = (np.arange(48 * 64) % 256).astype(np.uint8).reshape(48, 64)
    photo = photo_from_array(gray8)
    assert photo.bit_depth == 8 and not photo.is_color and photo.size == (48, 64)
    np.testing.assert_allclose(photo.rgb[..., 2], gray8 / 255.0, atol=1e-7)

    rgb16 = np.random.default_rng(4).integers(0, 65536, (40, 40, 3), dtype=np.uint16)
    photo = photo_from_array(rgb16)
    assert photo.bit_depth == 16 and photo.is_color
    np.testing.assert_allclose(
        photo.lightness, rgb_to_lightness(rgb16.astype(np.float32) / 65535), atol=1e-4
    )

    floats = np.random.default_rng(5).random((40, 40, 3), dtype=np.float32)
    assert photo_from_array(floats).bit_depth == 16
    assert photo_from_array(floats, bit_depth=8).bit_depth == 8
    with pytest.raises(PhotoError):
        photo_from_array(np.zeros((8, 8), dtype=np.uint8))
    with pytest.raises(PhotoError):
        photo_from_array(np.zeros((40, 40, 5), dtype=np.uint8))


def test_jpeg_bomb_header(tmp_path: Path) -> None:
    Image.fromarray(_gradient()).save(tmp_path / "small.jpg")
    data = bytearray((tmp_path / "small.jpg").read_bytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 30000, 30000)
    (tmp_path / "bomb.jpg").write_bytes(bytes(data))
    _expect_error(tmp_path / "bomb.jpg", "900 megapixels", "limit")


def test_header_just_over_piggydesk_limit(tmp_path: Path) -> None:
    side = int(MAX_PIXELS**0.5) + 100  # over our limit, under Pillow's own
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
    png += _png_chunk(b"IDAT", zlib.compress(b"\x00" * 10)) + _png_chunk(b"IEND", b"")
    (tmp_path / "big.png").write_bytes(png)
    _expect_error(tmp_path / "big.png", f"{side}x{side}", "megapixels")
