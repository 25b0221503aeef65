"""Writing colorized photos: PNG and TIFF (8 or 16 bits), JPEG, with the photo's metadata.

``export_image`` writes full-resolution sRGB pixels in the format the file name asks for
(.png, .tif/.tiff, .jpg/.jpeg), keeps the source's EXIF (date taken and camera kept,
orientation normalised to 1 because the pixels are already upright) and its RGB ICC profile,
and notes that PiggyDesk colorized the image:

* PNG: ``Software`` and ``Description`` text chunks, ``eXIf`` and ``iCCP`` chunks. Pixels are
  encoded by OpenCV (which writes true 16-bit RGB PNGs; Pillow cannot), the metadata chunks
  are inserted after the header.
* TIFF (written here, strip by strip; uncompressed or deflate with a horizontal predictor):
  ``Software``, ``ImageDescription``, ``DateTime``, camera tags, ``InterColorProfile`` and a
  real EXIF sub-IFD (date taken...) after the image.
* JPEG (Pillow, 8-bit, quality 95, no chroma subsampling): EXIF with the ``Software`` tag,
  ICC, and a comment. A 16-bit request is written as 8-bit (JPEG has no 16-bit form).

Safety: the source photo is never written over (even with ``overwrite=True``), an existing
file is refused unless ``overwrite=True``, and the bytes go to a temporary file in the same
folder that is renamed into place, so a full disk or a crash leaves no half-written export.

Memory: the float32 image is converted to 8 or 16 bits in bands of rows, never as a whole.
PNGs are encoded band by band straight into the file (no full-size buffer at all: the rows
are "Up"-filtered and deflated as they come), and so are TIFF strips (the directory follows
them); JPEG builds the 8-bit picture band by band and encodes it into the file.
"""

from __future__ import annotations

import errno
import io
import logging
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
from PIL import ExifTags, Image, TiffImagePlugin

from piggydesk.core import atomic
from piggydesk.core.atomic import open_atomic
from piggydesk.core.color import from_unit_float
from piggydesk.core.errors import ExportError
from piggydesk.core.metadata import (
    DEFAULT_NOTE,
    SOFTWARE,
    exif_for_export,
    read_exif_tags,
    rgb_icc_or_none,
)
from piggydesk.core.paths import same_file

logger = logging.getLogger(__name__)

FORMATS = {".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF", ".jpg": "JPEG", ".jpeg": "JPEG"}
"""File name endings ``export_image`` understands, and the format each one means."""

JPEG_QUALITY = 95
PNG_COMPRESSION = {8: 3, 16: 1}  # zlib level; 16-bit noise barely compresses further
_BAND_PIXELS = 1 << 18  # pixels converted and encoded at a time
_IDAT_BYTES = 1 << 20  # the largest IDAT chunk written


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
        with open_atomic(path, overwrite=overwrite) as handle:
            sink = _Sink(handle)
            if fmt == "PNG":
                write_png(sink.write, pixels, bit_depth, icc_profile=icc, exif=exif, note=note)
            elif fmt == "TIFF":
                write_tiff(handle, sink.write, pixels, bit_depth, compression=compression,
                           icc_profile=icc, exif=exif, note=note)
            else:
                _save_jpeg(sink, pixels, icc_profile=icc, exif=exif, note=note)
    except FileExistsError:
        raise ExportError(
            f"{path} already exists. Choose another name, or allow replacing it."
        ) from None
    except ExportError:
        raise
    except OSError as exc:
        if sink_failed(exc):
            raise ExportError(_write_failure(path, exc)) from None
        logger.exception("Encoding %s failed", path)
        raise ExportError(f"{path.name} could not be encoded as {fmt}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - encoder failures become one readable line
        logger.exception("Encoding %s failed", path)
        raise ExportError(f"{path.name} could not be encoded as {fmt}: {exc}") from None
    logger.info("Exported %s (%s, %d-bit, %dx%d)", path, fmt, bit_depth, out_size[1], out_size[0])
    return path


# ----------------------------------------------------------------------------- encoders


def sink_failed(exc: OSError) -> bool:
    return getattr(exc, "_piggydesk_write", False) or exc.errno is not None


class _Sink:
    """A write-only file for encoders: every write goes through ``atomic.write_all``."""

    def __init__(self, handle) -> None:
        self.handle = handle

    def write(self, data) -> int:
        try:
            atomic.write_all(self.handle, data)
        except OSError as exc:
            exc._piggydesk_write = True  # type: ignore[attr-defined]
            raise
        return len(data)

    def flush(self) -> None:
        self.handle.flush()


def _unit_bands(rgb: np.ndarray, bit_depth: int):
    """``(rows, uint8/uint16 band)`` of float sRGB ``(H, W, 3)``, a few MB at a time."""
    height, width = rgb.shape[:2]
    step = max(1, _BAND_PIXELS // max(width, 1))
    for start in range(0, height, step):
        band = np.asarray(rgb[start : start + step], dtype=np.float32)
        if band.dtype.kind == "f" and not np.isfinite(band).all():
            band = np.nan_to_num(band, nan=0.0, posinf=1.0, neginf=0.0)
        yield slice(start, start + band.shape[0]), from_unit_float(band, bit_depth)


def write_png(
    write,
    rgb: np.ndarray,
    bit_depth: int = 16,
    *,
    icc_profile: bytes | None = None,
    exif: bytes | None = None,
    note: str | None = DEFAULT_NOTE,
    texts: dict[str, str] | None = None,
) -> None:
    """Encode float sRGB ``(H, W, 3)`` as an 8- or 16-bit RGB PNG, band by band, to ``write``.

    ``exif=None`` still writes an ``eXIf`` chunk carrying the PiggyDesk ``Software`` tag when
    ``note`` is set; ``note=None`` writes pixels plus ``texts`` only (project files).
    """
    rgb = _as_rgb(rgb)
    height, width = rgb.shape[:2]
    header = struct.pack(">IIBBBBB", width, height, bit_depth, 2, 0, 0, 0)
    chunks = [_png_chunk(b"IHDR", header)]
    if icc_profile:
        chunks.append(_png_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc_profile)))
    if note is not None:
        exif_bytes = exif_for_export(exif, size=(height, width))
        chunks.append(
            _png_chunk(b"eXIf", exif_bytes[6:] if exif_bytes[:6] == b"Exif\x00\x00" else exif_bytes)
        )
        chunks.append(_png_text("Software", SOFTWARE))
        chunks.append(_png_text("Description", note))
    for key, value in (texts or {}).items():
        chunks.append(_png_text(key, value))
    write(b"\x89PNG\r\n\x1a\n" + b"".join(chunks))
    packer = zlib.compressobj(PNG_COMPRESSION[bit_depth])
    previous = None
    pending = bytearray()

    def flush_idat(final: bool) -> None:
        while len(pending) >= _IDAT_BYTES or (final and pending):
            piece = bytes(pending[:_IDAT_BYTES])
            del pending[:_IDAT_BYTES]
            write(_png_chunk(b"IDAT", piece))

    for _, band in _unit_bands(rgb, bit_depth):
        raw = band.astype(">u2", copy=False) if bit_depth == 16 else band
        rows = raw.view(np.uint8).reshape(raw.shape[0], -1)
        above = np.empty_like(rows)  # "Up" filter: each byte minus the byte above it
        above[0] = previous if previous is not None else 0
        above[1:] = rows[:-1]
        filtered = np.empty((rows.shape[0], rows.shape[1] + 1), dtype=np.uint8)
        filtered[:, 0] = 2
        np.subtract(rows, above, out=filtered[:, 1:])
        previous = rows[-1].copy()
        pending.extend(packer.compress(filtered))
        flush_idat(False)
    pending.extend(packer.flush())
    flush_idat(True)
    write(_png_chunk(b"IEND", b""))


def encode_png(
    rgb: np.ndarray,
    bit_depth: int = 16,
    *,
    icc_profile: bytes | None = None,
    exif: bytes | None = None,
    note: str | None = DEFAULT_NOTE,
    texts: dict[str, str] | None = None,
) -> bytes:
    """PNG bytes of float sRGB ``(H, W, 3)`` at 8 or 16 bits with metadata chunks."""
    buffer = io.BytesIO()
    write_png(buffer.write, rgb, bit_depth, icc_profile=icc_profile, exif=exif, note=note,
              texts=texts)
    return buffer.getvalue()


def encode_tiff(
    rgb: np.ndarray,
    bit_depth: int = 16,
    *,
    compression: str | None = None,
    icc_profile: bytes | None = None,
    exif: bytes | None = None,
    note: str = DEFAULT_NOTE,
) -> bytes:
    """TIFF bytes with PiggyDesk's note, camera tags, ICC and an EXIF sub-IFD."""
    buffer = io.BytesIO()
    write_tiff(buffer, buffer.write, rgb, bit_depth, compression=compression,
               icc_profile=icc_profile, exif=exif, note=note)
    return buffer.getvalue()


_SHORT, _LONG, _ASCII, _UNDEFINED = 3, 4, 2, 7
_TYPE_SIZE = {_SHORT: 2, _LONG: 4, _ASCII: 1, _UNDEFINED: 1}


def _ascii(text: str) -> bytes:
    return text.encode("ascii", "replace") + b"\x00"


def write_tiff(
    file,
    write,
    rgb: np.ndarray,
    bit_depth: int = 16,
    *,
    compression: str | None = None,
    icc_profile: bytes | None = None,
    exif: bytes | None = None,
    note: str = DEFAULT_NOTE,
) -> None:
    """Write a baseline RGB TIFF (8/16-bit, strips, optional deflate + predictor) band by band.

    ``write`` puts bytes at ``file``'s position; ``file`` is seeked once at the end to point
    the header at the directory, which follows the strips (so no strip is ever held twice).
    """
    rgb = _as_rgb(rgb)
    height, width = rgb.shape[:2]
    write(b"II*\x00\x00\x00\x00\x00")  # the directory's offset is filled in at the end
    position = 8
    offsets: list[int] = []
    counts: list[int] = []
    rows_per_strip = 1
    for rows, band in _unit_bands(rgb, bit_depth):
        rows_per_strip = max(rows_per_strip, rows.stop - rows.start)
        data = band.astype("<u2", copy=False) if bit_depth == 16 else band
        if compression:
            diff = data.copy()  # horizontal predictor: each sample minus its left neighbour
            np.subtract(data[:, 1:], data[:, :-1], out=diff[:, 1:])
            payload = zlib.compress(diff, 6)
        else:
            payload = memoryview(np.ascontiguousarray(data)).cast("B")
        offsets.append(position)
        counts.append(len(payload))
        write(payload)
        position += len(payload)
    if position % 2:
        write(b"\x00")
        position += 1

    tags = read_exif_tags(exif)
    entries: list[tuple[int, int, int, bytes]] = [
        (256, _LONG, 1, struct.pack("<I", width)),
        (257, _LONG, 1, struct.pack("<I", height)),
        (258, _SHORT, 3, struct.pack("<3H", bit_depth, bit_depth, bit_depth)),
        (259, _SHORT, 1, struct.pack("<H", 8 if compression else 1)),
        (262, _SHORT, 1, struct.pack("<H", 2)),  # RGB
        (270, _ASCII, 0, _ascii(note)),
        (273, _LONG, len(offsets), struct.pack(f"<{len(offsets)}I", *offsets)),
        (274, _SHORT, 1, struct.pack("<H", 1)),  # orientation: the pixels are upright
        (277, _SHORT, 1, struct.pack("<H", 3)),
        (278, _LONG, 1, struct.pack("<I", rows_per_strip)),
        (279, _LONG, len(counts), struct.pack(f"<{len(counts)}I", *counts)),
        (284, _SHORT, 1, struct.pack("<H", 1)),  # contiguous samples
        (305, _ASCII, 0, _ascii(SOFTWARE)),
    ]
    for code in (271, 272, 315, 33432):  # Make, Model, Artist, Copyright
        value = tags.get(code)
        if isinstance(value, str) and value.strip() and value.isascii():
            entries.append((code, _ASCII, 0, _ascii(value.strip())))
    date = tags.get(306) or tags.get(36867)
    if isinstance(date, str) and len(date.strip()) == 19:
        entries.append((306, _ASCII, 0, _ascii(date.strip())))
    if compression:
        entries.append((317, _SHORT, 1, struct.pack("<H", 2)))
    if icc_profile:
        entries.append((34675, _UNDEFINED, len(icc_profile), bytes(icc_profile)))
    sub_ifd = _exif_sub_ifd(exif, (height, width))
    if sub_ifd:
        entries.append((34665, _LONG, 1, b"\x00\x00\x00\x00"))  # pointed at below
    entries.sort(key=lambda entry: entry[0])

    directory = position
    extra_at = directory + 2 + 12 * len(entries) + 4
    table = bytearray(struct.pack("<H", len(entries)))
    extra = bytearray()
    exif_slot = None
    for tag, kind, count, value in entries:
        count = count or len(value)
        if tag == 34665:
            exif_slot = len(table) + 8
        if len(value) <= 4:
            table += struct.pack("<HHI", tag, kind, count) + value.ljust(4, b"\x00")
        else:
            if len(extra) % 2:
                extra += b"\x00"
            table += struct.pack("<HHII", tag, kind, count, extra_at + len(extra))
            extra += value
    table += b"\x00\x00\x00\x00"  # no next directory
    if len(extra) % 2:
        extra += b"\x00"
    if sub_ifd and exif_slot is not None:
        exif_at = extra_at + len(extra)
        table[exif_slot : exif_slot + 4] = struct.pack("<I", exif_at)
        ifd = TiffImagePlugin.ImageFileDirectory_v2(ifh=b"II*\x00\x08\x00\x00\x00")
        for tag, value in sub_ifd.items():
            ifd[tag] = value
        extra += ifd.tobytes(offset=exif_at)
    write(bytes(table) + bytes(extra))
    end = file.tell()
    file.seek(4)
    write(struct.pack("<I", directory))
    file.seek(end)


def encode_jpeg(
    rgb: np.ndarray,
    *,
    icc_profile: bytes | None = None,
    exif: bytes | None = None,
    note: str = DEFAULT_NOTE,
    quality: int = JPEG_QUALITY,
) -> bytes:
    """JPEG bytes (8-bit, 4:4:4) with EXIF (Software tag), ICC and a comment."""
    buffer = io.BytesIO()
    _save_jpeg(buffer, rgb, icc_profile=icc_profile, exif=exif, note=note, quality=quality)
    return buffer.getvalue()


def _save_jpeg(
    file,
    rgb: np.ndarray,
    *,
    icc_profile: bytes | None = None,
    exif: bytes | None = None,
    note: str = DEFAULT_NOTE,
    quality: int = JPEG_QUALITY,
) -> None:
    """Encode into ``file``: the 8-bit picture is built band by band (Pillow's own copy only)."""
    rgb = _as_rgb(rgb)
    height, width = rgb.shape[:2]
    image = Image.new("RGB", (width, height))
    for rows, band in _unit_bands(rgb, 8):
        image.paste(Image.fromarray(np.ascontiguousarray(band), mode="RGB"), (0, rows.start))
    options: dict = {
        "quality": quality,
        "subsampling": 0,
        "exif": exif_for_export(exif, size=(height, width)),
        "comment": note,
    }
    if icc_profile:
        options["icc_profile"] = icc_profile
    image.save(file, "JPEG", **options)


# ----------------------------------------------------------------------------- helpers


def _check_destination(path: Path, *, overwrite: bool, source_path: str | Path | None) -> None:
    if source_path is not None and same_file(path, source_path):
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
    return rgb  # float: converted (NaN to 0) band by band by the encoders


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
    resized = cv2.resize(np.nan_to_num(pixels, nan=0.0), (w, h), interpolation=interp)
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


def _write_failure(path: Path, exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return f"There is not enough space on the disk to write {path.name}. Nothing was written."
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"PiggyDesk is not allowed to write into {path.parent}. Nothing was written."
    return f"{path} could not be written ({exc.strerror or exc}). Nothing was written."
