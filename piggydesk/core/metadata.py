"""Photo metadata PiggyDesk carries from the source photo to an export: EXIF and ICC.

EXIF is kept as the bytes of a small TIFF structure prefixed with ``Exif\\0\\0`` (the form a
JPEG APP1 segment holds and Pillow reads and writes). On the way in, the tags that describe
the source file's pixel layout (strip offsets, bit depth, compression...) are dropped, the
orientation is reset to 1 (PiggyDesk applies it to the pixels) and the thumbnail goes (it
would be the gray original). On the way out the ``Software`` tag says PiggyDesk made the
colours, and the pixel-dimension tags follow the exported size.

An ICC profile is kept only if it describes RGB data: a gray or CMYK profile does not fit the
RGB image PiggyDesk writes, so such a profile is dropped (the export is then plain sRGB).
"""

from __future__ import annotations

import logging

from PIL import ExifTags, Image

from piggydesk import __version__

logger = logging.getLogger(__name__)

SOFTWARE = f"PiggyDesk {__version__}"
DEFAULT_NOTE = "Colorized by PiggyDesk"

ORIENTATION = ExifTags.Base.Orientation
_EXIF_IFD = ExifTags.IFD.Exif
_PIXEL_X = ExifTags.Base.ExifImageWidth  # 0xA002 PixelXDimension
_PIXEL_Y = ExifTags.Base.ExifImageHeight  # 0xA003 PixelYDimension

# IFD0 tags that describe how a TIFF stores its pixels: meaningless (or harmful) once the
# pixels have been decoded and will be written again in another layout.
_STRUCTURAL_TAGS = frozenset(
    {
        254,
        255,
        256,
        257,
        258,
        259,
        262,
        263,
        266,
        273,
        277,
        278,
        279,
        280,
        281,
        284,
        292,
        293,
        296,
        317,
        320,
        322,
        323,
        324,
        325,
        330,
        338,
        339,
        340,
        341,
        347,
        513,
        514,
        530,
        531,
        532,
        282,
        283,
        34675,
        700,
        33723,
        34377,
        37724,
        50838,
        50839,
    }
)


def clean_exif(exif: Image.Exif) -> bytes | None:
    """EXIF worth keeping from ``exif`` (as read by Pillow), orientation reset to 1.

    Returns ``None`` when nothing useful is left (no camera, date or other descriptive tag).
    """
    try:
        cleaned = Image.Exif()
        kept_sub = False
        for tag, value in exif.items():
            if tag in _STRUCTURAL_TAGS or tag in (ExifTags.IFD.Exif, ExifTags.IFD.GPSInfo):
                continue
            if tag == ExifTags.Base.ImageDescription and str(value).startswith('{"shape"'):
                continue  # tifffile's layout note, not a person's description
            cleaned[tag] = value
        for ifd_tag in (ExifTags.IFD.Exif, ExifTags.IFD.GPSInfo):
            if ifd_tag in exif:
                sub = dict(exif.get_ifd(ifd_tag))
                sub.pop(ExifTags.IFD.Interop, None)
                sub.pop(ExifTags.Base.MakerNote, None)  # vendor blobs with absolute offsets
                if sub:
                    cleaned.get_ifd(ifd_tag).update(sub)
                    kept_sub = True
        if not len(cleaned) and not kept_sub:
            return None
        cleaned[ORIENTATION] = 1
        return cleaned.tobytes()
    except Exception as exc:  # noqa: BLE001 - broken EXIF must never stop a photo loading
        logger.warning("Ignoring EXIF data that could not be read: %s", exc)
        return None


def exif_for_export(
    exif: bytes | None, size: tuple[int, int] | None = None, software: str = SOFTWARE
) -> bytes:
    """EXIF bytes (``Exif\\0\\0`` + TIFF) for an export: orientation 1, ``Software`` set.

    ``size`` is the exported ``(height, width)``; it updates the EXIF pixel dimensions.
    Works with ``exif=None`` too (then only the PiggyDesk tags are written).
    """
    data = Image.Exif()
    if exif:
        try:
            data.load(exif)
        except Exception as exc:  # noqa: BLE001
            logger.warning("Writing fresh EXIF: the photo's EXIF could not be read (%s)", exc)
            data = Image.Exif()
    data[ORIENTATION] = 1
    data[ExifTags.Base.Software] = software
    if size is not None and _EXIF_IFD in data:
        sub = data.get_ifd(_EXIF_IFD)
        if _PIXEL_X in sub or _PIXEL_Y in sub:
            sub[_PIXEL_X] = int(size[1])
            sub[_PIXEL_Y] = int(size[0])
    return data.tobytes()


def read_exif_tags(exif: bytes | None) -> dict[int, object]:
    """IFD0 tags merged with the EXIF sub-IFD's tags, for display and TIFF export."""
    if not exif:
        return {}
    data = Image.Exif()
    try:
        data.load(exif)
        tags: dict[int, object] = {
            k: v for k, v in data.items() if k not in (ExifTags.IFD.Exif, ExifTags.IFD.GPSInfo)
        }
        tags.update(data.get_ifd(_EXIF_IFD))
    except Exception as exc:  # noqa: BLE001
        logger.warning("Could not read EXIF tags: %s", exc)
        return {}
    return tags


def date_taken(exif: bytes | None) -> str | None:
    """``DateTimeOriginal`` (or ``DateTime``) as the EXIF text ``YYYY:MM:DD HH:MM:SS``."""
    tags = read_exif_tags(exif)
    for tag in (
        ExifTags.Base.DateTimeOriginal,
        ExifTags.Base.DateTimeDigitized,
        ExifTags.Base.DateTime,
    ):
        value = tags.get(tag)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def icc_color_space(icc: bytes | None) -> str | None:
    """The data colour space an ICC profile describes: ``"RGB"``, ``"GRAY"``, ``"CMYK"``..."""
    if not icc or len(icc) < 20:
        return None
    return icc[16:20].decode("ascii", errors="replace").strip()


def rgb_icc_or_none(icc: bytes | None) -> bytes | None:
    """``icc`` if it is an RGB profile (usable on PiggyDesk's RGB output), else ``None``."""
    space = icc_color_space(icc)
    if icc and space != "RGB":
        logger.info("Not keeping the photo's %s ICC profile: the colorized image is RGB", space)
        return None
    return icc or None
