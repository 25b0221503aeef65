"""Colour hints: points a person clicks onto the photo, and their rasterisation for the models.

A hint is a position in original-image pixels, an sRGB colour and a radius. Engines consume
hints as two arrays at their working size (the format of Zhang et al. 2017, used by the
instant engine and by the piggyback engine's hint encoder E_g):

* ``ab``   float32 ``(2, h, w)``: the hint colours' a*, b* (Lab units) inside hint patches, 0 elsewhere;
* ``mask`` float32 ``(1, h, w)``: 1 inside hint patches, 0 elsewhere.

The radius is measured in *working-size* pixels (the patch the model sees), so the same hint
file means the same thing for a 600 px scan and a 6000 px scan. A radius below 1 marks one pixel.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from piggydesk.core.color import rgb_to_lab
from piggydesk.core.errors import PhotoError

DEFAULT_RADIUS = 2.0
_HEX = re.compile(r"^#?([0-9a-fA-F]{6})$")


@dataclass(frozen=True)
class Hint:
    """One colour hint. ``x``, ``y`` in original-image pixels; ``color`` is 8-bit sRGB."""

    x: float
    y: float
    color: tuple[int, int, int]
    radius: float = DEFAULT_RADIUS

    @property
    def hex(self) -> str:
        return "#{:02x}{:02x}{:02x}".format(*self.color)

    def moved_to(self, x: float, y: float) -> Hint:
        return replace(self, x=float(x), y=float(y))

    def recoloured(self, color: tuple[int, int, int]) -> Hint:
        return replace(self, color=tuple(int(c) for c in color))

    def resized(self, radius: float) -> Hint:
        return replace(self, radius=float(radius))

    def hit(self, x: float, y: float, tolerance: float) -> bool:
        """Whether the point (x, y) (image pixels) is within ``tolerance`` pixels of the hint."""
        return (self.x - x) ** 2 + (self.y - y) ** 2 <= tolerance**2

    def to_dict(self) -> dict:
        return {"x": self.x, "y": self.y, "color": self.hex, "radius": self.radius}

    @classmethod
    def from_dict(cls, data: dict) -> Hint:
        try:
            return cls(
                x=float(data["x"]),
                y=float(data["y"]),
                color=parse_color(str(data["color"])),
                radius=float(data.get("radius", DEFAULT_RADIUS)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PhotoError(f"A hint is not valid ({data!r}): {exc}") from None


def parse_color(text: str) -> tuple[int, int, int]:
    """``#RRGGBB`` (or ``RRGGBB``) to an 8-bit sRGB triple."""
    match = _HEX.match(text.strip())
    if not match:
        raise ValueError(f"'{text}' is not a colour of the form #RRGGBB")
    value = match.group(1)
    return (int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16))


def parse_hint_arg(text: str, radius: float = DEFAULT_RADIUS) -> Hint:
    """The command line's ``X,Y,#RRGGBB`` (optionally ``,RADIUS``) form."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (3, 4):
        raise ValueError(f"'{text}' is not a hint of the form X,Y,#RRGGBB")
    x, y = float(parts[0]), float(parts[1])
    r = float(parts[3]) if len(parts) == 4 else radius
    return Hint(x=x, y=y, color=parse_color(parts[2]), radius=r)


def load_hints_file(path: str | Path) -> list[Hint]:
    """Read ``{"hints": [{"x": .., "y": .., "color": "#rrggbb", "radius": ..}, ...]}``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PhotoError(f"The hints file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PhotoError(f"The hints file {path} could not be read: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("hints"), list):
        raise PhotoError(f'The hints file {path} must hold {{"hints": [...]}}.')
    return [Hint.from_dict(item) for item in data["hints"]]


def save_hints_file(path: str | Path, hints: Iterable[Hint]) -> None:
    Path(path).write_text(
        json.dumps({"hints": [h.to_dict() for h in hints]}, indent=2), encoding="utf-8"
    )


def rasterize_hints(
    hints: Sequence[Hint],
    image_size: tuple[int, int],
    work_size: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray]:
    """Rasterise hints into ``(ab (2,h,w), mask (1,h,w))`` at the working size.

    ``image_size`` and ``work_size`` are ``(height, width)``. Each hint paints a disc of its
    radius (working pixels) centred on its scaled position; later hints paint over earlier ones.
    """
    h, w = work_size
    H, W = image_size
    ab = np.zeros((2, h, w), dtype=np.float32)
    mask = np.zeros((1, h, w), dtype=np.float32)
    if not hints:
        return ab, mask
    sx, sy = w / W, h / H
    colors = np.array([hint.color for hint in hints], dtype=np.float32) / 255.0
    hint_ab = rgb_to_lab(colors)[:, 1:]
    for hint, (a, b) in zip(hints, hint_ab):
        cx = (hint.x + 0.5) * sx - 0.5
        cy = (hint.y + 0.5) * sy - 0.5
        r = max(float(hint.radius), 0.5)
        x0, x1 = max(int(np.floor(cx - r)), 0), min(int(np.ceil(cx + r)) + 1, w)
        y0, y1 = max(int(np.floor(cy - r)), 0), min(int(np.ceil(cy + r)) + 1, h)
        if x0 >= x1 or y0 >= y1:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1]
        disc = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
        if not disc.any():  # a tiny radius between pixel centres: mark the nearest pixel
            disc = np.zeros_like(disc)
            disc[
                min(max(int(round(cy)) - y0, 0), y1 - y0 - 1),
                min(max(int(round(cx)) - x0, 0), x1 - x0 - 1),
            ] = True
        ab[0, y0:y1, x0:x1][disc] = a
        ab[1, y0:y1, x0:x1][disc] = b
        mask[0, y0:y1, x0:x1][disc] = 1.0
    return ab, mask
