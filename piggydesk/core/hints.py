"""Colour hints: points a person clicks onto the photo, and their rasterisation for the models.

A hint is a position in original-image pixels, an sRGB colour and a radius. Engines consume
hints as two arrays at their working size (the format of Zhang et al. 2017, used by the
instant engine and by the piggyback engine's hint encoder E_g):

* ``ab``   float32 ``(2, h, w)``: the hint colours' a*, b* (Lab units) inside hint patches, 0 elsewhere;
* ``mask`` float32 ``(1, h, w)``: 1 inside hint patches, 0 elsewhere.

The radius is measured in *working-size* pixels (the patch the model sees), so the same hint
file means the same thing for a 600 px scan and a 6000 px scan. A radius below 1 marks one pixel.

Hints come from outside (a hints file, a project, the command line), so each value is checked:
positions and radius are finite numbers (not ``true``, not ``NaN``), the radius is 0 to
``MAX_RADIUS``, and a hints file is bounded in size, nesting and count (``core.bounds``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from piggydesk.core.bounds import parse_json
from piggydesk.core.color import rgb_to_lab
from piggydesk.core.errors import PhotoError

DEFAULT_RADIUS = 2.0
MAX_RADIUS = 512.0
"""The largest hint radius (working-size pixels): a disc as large as the working image."""
MAX_HINTS = 10_000
MAX_HINTS_FILE_BYTES = 4 << 20
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
            if not isinstance(data, dict):
                raise TypeError("it is not a set of named values")
            color = data["color"]
            if not isinstance(color, str):
                raise TypeError("its colour is not text")
            return cls(
                x=_coordinate(data["x"], "x"),
                y=_coordinate(data["y"], "y"),
                color=parse_color(color),
                radius=check_radius(data.get("radius", DEFAULT_RADIUS)),
            )
        except KeyError as exc:
            raise PhotoError(f"A hint has no {exc.args[0]!r} value ({_short(data)}).") from None
        except (TypeError, ValueError) as exc:
            raise PhotoError(f"A hint is not valid ({_short(data)}): {exc}.") from None


def _short(data: object) -> str:
    text = repr(data)
    return text if len(text) <= 80 else text[:77] + "..."


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"its {name} is not a number")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"its {name} is not a finite number")
    return number


def _coordinate(value: object, name: str) -> float:
    number = _number(value, name)
    if abs(number) > 1e9:
        raise ValueError(f"its {name} is far outside any photo")
    return number


def check_radius(value: object) -> float:
    """A radius as a float: finite and 0 to ``MAX_RADIUS`` (``ValueError`` otherwise)."""
    radius = _number(value, "radius")
    if not 0.0 <= radius <= MAX_RADIUS:
        raise ValueError(f"its radius {radius:g} is not between 0 and {MAX_RADIUS:g}")
    return radius


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
    try:
        x, y = _coordinate(parts[0], "x"), _coordinate(parts[1], "y")
        r = check_radius(parts[3] if len(parts) == 4 else radius)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"'{text}' is not a valid hint: {exc}") from None
    return Hint(x=x, y=y, color=parse_color(parts[2]), radius=r)


def load_hints_file(path: str | Path) -> list[Hint]:
    """Read ``{"hints": [{"x": .., "y": .., "color": "#rrggbb", "radius": ..}, ...]}``."""
    path = Path(path)
    try:
        if not path.is_file():
            if path.exists():
                raise PhotoError(f"The hints file {path} is not a regular file.")
            raise PhotoError(f"The hints file {path} does not exist.")
        with open(path, "rb") as handle:
            raw = handle.read(MAX_HINTS_FILE_BYTES + 1)
    except OSError as exc:
        raise PhotoError(
            f"The hints file {path} could not be read ({exc.strerror or exc})."
        ) from None
    data = parse_json(raw, f"The hints file {path}", MAX_HINTS_FILE_BYTES)
    if not isinstance(data, dict) or not isinstance(data.get("hints"), list):
        raise PhotoError(f'The hints file {path} must hold {{"hints": [...]}}.')
    if len(data["hints"]) > MAX_HINTS:
        raise PhotoError(
            f"The hints file {path} holds {len(data['hints'])} hints; at most {MAX_HINTS} are used."
        )
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
