"""The repair options of the ``piggydesk`` command: ``repair``, and the same on ``colorize``/``batch``.

``piggydesk repair IN -o OUT [--auto-dust] [--levels] [--straighten DEG] [--crop X,Y,W,H]
[--mask MASK.png] ...`` writes the repaired photo; ``colorize`` and ``batch`` take the same
options and repair each photo before colorizing it, in the pipeline's fixed order (geometry ->
repair -> tone -> colorize -> export; ``core.repair.pipeline``). Hints given on the command
line are in the pixels of the *input* photo and move with it through the geometry; a hint the
crop cuts away is dropped with a note.

A mask is a picture the size of the input photo, white (light) where the defects are. For
``batch``, ``--mask`` names a folder holding ``<photo name>.png`` masks; a photo without one
is repaired by ``--auto-dust`` alone.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from piggydesk.cli_args import number
from piggydesk.core.errors import PhotoError
from piggydesk.core.hints import Hint
from piggydesk.core.imaging import Photo, load_photo
from piggydesk.core.repair.geometry import MAX_STRAIGHTEN, Geometry
from piggydesk.core.repair.pipeline import INPAINT_METHODS, RepairSettings, map_hints, repair_photo
from piggydesk.core.repair.tone import ToneSettings

logger = logging.getLogger(__name__)

MASK_LEVEL = 50.0
"""Mask pixels lighter than this L* mark defects."""


def _strength(text: str) -> float:
    value = number(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a strength is between 0 and 1, not {text}")
    return value


def _sensitivity(text: str) -> float:
    value = number(text)
    if not 0.1 <= value <= 3.0:
        raise argparse.ArgumentTypeError(f"the sensitivity is between 0.1 and 3, not {text}")
    return value


def _angle(text: str) -> float:
    value = number(text, "a number of degrees")
    if not abs(value) <= MAX_STRAIGHTEN:
        raise argparse.ArgumentTypeError(
            f"straightening is limited to -{MAX_STRAIGHTEN:g} to {MAX_STRAIGHTEN:g} degrees "
            "(use --rotate for quarter turns)"
        )
    return value


def _crop(text: str) -> tuple[int, int, int, int]:
    parts = text.split(",")
    try:
        x, y, w, h = (int(p.strip()) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a crop of the form X,Y,WIDTH,HEIGHT (whole pixels)"
        ) from None
    if x < 0 or y < 0 or w < 1 or h < 1:
        raise argparse.ArgumentTypeError(
            f"'{text}': X and Y must be 0 or more, WIDTH and HEIGHT 1 or more"
        )
    return x, y, w, h


def repair_options() -> argparse.ArgumentParser:
    """A parent parser with the repair options (``add_help=False``)."""
    common = argparse.ArgumentParser(add_help=False)
    g = common.add_argument_group(
        "repair (applied first, in this order: geometry, dust and scratches, tone)"
    )
    g.add_argument(
        "--rotate",
        type=int,
        choices=(0, 90, 180, 270),
        default=0,
        help="turn the photo clockwise by this many degrees",
    )
    g.add_argument(
        "--flip",
        choices=("h", "v", "hv"),
        default=None,
        help="mirror left-right (h), top-bottom (v) or both",
    )
    g.add_argument(
        "--straighten",
        type=_angle,
        default=0.0,
        metavar="DEG",
        help="level a tilted scan: turn by DEG degrees (clockwise positive, at most "
        "45), cropped so no empty corners show",
    )
    g.add_argument(
        "--crop",
        type=_crop,
        default=None,
        metavar="X,Y,W,H",
        help="keep this rectangle (pixels of the turned and straightened photo)",
    )
    g.add_argument(
        "--auto-dust",
        action="store_true",
        help="find dust specks, hairline scratches and torn corners automatically and fill them in",
    )
    g.add_argument(
        "--dust-sensitivity",
        type=_sensitivity,
        default=1.0,
        metavar="F",
        help="how faint a defect --auto-dust still finds (0.1-3, default 1)",
    )
    g.add_argument(
        "--mask",
        metavar="MASK.png",
        default=None,
        help="a picture the size of the input, white where defects are to be "
        "filled in (batch: a folder of masks named like the photos)",
    )
    g.add_argument(
        "--inpaint",
        choices=INPAINT_METHODS,
        default="telea",
        help="how thin defects are filled: telea (default) or ns (Navier-Stokes)",
    )
    g.add_argument(
        "--denoise",
        type=_strength,
        default=0.0,
        metavar="S",
        help="reduce film grain, strength 0-1 (slow on large scans)",
    )
    g.add_argument(
        "--levels",
        type=_strength,
        nargs="?",
        const=1.0,
        default=0.0,
        metavar="S",
        help="automatic levels for a faded scan (strength 0-1, default 1 when given)",
    )
    g.add_argument(
        "--local-contrast",
        type=_strength,
        default=0.0,
        metavar="S",
        help="local contrast (CLAHE on the lightness), strength 0-1",
    )
    g.add_argument(
        "--remove-cast",
        type=_strength,
        nargs="?",
        const=1.0,
        default=0.0,
        metavar="S",
        help="remove the colour cast of a yellowed or sepia scan (strength 0-1)",
    )
    return common


def settings_from_args(args: argparse.Namespace) -> RepairSettings:
    flip = args.flip or ""
    return RepairSettings(
        geometry=Geometry(
            rotate=args.rotate // 90,
            flip_h="h" in flip,
            flip_v="v" in flip,
            straighten=args.straighten,
            crop=args.crop,
        ),
        auto_dust=args.auto_dust,
        sensitivity=args.dust_sensitivity,
        inpaint_method=args.inpaint,
        denoise=args.denoise,
        tone=ToneSettings(levels=args.levels, clahe=args.local_contrast, cast=args.remove_cast),
    )


def load_mask(path: str | Path, photo: Photo) -> np.ndarray:
    """A defect mask picture (white = defect) the size of ``photo``, as a ``bool`` array."""
    path = Path(path)
    try:
        picture = load_photo(path)
    except PhotoError as exc:
        raise PhotoError(f"The mask cannot be used: {exc}") from None
    if picture.size != photo.size:
        (h, w), (ph, pw) = picture.size, photo.size
        raise PhotoError(
            f"The mask {path.name} is {w}x{h} pixels but the photo {photo.name} is {pw}x{ph}; "
            "a mask must be the size of its photo."
        )
    return picture.lightness > MASK_LEVEL


def mask_for(args: argparse.Namespace, photo: Photo, batch: bool = False) -> np.ndarray | None:
    if not args.mask:
        return None
    if batch:
        folder = Path(args.mask)
        if photo.path is None:
            return None
        candidate = folder / f"{photo.path.stem}.png"
        return load_mask(candidate, photo) if candidate.is_file() else None
    return load_mask(args.mask, photo)


def check_mask_arg(args: argparse.Namespace, batch: bool = False) -> None:
    """Refuse a missing mask (or mask folder) before any work is done."""
    if not args.mask:
        return
    path = Path(args.mask)
    if batch and not path.is_dir():
        raise PhotoError(f"--mask for a batch must be a folder of masks; {path} is not a folder.")
    if not batch and not path.is_file():
        raise PhotoError(f"The mask {path} does not exist.")


def prepare(
    photo: Photo,
    args: argparse.Namespace,
    hints: Sequence[Hint] = (),
    batch: bool = False,
) -> tuple[Photo, list[Hint], list[str]]:
    """``(repaired photo, hints moved with it, notes)`` for the options in ``args``."""
    settings = settings_from_args(args)
    mask = mask_for(args, photo, batch)
    if settings.is_identity and mask is None:
        return photo, list(hints), []
    notes = []
    size = photo.size
    repaired = repair_photo(photo, settings, mask)
    moved = map_hints(hints, settings.geometry, size)
    if len(moved) < len(hints):
        notes.append(
            f"{len(hints) - len(moved)} hint(s) lie outside the cropped photo and were left out."
        )
    logger.info("repaired %s: %s", photo.name, settings.to_dict())
    return repaired, moved, notes


def describe(settings: RepairSettings, has_mask: bool = False) -> str:
    """What the repair did, in a few words (``turned 90 degrees, dust filled in, levels``)."""
    g = settings.geometry
    done = []
    if g.rotate:
        done.append(f"turned {g.rotate * 90} degrees")
    if g.flip_h or g.flip_v:
        done.append("mirrored")
    if g.straighten:
        done.append(f"straightened {g.straighten:g} degrees")
    if g.crop:
        done.append("cropped")
    if settings.auto_dust or has_mask:
        done.append("dust and scratches filled in")
    if settings.denoise:
        done.append("grain reduced")
    tone = settings.tone
    if tone.levels:
        done.append("levels")
    if tone.clahe:
        done.append("local contrast")
    if tone.cast:
        done.append("colour cast removed")
    return ", ".join(done) if done else "unchanged: no repair asked for"
