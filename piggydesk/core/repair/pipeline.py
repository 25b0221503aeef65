"""The repair stages in their fixed order: geometry -> repair -> tone (then colorize, export).

``RepairSettings`` is everything the document stores about repairing a photo except the
brushed defect mask (a ``bool`` array the size of the *source* photo, so it never has to be
redrawn when the crop or the rotation changes). ``repair_photo(photo, settings, mask)``
returns a new ``Photo``:

1. **geometry** (``core.repair.geometry``): the photo and the mask are turned, flipped,
   straightened and cropped;
2. **repair**: with ``auto_dust`` the automatic proposal (``core.repair.defects``) is added
   to the mask, and the masked pixels are inpainted (``core.repair.inpaint``) on the decoded
   pixels in their own type (one channel for a gray scan, three for a colour one), so every
   unmasked pixel keeps its exact value; then, optionally, grain is reduced
   (``core.repair.denoise``);
3. **tone** (``core.repair.tone``): levels, local contrast and colour cast.

``map_hints`` moves hint positions given in the source's pixels (the command line's) with the
photo; a document keeps its hints in working-photo pixels (``core.repair.document``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from piggydesk.core.color import (
    gray_to_lightness,
    lightness_to_gray_rgb,
    rgb_to_lightness,
    to_unit_float,
)
from piggydesk.core.hints import Hint
from piggydesk.core.imaging import Photo
from piggydesk.core.repair.defects import DefectOptions, propose_defect_mask
from piggydesk.core.repair.denoise import denoise_lightness
from piggydesk.core.repair.geometry import Geometry
from piggydesk.core.repair.inpaint import inpaint_into
from piggydesk.core.repair.tone import ToneSettings, rgb_for, tone_lightness

logger = logging.getLogger(__name__)

STAGES = ("geometry", "repair", "tone", "colorize", "export")
"""The fixed order of the pipeline, as shown to the person."""

INPAINT_METHODS = ("telea", "ns")


@dataclass(frozen=True)
class RepairSettings:
    """Geometry, repair and tone parameters (the mask itself is stored beside them)."""

    geometry: Geometry = field(default_factory=Geometry)
    auto_dust: bool = False
    sensitivity: float = 1.0
    inpaint_method: str = "telea"
    denoise: float = 0.0
    tone: ToneSettings = field(default_factory=ToneSettings)

    def __post_init__(self) -> None:
        if self.inpaint_method not in INPAINT_METHODS:
            raise ValueError(
                f"the inpainting method must be telea or ns, not {self.inpaint_method}"
            )
        object.__setattr__(self, "sensitivity", float(np.clip(self.sensitivity, 0.1, 3.0)))
        object.__setattr__(self, "denoise", float(np.clip(self.denoise, 0.0, 1.0)))

    @property
    def is_identity(self) -> bool:
        return self == RepairSettings()

    def to_dict(self) -> dict:
        return {
            "geometry": self.geometry.to_dict(),
            "auto_dust": self.auto_dust,
            "sensitivity": self.sensitivity,
            "inpaint_method": self.inpaint_method,
            "denoise": self.denoise,
            "tone": self.tone.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict | None) -> RepairSettings:
        data = data or {}
        return cls(
            geometry=Geometry.from_dict(data.get("geometry") or {}),
            auto_dust=bool(data.get("auto_dust", False)),
            sensitivity=float(data.get("sensitivity", 1.0)),
            inpaint_method=str(data.get("inpaint_method", "telea")),
            denoise=float(data.get("denoise", 0.0)),
            tone=ToneSettings.from_dict(data.get("tone") or {}),
        )

    def with_geometry(self, geometry: Geometry) -> RepairSettings:
        return replace(self, geometry=geometry)

    def with_tone(self, tone: ToneSettings) -> RepairSettings:
        return replace(self, tone=tone)


def repair_photo(photo: Photo, settings: RepairSettings, mask: np.ndarray | None = None) -> Photo:
    """``photo`` after geometry, repair and tone (see the module docstring)."""
    has_mask = mask is not None and bool(np.any(mask))
    if settings.is_identity and not has_mask:
        return photo
    if has_mask and mask.shape != photo.size:
        raise ValueError(f"the defect mask is {mask.shape[::-1]}, the photo {photo.size[::-1]}")
    geometry = settings.geometry
    lightness_only = photo.pixels is None  # (the command line's colorize path drops them)
    gray = lightness_only or not photo.is_color
    # 1. geometry, on the decoded values in their own type (a gray scan: one channel)
    source = _decoded(photo, gray)
    pixels = geometry.apply(source)
    lightness = geometry.apply(photo.lightness)
    # 2. repair
    defects = geometry.apply(mask, mask=True) if has_mask else None
    if settings.auto_dust:
        proposal = propose_defect_mask(lightness, DefectOptions(sensitivity=settings.sensitivity))
        defects = proposal if defects is None else (defects | proposal)
    if defects is not None and defects.any():
        # only the masked pixels change: every other value stays bit for bit what it was
        pixels = _own_copy(pixels, source)
        inpaint_into(pixels, defects, method=settings.inpaint_method)
        lightness = _own_copy(lightness, photo.lightness)
        filled = to_unit_float(pixels[defects])
        lightness[defects] = gray_to_lightness(filled) if gray else rgb_to_lightness(filled)
    lightness_changed = False
    if settings.denoise > 0:
        lightness = denoise_lightness(lightness, settings.denoise)
        lightness_changed = True
    # 3. tone
    tone = settings.tone
    if tone.levels > 0 or tone.clahe > 0:
        lightness = tone_lightness(lightness, tone)
        lightness_changed = True
    if lightness_changed and gray:
        pixels = gray_of_lightness(lightness)
    elif lightness_changed or (tone.cast > 0 and not gray):
        pixels = rgb_for(lightness, to_unit_float(pixels), tone.cast)
    lightness = np.clip(lightness, 0.0, 100.0).astype(np.float32, copy=False)
    if lightness_only:
        return replace(photo, lightness=lightness)
    return replace(photo, pixels=np.ascontiguousarray(pixels), lightness=lightness)


_GRAY_LUT: np.ndarray | None = None


def gray_of_lightness(lightness: np.ndarray) -> np.ndarray:
    """16-bit sRGB gray ``(H, W)`` of L* (0-100), through a table of 65536 steps of L*."""
    global _GRAY_LUT
    if _GRAY_LUT is None:
        levels = np.arange(65536, dtype=np.float32) / np.float32(655.35)
        gray = lightness_to_gray_rgb(levels[None, :])[0, :, 0]
        _GRAY_LUT = np.clip(np.rint(gray * 65535.0), 0, 65535).astype(np.uint16)
    index = np.clip(lightness * np.float32(655.35) + np.float32(0.5), 0, 65535).astype(np.uint16)
    return _GRAY_LUT[index]


def _decoded(photo: Photo, gray: bool) -> np.ndarray:
    """The photo's decoded values: gray ``(H, W)`` for a gray photo, else RGB."""
    stored = photo.pixels
    if stored is None:  # only the lightness is kept: its gray stands in for the pixels
        return gray_of_lightness(photo.lightness)
    if (stored.ndim == 2) == gray:
        return stored
    return np.ascontiguousarray(stored[..., 0]) if gray else photo.rgb


def _own_copy(array: np.ndarray, source: np.ndarray) -> np.ndarray:
    """``array``, or a writable copy of it when it is (a view of) the photo's own data."""
    if array.dtype not in (np.uint8, np.uint16, np.float32):
        return array.astype(np.float32)
    if np.shares_memory(array, source) or not array.flags.writeable:
        return np.array(array)
    return array


def map_hints(hints: Sequence[Hint], geometry: Geometry, size: tuple[int, int]) -> list[Hint]:
    """Hints in source pixels -> output pixels; hints that fall outside the output are dropped."""
    if geometry.is_identity or not hints:
        return list(hints)
    points = geometry.map_points(np.array([[h.x, h.y] for h in hints]), size)
    return hints_at(hints, points, geometry.output_size(size))


def hints_at(
    hints: Sequence[Hint], points: np.ndarray, output_size: tuple[int, int]
) -> list[Hint]:
    """Each hint moved to its ``(x, y)`` in ``points``; those outside ``(h, w)`` dropped."""
    oh, ow = output_size
    out = []
    for hint, (x, y) in zip(hints, points):
        if -0.5 <= x < ow - 0.5 and -0.5 <= y < oh - 0.5:
            out.append(hint.moved_to(float(np.clip(x, 0, ow - 1)), float(np.clip(y, 0, oh - 1))))
    return out
