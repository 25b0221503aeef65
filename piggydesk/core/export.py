"""Writing colorized photos: PNG and TIFF (8 or 16 bits), JPEG, with the photo's metadata.

``export_image`` writes full-resolution sRGB pixels in the format the file name asks for
(.png, .tif/.tiff, .jpg/.jpeg), keeps the source's EXIF (date taken and camera kept,
orientation normalised to 1 because the pixels are already upright) and its RGB ICC profile,
and notes that PiggyDesk colorized the image:

* PNG: ``Software`` and ``Description`` text chunks, ``eXIf`` and ``iCCP`` chunks. Pixels are
  encoded by OpenCV (which writes true 16-bit RGB PNGs; Pillow cannot), the metadata chunks
  are inserted after the header.
* TIFF (tifffile; uncompressed or deflate with a horizontal predictor): ``Software``,
  ``ImageDescription``, ``DateTime``, camera tags, ``InterColorProfile`` and a real EXIF
  sub-IFD (date taken...) appended after the image.
* JPEG (Pillow, 8-bit, quality 95, no chroma subsampling): EXIF with the ``Software`` tag,
  ICC, and a comment. A 16-bit request is written as 8-bit (JPEG has no 16-bit form).

Safety: the source photo is never written over (even with ``overwrite=True``), an existing
file is refused unless ``overwrite=True``, and the bytes go to a temporary file in the same
folder that is renamed into place, so a full disk or a crash leaves no half-written export.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import tifffile
from PIL import ExifTags, Image, TiffImagePlugin

from piggydesk.core.atomic import atomic_write_bytes
from piggydesk.core.color import from_unit_float
from piggydesk.core.errors import ExportError
from piggydesk.core.metadata import (
    DEFAULT_NOTE,
    SOFTWARE,
    exif_for_export,
    read_exif_tags,
    rgb_icc_or_none,
)

logger = logging.getLogger(__name__)

FORMATS = {".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF", ".jpg": "JPEG", ".jpeg": "JPEG"}
"""File name endings ``export_image`` understands, and the format each one means."""

JPEG_QUALITY = 95
_EXIF_PLACEHOLDER = 34664
PNG_COMPRESSION = {8: 3, 16: 1}  # zlib level; 16-bit noise barely compresses further


def export_image(
    rgb: np.ndarray,
    path: str | Path,
    *,
    bit_depth: int = 8,
    overwrite: bool = False,
    compression: str | None = None,
    icc_profile: bytes | None = None,
    exif: bytes | None = None,
    source_path: str | Path | None = None,
    size: tuple[int, int] | None = None,
    note: str = DEFAULT_NOTE,
) -> Path:
    """Write ``rgb`` (float32 ``(H, W, 3)`` sRGB in [0, 1]) to ``path``; return the path.

    ``compression`` is ``None`` or ``"deflate"`` (TIFF only; PNG is always deflated).
    ``size=(h, w)`` resizes with high-quality filtering first. Raises ``ExportError``.
    """
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ExportError(
            f"PiggyDesk can export .png, .tif/.tiff and .jpg/.jpeg files, not "
            f"'{path.suffix or path.name}'."
        )
    if bit_depth not in (8, 16):
        raise ExportError(f"The bit depth must be 8 or 16, not {bit_depth}.")
    if compression not in (None, "deflate", "zlib"):
        raise ExportError(f"Unknown compression '{compression}': use none or deflate.")
    _check_destination(path, overwrite=overwrite, source_path=source_path)

    pixels = _prepare_pixels(rgb, size)
    if fmt == "JPEG" and bit_depth == 16:
        logger.info("JPEG holds 8 bits per channel: writing %s as 8-bit", path.name)
        bit_depth = 8
    icc = rgb_icc_or_none(icc_profile)
    out_size = (int(pixels.shape[0]), int(pixels.shape[1]))
    try:
        if fmt == "PNG":
            data = encode_png(pixels, bit_depth, icc_profile=icc, exif=exif, note=note)
        elif fmt == "TIFF":
            data = encode_tiff(
                pixels, bit_depth, compression=compression, icc_profile=icc, exif=exif, note=note
            )
        else:
            data = encode_jpeg(pixels, icc_profile=icc, exif=exif, note=note)
    except ExportError:
        raise
    except Exception as exc:  # noqa: BLE001 - encoder failures become one readable line
        logger.exception("Encoding %s failed", path)
        raise ExportError(f"{path.name} could not be encoded as {fmt}: {exc}") from None

    try:
        atomic_write_bytes(path, data, overwrite=overwrite)
    except FileExistsError:
        raise ExportError(
            f"{path} already exists. Choose another name, or allow replacing it."
        ) from None
    except OSError as exc:
        raise ExportError(_write_failure(path, exc)) from None
    logger.info("Exported %s (%s, %d-bit, %dx%d)", path, fmt, bit_depth, out_size[1], out_size[0])
    return path


# ----------------------------------------------------------------------------- encoders


def encode_png(
    rgb: np.ndarray,
    bit_depth: int = 16,
    *,
    icc_profile: bytes | None = None,
    exif: bytes | None = None,
    note: str | None = DEFAULT_NOTE,
    texts: dict[str, str] | None = None,
) -> bytes:
    """PNG bytes of float sRGB ``(H, W, 3)`` at 8 or 16 bits with metadata chunks.

    ``exif=None`` still writes an ``eXIf`` chunk carrying the PiggyDesk ``Software`` tag when
    ``note`` is set; ``note=None`` writes pixels plus ``texts`` only (project files).
    """
    pixels = from_unit_float(_as_rgb(rgb), bit_depth)
    ok, encoded = cv2.imencode(
        ".png",
        np.ascontiguousarray(pixels[..., ::-1]),
        [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION[bit_depth]],
    )
    if not ok:
        raise ExportError("The PNG encoder failed.")
    chunks: list[bytes] = []
    if icc_profile:
        chunks.append(_png_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc_profile)))
    if note is not None:
        exif_bytes = exif_for_export(exif, size=pixels.shape[:2])
        chunks.append(
            _png_chunk(b"eXIf", exif_bytes[6:] if exif_bytes[:6] == b"Exif\x00\x00" else exif_bytes)
        )
        chunks.append(_png_text("Software", SOFTWARE))
        chunks.append(_png_text("Description", note))
    for key, value in (texts or {}).items():
        chunks.append(_png_text(key, value))
    return _png_insert_after_header(encoded.tobytes(), chunks)


def encode_tiff(
    rgb: np.ndarray,
    bit_depth: int = 16,
    *,
    compression: str | None = None,
    icc_profile: bytes | None = None,
    exif: bytes | None = None,
    note: str = DEFAULT_NOTE,
) -> bytes:
    """TIFF bytes (tifffile) with PiggyDesk's note, camera tags, ICC and an EXIF sub-IFD."""
    pixels = from_unit_float(_as_rgb(rgb), bit_depth)
    tags = read_exif_tags(exif)
    extratags: list[tuple] = [(274, "H", 1, 1, True)]  # orientation: pixels are upright
    for code in (271, 272, 315, 33432):  # Make, Model, Artist, Copyright
        value = tags.get(code)
        if isinstance(value, str) and value.strip() and value.isascii():
            extratags.append((code, "s", 0, value.strip(), True))
    sub_ifd = _exif_sub_ifd(exif, pixels.shape[:2])
    if sub_ifd:
        # tifffile will not write the ExifIFD tag itself: a placeholder just below it in
        # number (so the IFD stays sorted) is renamed and pointed at the appended IFD
        extratags.append((_EXIF_PLACEHOLDER, "I", 1, 0, True))
    date = tags.get(306) or tags.get(36867)
    kwargs: dict = {}
    if isinstance(date, str) and len(date.strip()) == 19:
        kwargs["datetime"] = date.strip()
    buffer = io.BytesIO()
    tifffile.imwrite(
        buffer,
        pixels,
        photometric="rgb",
        planarconfig="contig",
        compression="zlib" if compression else None,
        predictor=bool(compression),
        description=note if note.isascii() else note.encode("ascii", "replace").decode(),
        software=SOFTWARE,
        iccprofile=icc_profile,
        metadata=None,
        extratags=extratags,
        byteorder="<",
        bigtiff=False,
        **kwargs,
    )
    data = buffer.getvalue()
    if sub_ifd:
        data = _append_exif_ifd(data, sub_ifd)
    return data


def encode_jpeg(
    rgb: np.ndarray,
    *,
    icc_profile: bytes | None = None,
    exif: bytes | None = None,
    note: str = DEFAULT_NOTE,
    quality: int = JPEG_QUALITY,
) -> bytes:
    """JPEG bytes (8-bit, 4:4:4) with EXIF (Software tag), ICC and a comment."""
    pixels = from_unit_float(_as_rgb(rgb), 8)
    image = Image.fromarray(pixels, mode="RGB")
    buffer = io.BytesIO()
    options: dict = {
        "quality": quality,
        "subsampling": 0,
        "exif": exif_for_export(exif, size=pixels.shape[:2]),
        "comment": note,
    }
    if icc_profile:
        options["icc_profile"] = icc_profile
    image.save(buffer, "JPEG", **options)
    return buffer.getvalue()


# ----------------------------------------------------------------------------- helpers


def _check_destination(path: Path, *, overwrite: bool, source_path: str | Path | None) -> None:
    if source_path is not None and _same_file(path, Path(source_path)):
        raise ExportError(
            f"{path.name} is the original photo. PiggyDesk never writes over an original; "
            "choose another name."
        )
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ExportError(f"The folder {parent} does not exist.")
    if path.is_dir():
        raise ExportError(f"{path} is a folder; choose a file name.")
    if path.exists() and not overwrite:
        raise ExportError(f"{path} already exists. Choose another name, or allow replacing it.")


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


def _as_rgb(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=2)
    if rgb.ndim != 3 or rgb.shape[2] not in (3, 4):
        raise ExportError(f"An image to export must be (H, W, 3), not {rgb.shape}.")
    rgb = rgb[..., :3]
    if rgb.dtype == np.uint8:
        return rgb.astype(np.float32) / np.float32(255.0)
    if rgb.dtype == np.uint16:
        return rgb.astype(np.float32) / np.float32(65535.0)
    return np.nan_to_num(rgb.astype(np.float32, copy=False), nan=0.0)


def _prepare_pixels(rgb: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    pixels = _as_rgb(rgb)
    if size is None:
        return pixels
    h, w = int(size[0]), int(size[1])
    if h < 1 or w < 1:
        raise ExportError(f"An export size must be positive, not {w}x{h}.")
    H, W = pixels.shape[:2]
    if (h, w) == (H, W):
        return pixels
    interp = cv2.INTER_AREA if (h <= H and w <= W) else cv2.INTER_LANCZOS4
    resized = cv2.resize(np.ascontiguousarray(pixels), (w, h), interpolation=interp)
    return np.clip(resized, 0.0, 1.0)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_text(key: str, value: str) -> bytes:
    """``tEXt`` for Latin-1 text, ``iTXt`` (UTF-8) otherwise."""
    try:
        return _png_chunk(b"tEXt", key.encode("latin-1") + b"\x00" + value.encode("latin-1"))
    except UnicodeEncodeError:
        body = key.encode("latin-1") + b"\x00\x00\x00" + b"\x00" + b"\x00" + value.encode()
        return _png_chunk(b"iTXt", body)


def _png_insert_after_header(png: bytes, chunks: list[bytes]) -> bytes:
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ExportError("The PNG encoder produced something that is not a PNG.")
    ihdr_len = struct.unpack(">I", png[8:12])[0]
    end = 8 + 12 + ihdr_len
    return png[:end] + b"".join(chunks) + png[end:]


def _exif_sub_ifd(exif: bytes | None, size: tuple[int, int]) -> dict:
    """The EXIF sub-IFD (DateTimeOriginal and friends) of ``exif``, sized for the export."""
    if not exif:
        return {}
    data = Image.Exif()
    try:
        data.load(exif_for_export(exif, size=size))
        sub = dict(data.get_ifd(ExifTags.IFD.Exif))
    except Exception as exc:  # noqa: BLE001
        logger.warning("EXIF sub-IFD not kept: %s", exc)
        return {}
    sub.pop(ExifTags.IFD.Interop, None)
    return sub


def _append_exif_ifd(tiff: bytes, sub_ifd: dict) -> bytes:
    """Append an EXIF IFD to a little-endian TIFF and point its ExifIFD (34665) tag at it."""
    with tifffile.TiffFile(io.BytesIO(tiff)) as tif:
        value_offset = tif.pages.first.tags[_EXIF_PLACEHOLDER].valueoffset
    start = len(tiff) + (len(tiff) % 2)
    ifd = TiffImagePlugin.ImageFileDirectory_v2(ifh=b"II*\x00\x08\x00\x00\x00")
    for tag, value in sub_ifd.items():
        ifd[tag] = value
    blob = ifd.tobytes(offset=start)
    out = bytearray(tiff)
    out.extend(b"\x00" * (start - len(tiff)))
    out.extend(blob)
    out[value_offset - 8 : value_offset - 6] = struct.pack("<H", 34665)
    out[value_offset : value_offset + 4] = struct.pack("<I", start)
    return bytes(out)


def _write_failure(path: Path, exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return f"There is not enough space on the disk to write {path.name}. Nothing was written."
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"PiggyDesk is not allowed to write into {path.parent}. Nothing was written."
    return f"{path} could not be written ({exc.strerror or exc}). Nothing was written."
