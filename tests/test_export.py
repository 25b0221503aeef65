"""Exports: formats and bit depths, metadata carried over, and files never damaged."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import ExifTags, Image, ImageCms

from piggydesk.core import atomic
from piggydesk.core.color import from_unit_float, rgb_to_lab
from piggydesk.core.errors import ExportError
from piggydesk.core.export import export_image
from piggydesk.core.imaging import load_photo
from piggydesk.core.metadata import SOFTWARE, date_taken, read_exif_tags
from piggydesk.core.recombine import recombine

DATE = "1962:07:14 10:30:00"


@pytest.fixture
def rgb() -> np.ndarray:
    return np.random.default_rng(0).random((40, 56, 3), dtype=np.float32)


def _icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _exif_bytes(orientation: int = 6) -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Agfa"
    exif[ExifTags.Base.Orientation] = orientation
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = DATE
    return exif.tobytes()


def _read16(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[..., ::-1]


def _check_metadata(path: Path, icc: bytes) -> None:
    with Image.open(path) as image:
        exif = image.getexif()
        assert exif[ExifTags.Base.Orientation] == 1
        assert exif[ExifTags.Base.Software] == SOFTWARE
        assert exif[ExifTags.Base.Make] == "Agfa"
        assert exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] == DATE
        assert image.info.get("icc_profile") == icc


# ----------------------------------------------------------------------------- formats


@pytest.mark.parametrize("bit_depth", [8, 16])
def test_png_is_exact_and_keeps_metadata(tmp_path: Path, rgb: np.ndarray, bit_depth: int) -> None:
    icc = _icc()
    out = export_image(
        rgb, tmp_path / "out.png", bit_depth=bit_depth, icc_profile=icc, exif=_exif_bytes()
    )
    assert out == tmp_path / "out.png"
    if bit_depth == 16:
        written = _read16(out)
        assert written.dtype == np.uint16
    else:
        with Image.open(out) as image:
            written = np.asarray(image)
    np.testing.assert_array_equal(written, from_unit_float(rgb, bit_depth))
    _check_metadata(out, icc)
    with Image.open(out) as image:
        assert image.info["Software"] == SOFTWARE
        assert "PiggyDesk" in image.info["Description"]


@pytest.mark.parametrize("bit_depth", [8, 16])
@pytest.mark.parametrize("compression", [None, "deflate"])
def test_tiff_is_exact_and_keeps_metadata(
    tmp_path: Path, rgb: np.ndarray, bit_depth: int, compression: str | None
) -> None:
    icc = _icc()
    out = export_image(
        rgb,
        tmp_path / "out.tif",
        bit_depth=bit_depth,
        compression=compression,
        icc_profile=icc,
        exif=_exif_bytes(),
    )
    with tifffile.TiffFile(out) as tif:
        page = tif.pages.first
        np.testing.assert_array_equal(page.asarray(), from_unit_float(rgb, bit_depth))
        assert page.compression == (8 if compression else 1)
        assert "PiggyDesk" in page.tags["ImageDescription"].value
        assert page.tags["Software"].value == SOFTWARE
        assert page.tags["DateTime"].value == DATE
        assert page.tags["Orientation"].value == 1
    _check_metadata(out, icc)


def test_jpeg_keeps_metadata_and_is_close(tmp_path: Path, rgb: np.ndarray) -> None:
    smooth = cv2.GaussianBlur(rgb, (0, 0), 3)
    icc = _icc()
    out = export_image(
        smooth, tmp_path / "out.jpeg", bit_depth=16, icc_profile=icc, exif=_exif_bytes()
    )
    with Image.open(out) as image:
        assert image.format == "JPEG" and image.mode == "RGB"
        assert np.abs(np.asarray(image) / 255.0 - smooth).mean() < 0.01
        assert b"PiggyDesk" in image.info.get("comment", b"")
    _check_metadata(out, icc)


def test_exports_without_source_metadata_still_say_piggydesk(tmp_path: Path, rgb) -> None:
    for name in ("plain.png", "plain.tif", "plain.jpg"):
        out = export_image(rgb, tmp_path / name)
        with Image.open(out) as image:
            assert image.getexif()[ExifTags.Base.Software] == SOFTWARE
            assert "icc_profile" not in image.info or not image.info["icc_profile"]


def test_resize_on_export(tmp_path: Path, rgb: np.ndarray) -> None:
    out = export_image(rgb, tmp_path / "small.png", size=(20, 28))
    with Image.open(out) as image:
        assert image.size == (28, 20)
    out = export_image(rgb, tmp_path / "big.tif", size=(80, 112), bit_depth=16)
    assert tifffile.imread(out).shape == (80, 112, 3)
    with pytest.raises(ExportError):
        export_image(rgb, tmp_path / "zero.png", size=(0, 10))


def test_photo_to_export_round_trip_keeps_everything(tmp_path: Path) -> None:
    """A rotated, profiled JPEG in; an upright PNG with its date, camera and ICC out."""
    pixels = np.zeros((40, 60, 3), dtype=np.uint8)
    pixels[:10, :15] = 255
    icc = _icc()
    Image.fromarray(pixels).save(
        tmp_path / "scan.jpg", quality=95, icc_profile=icc, exif=_exif_bytes(orientation=6)
    )
    photo = load_photo(tmp_path / "scan.jpg")
    out = export_image(
        photo.rgb,
        tmp_path / "colour.png",
        icc_profile=photo.icc_profile,
        exif=photo.exif,
        source_path=photo.path,
    )
    _check_metadata(out, icc)
    with Image.open(out) as image:
        assert image.size == (40, 60)  # upright: width 40, height 60
    assert date_taken(load_photo(out).exif) == DATE
    assert read_exif_tags(load_photo(out).exif)[ExifTags.Base.Orientation] == 1


def test_sixteen_bit_pipeline_keeps_lightness(tmp_path: Path) -> None:
    ramp = np.linspace(0, 65535, 300 * 200).reshape(200, 300).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "scan16.png"), ramp)
    photo = load_photo(tmp_path / "scan16.png")
    ab = np.zeros((64, 96, 2), dtype=np.float32)
    ab[..., 0], ab[..., 1] = 25.0, 35.0
    out = export_image(recombine(photo.lightness, ab), tmp_path / "colour16.png", bit_depth=16)
    back = load_photo(out)
    assert back.bit_depth == 16 and back.is_color
    assert np.abs(back.lightness - photo.lightness).max() < 0.02
    assert np.abs(rgb_to_lab(back.rgb)[..., 0] - photo.lightness).max() < 0.02


# ----------------------------------------------------------------------------- safety


def test_refuses_existing_file_unless_asked(tmp_path: Path, rgb: np.ndarray) -> None:
    target = tmp_path / "exists.png"
    target.write_bytes(b"precious")
    with pytest.raises(ExportError, match="already exists"):
        export_image(rgb, target)
    assert target.read_bytes() == b"precious"
    export_image(rgb, target, overwrite=True)
    with Image.open(target) as image:
        assert image.size == (56, 40)


def test_never_writes_over_the_source(tmp_path: Path, rgb: np.ndarray) -> None:
    source = tmp_path / "original.png"
    Image.fromarray(from_unit_float(rgb, 8)).save(source)
    before = source.read_bytes()
    for spelling in (source, tmp_path / "sub" / ".." / "original.png"):
        with pytest.raises(ExportError, match="original"):
            export_image(rgb, spelling, overwrite=True, source_path=source)
    link = tmp_path / "link.png"
    os.symlink(source, link)
    with pytest.raises(ExportError, match="original"):
        export_image(rgb, link, overwrite=True, source_path=source)
    assert source.read_bytes() == before


def test_bad_names_and_folders(tmp_path: Path, rgb: np.ndarray) -> None:
    with pytest.raises(ExportError, match=r"\.bmp"):
        export_image(rgb, tmp_path / "out.bmp")
    with pytest.raises(ExportError, match="does not exist"):
        export_image(rgb, tmp_path / "missing" / "out.png")
    with pytest.raises(ExportError, match="bit depth"):
        export_image(rgb, tmp_path / "out.png", bit_depth=12)
    with pytest.raises(ExportError):
        export_image(np.zeros((4, 4, 5), np.float32), tmp_path / "out.png")


def _fail_half_way(handle, data: bytes) -> None:
    handle.write(data[: len(data) // 2])
    handle.flush()
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("name", ["full.png", "full.tif", "full.jpg"])
def test_full_disk_leaves_no_partial_file(
    tmp_path: Path, rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setattr(atomic, "write_all", _fail_half_way)
    with pytest.raises(ExportError, match="not enough space"):
        export_image(rgb, tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_failed_replace_keeps_the_old_export(
    tmp_path: Path, rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "keep.png"
    export_image(rgb, target)
    before = target.read_bytes()
    monkeypatch.setattr(atomic, "write_all", _fail_half_way)
    with pytest.raises(ExportError):
        export_image(rgb[::-1], target, overwrite=True)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.png"]


def test_temporary_file_lives_next_to_the_target(
    tmp_path: Path, rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Path] = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append(Path(src))
        assert Path(src).exists() and not Path(dst).exists()
        return real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", spy)
    monkeypatch.setattr(atomic.os, "link", lambda *a: (_ for _ in ()).throw(OSError("no")))
    export_image(rgb, tmp_path / "x.png")
    assert seen and seen[0].parent == tmp_path and seen[0].name.startswith(".x.png")
    assert (tmp_path / "x.png").exists()


def test_tiff_exif_survives_a_second_round(tmp_path: Path, rgb: np.ndarray) -> None:
    first = export_image(rgb, tmp_path / "first.tif", bit_depth=16, exif=_exif_bytes())
    photo = load_photo(first)
    assert date_taken(photo.exif) == DATE
    second = export_image(photo.rgb, tmp_path / "second.png", exif=photo.exif)
    assert date_taken(load_photo(second).exif) == DATE
    assert read_exif_tags(load_photo(second).exif)[ExifTags.Base.Make] == "Agfa"
