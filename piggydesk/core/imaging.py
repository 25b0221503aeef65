"""Reading photos: every format a family archive holds, turned into float sRGB and CIE L*.

``load_photo(path)`` reads JPEG, PNG, TIFF (8- and 16-bit; gray, RGB, RGBA, palette, CMYK),
BMP, WebP and GIF, applies the EXIF orientation to the pixels, and keeps the ICC profile and
the EXIF (orientation reset to 1) so an export can carry them on. Every failure becomes a
``PhotoError`` whose text a person understands; no decoder traceback ever reaches the user.

Decisions worth knowing:

* 16-bit data stays 16-bit: 16-bit PNGs are decoded by OpenCV (Pillow would truncate RGB to
  8 bits), 16-bit and unusual TIFFs by tifffile, and the lightness is computed from the full
  16-bit values.
* Animated GIF/WebP (and multi-page TIFF): the **first frame** is used, and ``Photo.notes``
  says so (the GUI shows it, the log records it).
* Transparency is flattened onto white: old photos have none, and a cut-out should look
  like a print on paper.
* Pictures larger than ``MAX_PIXELS`` (150 megapixels) are refused from their header, before
  any pixel is decoded, so a "decompression bomb" cannot exhaust memory; pictures under
  32 pixels on a side are refused too (``core.sizing.check_min_size``).
* A colour photo (sepia, faded, hand-tinted) is accepted: ``is_color`` is True and its
  lightness, computed from the colours, is what gets colorized.
* Pixel values are read as sRGB. An RGB ICC profile is kept and re-embedded on export (so a
  colour-managed viewer shows the tones as before); gray and CMYK profiles are dropped, as
  they cannot describe the RGB result.
* Memory per pixel: the decoded pixels stay in their own type (``Photo.pixels``: 1 byte a
  pixel for an 8-bit gray scan, 6 for 16-bit RGB); the lightness (4 bytes) is computed from
  them in bands of rows, and ``Photo.rgb`` (float32, 12 bytes) is made only when asked for.
  ``Photo.lightness_only()`` drops the pixels when only the lightness is needed (the command
  line's colorize path). The file is checked before its body is read: only regular files are
  opened (not ``/dev/zero`` or a pipe), the header's size is checked against ``MAX_PIXELS``
  and against the memory this computer has free (one sentence rather than being killed), and
  a file far larger than its picture can be is refused.
"""

from __future__ import annotations

import io
import logging
import os
import re
import stat
import struct
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import tifffile
from PIL import Image, UnidentifiedImageError

from piggydesk.core.bounds import check_memory
from piggydesk.core.color import (
    gray_to_lightness,
    lightness_to_gray_rgb,
    rgb_to_lab,
    rgb_to_lightness,
)
from piggydesk.core.errors import PhotoError
from piggydesk.core.metadata import ORIENTATION, clean_exif, rgb_icc_or_none
from piggydesk.core.sizing import check_min_size

logger = logging.getLogger(__name__)

MAX_PIXELS = 150_000_000
"""The largest picture PiggyDesk opens (150 megapixels: far beyond any scanner's output)."""

SUPPORTED_SUFFIXES = (
    ".jpg",
    ".jpeg",
    ".jpe",
    ".png",
    ".tif",
    ".tiff",
    ".bmp",
    ".dib",
    ".webp",
    ".gif",
)
"""File name endings offered in open dialogs and picked up by batch processing."""

_COLOR_CHROMA = 3.0  # 95th-percentile chroma (Lab units) above which a photo counts as colour
_BAND_PIXELS = 1 << 18  # pixels converted at a time (float temporaries stay a few MB)
LOAD_BYTES_PER_PIXEL = 14
"""Peak memory of loading, per pixel: decoder buffers (up to 8) + lightness (4) + slack."""
_DAMAGED = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError)


@dataclass(eq=False)
class Photo:
    """A decoded photo, orientation applied.

    ``pixels`` the decoded values in their own type (uint8, uint16 or float32 in [0, 1]),
    gray ``(H, W)`` or RGB ``(H, W, 3)``, or None after ``lightness_only()``; ``rgb`` float32
    ``(H, W, 3)`` sRGB in [0, 1], made from them when asked for; ``lightness`` float32
    ``(H, W)`` CIE L* (0-100) computed from the full-precision data; ``bit_depth`` 8 or 16
    (the precision of the source, which an export should keep); ``icc_profile`` and ``exif``
    ready for ``core.export.export_image``; ``notes`` are things worth telling the user.
    """

    pixels: np.ndarray | None
    lightness: np.ndarray
    bit_depth: int = 8
    icc_profile: bytes | None = None
    exif: bytes | None = None
    path: Path | None = None
    format: str = ""
    is_color: bool = False
    notes: tuple[str, ...] = field(default=())

    @property
    def rgb(self) -> np.ndarray:
        """float32 ``(H, W, 3)`` sRGB in [0, 1] (a new array each time: 12 bytes a pixel)."""
        if self.pixels is None:
            return lightness_to_gray_rgb(self.lightness)
        height, width = self.size
        out = np.empty((height, width, 3), dtype=np.float32)
        for rows in _bands(height, width):
            band = _to_float(self.pixels[rows])
            out[rows] = band[..., None] if band.ndim == 2 else band
        return out

    def lightness_only(self) -> Photo:
        """This photo without its pixels (``rgb`` then is the gray of the lightness)."""
        return replace(self, pixels=None)

    @property
    def size(self) -> tuple[int, int]:
        """``(height, width)`` in pixels."""
        return int(self.lightness.shape[0]), int(self.lightness.shape[1])

    @property
    def name(self) -> str:
        return self.path.name if self.path is not None else "photo"


def load_photo(path: str | Path) -> Photo:
    """Read the photo at ``path``; raise ``PhotoError`` with a readable sentence if we can't."""
    path = Path(path)
    return load_photo_bytes(read_photo_file(path), name=path.name, path=path)


def read_photo_file(path: str | Path) -> bytes:
    """The bytes of the photo file at ``path``, read only after its header passed the checks.

    Only regular files are read (a device such as ``/dev/zero`` or a pipe is refused), the
    header's size must be within ``MAX_PIXELS`` and fit the free memory, and the file may not
    be far larger than its picture can be. Every refusal is one ``PhotoError`` sentence.
    """
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise PhotoError(f"The file {path} does not exist.") from None
    except OSError as exc:
        raise PhotoError(f"The file {path} could not be read ({exc.strerror or exc}).") from None
    if stat.S_ISDIR(info.st_mode):
        raise PhotoError(f"{path} is a folder, not a picture.")
    if not stat.S_ISREG(info.st_mode):
        raise PhotoError(f"{path} is not a regular file (a device or a pipe), so not a picture.")
    try:
        with open(path, "rb") as handle:
            _check_header(handle.read(1 << 16), info.st_size, path.name)
            handle.seek(0)
            return handle.read()  # one copy of the file, shared by the decoders
    except PermissionError:
        raise PhotoError(f"PiggyDesk is not allowed to read {path}.") from None
    except OSError as exc:
        raise PhotoError(f"The file {path} could not be read ({exc.strerror or exc}).") from None


def _header_size(head: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from the first bytes of an image file, when Pillow can tell."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(head)) as image:
                return image.size
    except Exception:  # noqa: BLE001 - a header beyond the first bytes, a bomb, or no picture
        return _png_header_size(head)


def _check_header(head: bytes, file_size: int, name: str) -> None:
    """Refuse, before the body is read, what the header says cannot be loaded here."""
    size = _header_size(head)
    if size is None:
        if head and file_size > MAX_PIXELS * 8 * 2:  # no header, and bigger than any picture
            raise PhotoError(_not_a_picture(head, name))
        return
    width, height = size
    if width * height > MAX_PIXELS:
        raise _too_large(name, (width, height))
    largest = width * height * 8 * 1.1 + (64 << 20)  # uncompressed 16-bit RGBA + metadata
    if file_size > largest:
        raise PhotoError(
            f"{name} is {file_size / 2**30:.1f} GB, far more than a {width}x{height} picture can "
            "be; it is damaged or not a picture."
        )
    check_memory(width * height * LOAD_BYTES_PER_PIXEL, f"Opening {name} ({width}x{height})")


def load_photo_bytes(data: bytes, name: str = "photo", path: Path | None = None) -> Photo:
    """Decode a photo from the bytes of an image file (``name`` is used in messages only)."""
    if not data:
        raise PhotoError(f"The file {name} is empty (0 bytes): it holds no picture.")
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise _too_large(name, _png_header_size(data), str(exc)) from None
    except UnidentifiedImageError:
        if _looks_like_tiff(data):
            return _finish(_decode_tiff(data, name), None, None, name, "TIFF", path, notes)
        raise PhotoError(_not_a_picture(data, name)) from None
    except _DAMAGED as exc:
        raise _damaged(name, exc) from None

    with image:
        width, height = image.size
        fmt = image.format or "unknown"
        if width * height > MAX_PIXELS:
            raise _too_large(name, (width, height))
        check_min_size(height, width)
        frames = getattr(image, "n_frames", 1)
        if frames > 1:
            kind = "pages" if fmt == "TIFF" else "frames"
            note = f"{name} has {frames} {kind}; PiggyDesk uses the first one."
            logger.info(note)
            notes.append(note)
        png16 = fmt == "PNG" and _png_is_16bit(image)  # before getexif(), which decodes PNGs
        try:
            icc = image.info.get("icc_profile") or None
            exif_obj = image.getexif()
            orientation = int(exif_obj.get(ORIENTATION, 1) or 1)
            exif = clean_exif(exif_obj) if len(exif_obj) else None
        except Exception as exc:  # noqa: BLE001 - metadata must never stop a photo loading
            logger.warning("Ignoring unreadable metadata in %s: %s", name, exc)
            icc, exif, orientation = None, None, 1

        if png16:
            pixels = _decode_cv2(data, name)
        elif fmt == "TIFF" and _tiff_needs_tifffile(image):
            pixels = _decode_tiff(data, name)
        else:
            try:
                pixels = _decode_pillow(image)
            except _DAMAGED as exc:
                if fmt != "TIFF":
                    raise _damaged(name, exc) from None
                pixels = _decode_tiff(data, name)  # layouts Pillow cannot decode
    return _finish(pixels, icc, exif, name, fmt, path, notes, orientation)


def photo_from_array(array: np.ndarray, bit_depth: int | None = None) -> Photo:
    """A ``Photo`` from pixels: uint8 / uint16 / float in [0, 1], gray ``(H, W)`` or RGB(A).

    ``bit_depth`` defaults to 8 for uint8 and 16 for uint16 and float data.
    """
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise PhotoError(f"An image must be gray (H, W) or RGB (H, W, 3), not {array.shape}.")
    if bit_depth is None:
        bit_depth = 8 if array.dtype == np.uint8 else 16
    if bit_depth not in (8, 16):
        raise PhotoError(f"Bit depth must be 8 or 16, not {bit_depth}.")
    check_min_size(int(array.shape[0]), int(array.shape[1]))
    if array.dtype not in (np.uint8, np.uint16):
        array = _to_float(array)
    pixels = _Pixels(array, bit_depth)
    return _finish(pixels, None, None, "image", "array", None, [])


# ----------------------------------------------------------------------------- decoding


@dataclass
class _Pixels:
    # uint8, uint16 or float32 in [0, 1]: (H, W) gray, (H, W, 2) gray + alpha, (H, W, 3) RGB
    # or (H, W, 4) RGBA
    values: np.ndarray
    bit_depth: int


def _bands(height: int, width: int) -> list[slice]:
    rows = max(1, _BAND_PIXELS // max(width, 1))
    return [slice(r, min(r + rows, height)) for r in range(0, height, rows)]


def _finish(
    pixels: _Pixels,
    icc: bytes | None,
    exif: bytes | None,
    name: str,
    fmt: str,
    path: Path | None,
    notes: list[str],
    orientation: int = 1,
) -> Photo:
    values = _flatten_alpha(pixels.values)
    values = _orient(values, orientation)
    if not values.flags.c_contiguous:
        values = np.ascontiguousarray(values)
    check_min_size(int(values.shape[0]), int(values.shape[1]))
    if values.ndim == 3 and _is_neutral(values):
        values = np.ascontiguousarray(values[..., 1])
    height, width = values.shape[:2]
    lightness = np.empty((height, width), dtype=np.float32)
    for rows in _bands(height, width):
        band = _to_float(values[rows])
        band_l = gray_to_lightness(band) if band.ndim == 2 else rgb_to_lightness(band)
        np.clip(band_l, 0.0, 100.0, out=lightness[rows])
    is_color = values.ndim == 3 and _has_colour(values)
    return Photo(
        pixels=values,
        lightness=lightness,
        bit_depth=pixels.bit_depth,
        icc_profile=rgb_icc_or_none(icc),
        exif=exif,
        path=path,
        format=fmt,
        is_color=is_color,
        notes=tuple(notes),
    )


def _decode_pillow(image: Image.Image) -> _Pixels:
    """8-bit (and a few 16-bit) Pillow modes to float pixels."""
    image.load()
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return _Pixels(np.asarray(image).astype(np.uint16, copy=False), 16)
    if mode == "I":
        values = np.asarray(image)
        if values.max(initial=0) > 255:
            return _Pixels(np.clip(values, 0, 65535).astype(np.uint16), 16)
        return _Pixels(np.clip(values, 0, 255).astype(np.uint8), 8)
    if mode == "F":
        return _Pixels(np.clip(np.asarray(image), 0.0, 1.0).astype(np.float32), 16)
    if mode == "L":
        return _Pixels(np.asarray(image), 8)
    if mode == "1":
        return _Pixels(np.asarray(image.convert("L")), 8)
    if mode == "LA" or mode == "La":
        return _Pixels(np.asarray(image.convert("LA")), 8)
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in image.info
        return _Pixels(np.asarray(image.convert("RGBA" if has_alpha else "RGB")), 8)
    if mode in ("RGBA", "RGBa"):
        return _Pixels(np.asarray(image if mode == "RGBA" else image.convert("RGBA")), 8)
    if mode == "RGB":
        return _Pixels(np.asarray(image), 8)
    try:
        rgb = image.convert("RGB")  # RGBX, CMYK, YCbCr, HSV ...
    except ValueError as exc:
        raise PhotoError(f"PiggyDesk cannot use pictures stored as '{mode}' ({exc}).") from None
    return _Pixels(np.asarray(rgb), 8)


def _decode_cv2(data: bytes, name: str) -> _Pixels:
    """16-bit PNG through OpenCV, which keeps all 16 bits of every channel."""
    array = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise _damaged(name, None)
    if array.ndim == 3:
        if array.shape[2] == 3:
            cv2.cvtColor(array, cv2.COLOR_BGR2RGB, dst=array)  # in place: no second copy
        elif array.shape[2] == 4:
            cv2.cvtColor(array, cv2.COLOR_BGRA2RGBA, dst=array)
    if array.dtype not in (np.uint8, np.uint16):
        array = _to_float(array)
    return _Pixels(array, 16 if array.dtype != np.uint8 else 8)


def _decode_tiff(data: bytes, name: str) -> _Pixels:
    """TIFFs through tifffile: 16-bit, float, planar, palette, CMYK, min-is-white."""
    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            page = tif.pages.first
            shape = dict(zip(page.axes, page.shape))
            height, width = int(shape.get("Y", 0)), int(shape.get("X", 0))
            if width * height > MAX_PIXELS:
                raise _too_large(name, (width, height))
            check_min_size(height, width)
            array = page.asarray()
            photometric = int(page.photometric)
            colormap = page.colormap
            axes = page.axes
            if len(tif.pages) > 1:
                logger.info("%s has %d pages; using the first", name, len(tif.pages))
    except PhotoError:
        raise
    except Exception as exc:  # noqa: BLE001 - tifffile raises many kinds for damaged files
        raise _damaged(name, exc) from None

    if "S" in axes and axes.index("S") != len(axes) - 1:
        array = np.moveaxis(array, axes.index("S"), -1)
    array = np.squeeze(array)
    if array.ndim == 2 and photometric == 3 and colormap is not None:  # palette
        cmap = np.asarray(colormap, dtype=np.float32)
        scale = 65535.0 if cmap.max(initial=0) > 255 else 255.0
        rgb = (cmap[:, array].transpose(1, 2, 0) / scale).astype(np.float32)
        return _Pixels(rgb, 16 if scale > 255 else 8)
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    if array.dtype not in (np.uint8, np.uint16, np.uint32, np.float16, np.float32, np.float64):
        raise PhotoError(f"PiggyDesk cannot read {name}: its pixels are stored as {array.dtype}.")
    bit_depth = 8 if array.dtype == np.uint8 else 16
    if array.dtype == np.uint32:
        values = (array.astype(np.float64) / 4294967295.0).astype(np.float32)
    else:
        values = _to_float(array)
    if photometric == 0:  # min-is-white
        values = 1.0 - values
    if photometric == 5:  # separated (CMYK): a plain conversion, like Pillow's
        if values.ndim != 3 or values.shape[2] < 4:
            raise PhotoError(f"PiggyDesk cannot read {name}: unusual ink layout.")
        c, m, y, k = (values[..., i] for i in range(4))
        values = np.stack([(1 - c) * (1 - k), (1 - m) * (1 - k), (1 - y) * (1 - k)], axis=2)
    elif photometric not in (0, 1, 2):
        raise PhotoError(
            f"PiggyDesk cannot read {name}: its colours are stored in an unusual way "
            f"(TIFF photometric {photometric}). Save it as an RGB or gray TIFF and try again."
        )
    if values.ndim == 3 and values.shape[2] > 4:
        values = values[..., :4]
    return _Pixels(values.astype(np.float32, copy=False), bit_depth)


def _png_is_16bit(image: Image.Image) -> bool:
    tile = getattr(image, "tile", None) or []
    rawmode = tile[0].args if tile else ""
    return isinstance(rawmode, str) and "16" in rawmode


def _tiff_needs_tifffile(image: Image.Image) -> bool:
    bits = image.tag_v2.get(258, (8,)) if hasattr(image, "tag_v2") else (8,)
    bits = bits if isinstance(bits, tuple) else (bits,)
    return max(int(b) for b in bits) > 8 or image.mode in ("I", "F", "I;16", "I;16B", "I;16L")


def _png_header_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from a PNG's IHDR chunk, without decoding anything."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    return None


def _looks_like_tiff(data: bytes) -> bool:
    return data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def _to_float(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        out = array.astype(np.float32)
        out *= np.float32(1.0 / 255.0)
        return out
    if array.dtype == np.uint16:
        out = array.astype(np.float32)
        out *= np.float32(1.0 / 65535.0)
        return out
    if array.dtype in (np.float16, np.float32, np.float64):
        return np.clip(np.nan_to_num(array.astype(np.float32)), 0.0, 1.0)
    raise PhotoError(f"PiggyDesk cannot use pixels stored as {array.dtype}.")


def _from_float(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """float values in [0, 1] back to ``dtype`` (rounded for integer types)."""
    if dtype == np.uint8:
        return np.rint(values * np.float32(255.0)).astype(np.uint8)
    if dtype == np.uint16:
        return np.rint(values * np.float32(65535.0)).astype(np.uint16)
    return values.astype(np.float32, copy=False)


def _flatten_alpha(values: np.ndarray) -> np.ndarray:
    """Composite gray + alpha and RGBA onto white, band by band; pass gray and RGB through."""
    if values.ndim != 3 or values.shape[2] not in (2, 4):
        return values
    channels = values.shape[2] - 1
    alpha_channel = values[..., channels]
    opaque = float(np.iinfo(values.dtype).max) if values.dtype.kind == "u" else 1.0
    height, width = values.shape[:2]
    shape = (height, width) if channels == 1 else (height, width, 3)
    out = np.empty(shape, dtype=values.dtype)
    if float(alpha_channel.min(initial=opaque)) >= opaque:
        out[...] = values[..., 0] if channels == 1 else values[..., :3]
        return out
    for rows in _bands(height, width):
        band = _to_float(values[rows])
        alpha = band[..., channels:]
        flat = band[..., :channels] * alpha + (1.0 - alpha)
        out[rows] = _from_float(flat[..., 0] if channels == 1 else flat, values.dtype)
    return out


def _orient(values: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to ``(H, W[, C])`` pixels, as Pillow's exif_transpose."""
    if orientation == 2:
        return values[:, ::-1]
    if orientation == 3:
        return values[::-1, ::-1]
    if orientation == 4:
        return values[::-1]
    if orientation == 5:
        return values.swapaxes(0, 1)
    if orientation == 6:
        return np.rot90(values, -1)
    if orientation == 7:
        return np.rot90(values, 2).swapaxes(0, 1)
    if orientation == 8:
        return np.rot90(values, 1)
    return values


def _thumbnail(values: np.ndarray, max_pixels: int = 250_000) -> np.ndarray:
    step = max(1, int(np.ceil(np.sqrt(values.shape[0] * values.shape[1] / max_pixels))))
    return values[::step, ::step]


def _is_neutral(rgb: np.ndarray) -> bool:
    """Whether every pixel has r == g == b (a gray picture stored as RGB), band by band."""
    for rows in _bands(rgb.shape[0], rgb.shape[1]):
        band = rgb[rows]
        if not (
            np.array_equal(band[..., 0], band[..., 1]) and np.array_equal(band[..., 1], band[..., 2])
        ):
            return False
    return True


def _has_colour(rgb: np.ndarray) -> bool:
    lab = rgb_to_lab(_to_float(_thumbnail(rgb)))
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    return bool(np.percentile(chroma, 95) > _COLOR_CHROMA)


# ----------------------------------------------------------------------------- messages


def _not_a_picture(data: bytes, name: str) -> str:
    head = data[:2048]
    lowered = head.lstrip().lower()
    if lowered.startswith((b"<!doctype html", b"<html")):
        kind = "it looks like a web page"
    elif b"\x00" not in head and _mostly_text(head):
        kind = "it looks like text"
    else:
        kind = "its format is unknown or not supported"
    return (
        f"{name} is not a picture PiggyDesk can read ({kind}). PiggyDesk opens JPEG, PNG, "
        "TIFF, BMP, WebP and GIF files."
    )


def _mostly_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = head.decode("latin-1")
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    return printable >= 0.95 * max(len(text), 1)


def _damaged(name: str, exc: BaseException | None) -> PhotoError:
    detail = f" ({exc})" if exc is not None and str(exc) else ""
    return PhotoError(
        f"{name} could not be read: the file seems damaged or incomplete{detail}. "
        "If it was copied or downloaded, try copying it again."
    )


def _too_large(name: str, size: tuple[int, int] | None, detail: str = "") -> PhotoError:
    limit = MAX_PIXELS // 1_000_000
    if size is None:
        match = re.search(r"\((\d+) pixels\)", detail)
        claim = f"{int(match.group(1)) / 1e6:.0f} megapixels" if match else "a gigantic picture"
        return PhotoError(
            f"{name} claims to be {claim}, more than PiggyDesk's limit of {limit} megapixels. "
            "It is refused to protect your computer's memory; scale it down and try again."
        )
    width, height = size
    return PhotoError(
        f"{name} claims to be {width}x{height} pixels ({width * height / 1e6:.0f} megapixels), "
        f"more than PiggyDesk's limit of {limit} megapixels. It is refused to protect your "
        "computer's memory; scale it down and try again."
    )
