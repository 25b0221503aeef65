"""The engines' common interface: what a colorization request holds and what comes back.

Torch-free on purpose: the GUI and the CLI import this module, while each engine module
(``classic``, ``instant``, ``piggyback``) is loaded lazily by ``registry``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from piggydesk.core.hints import Hint

# engines share the core's progress/cancel vocabulary; re-exported for engine modules
from piggydesk.core.progress import (  # noqa: F401, I001
    Cancelled,
    CancelToken,
    ProgressCallback,
    check_cancel,
)


class EngineUnavailable(Exception):
    """The engine cannot run here (weights missing, no model installed...); the message says why."""


@dataclass(frozen=True)
class ColorizeRequest:
    """Everything an engine needs for one run.

    ``lightness`` is the photo's CIE L* (0-100) at *full* resolution, float32 ``(H, W)``;
    engines resize it to ``working_size`` (long side) themselves and hand their working-size
    chroma back to ``core.recombine`` so the output keeps the original lightness exactly.
    """

    lightness: np.ndarray
    hints: tuple[Hint, ...] = ()
    prompt: str = ""
    negative_prompt: str = ""
    seed: int = 0
    num_variants: int = 1
    steps: int = 20
    guidance_scale: float = 7.5
    working_size: int = 512

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.lightness.shape[0]), int(self.lightness.shape[1])


@dataclass(frozen=True)
class VariantSettings:
    """The settings that produced one variant: what "Use these settings" restores."""

    engine: str
    seed: int
    variant_index: int = 0
    prompt: str = ""
    negative_prompt: str = ""
    hints: tuple[Hint, ...] = ()
    steps: int = 20
    guidance_scale: float = 7.5
    working_size: int = 512
    mode: str = ""  # e.g. "sdedit" for the piggyback engine without a guider

    def to_dict(self) -> dict:
        return {
            "engine": self.engine,
            "seed": self.seed,
            "variant_index": self.variant_index,
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "hints": [h.to_dict() for h in self.hints],
            "steps": self.steps,
            "guidance_scale": self.guidance_scale,
            "working_size": self.working_size,
            "mode": self.mode,
        }

    @classmethod
    def from_dict(cls, data: dict) -> VariantSettings:
        return cls(
            engine=str(data["engine"]),
            seed=int(data["seed"]),
            variant_index=int(data.get("variant_index", 0)),
            prompt=str(data.get("prompt", "")),
            negative_prompt=str(data.get("negative_prompt", "")),
            hints=tuple(Hint.from_dict(h) for h in data.get("hints", [])),
            steps=int(data.get("steps", 20)),
            guidance_scale=float(data.get("guidance_scale", 7.5)),
            working_size=int(data.get("working_size", 512)),
            mode=str(data.get("mode", "")),
        )

    @classmethod
    def from_request(
        cls, engine: str, request: ColorizeRequest, variant_index: int = 0, mode: str = ""
    ) -> VariantSettings:
        return cls(
            engine=engine,
            seed=request.seed,
            variant_index=variant_index,
            prompt=request.prompt,
            negative_prompt=request.negative_prompt,
            hints=tuple(request.hints),
            steps=request.steps,
            guidance_scale=request.guidance_scale,
            working_size=request.working_size,
            mode=mode,
        )


@dataclass
class Variant:
    """One colorization result: full-resolution sRGB float32 ``(H, W, 3)`` in [0, 1]."""

    rgb: np.ndarray
    settings: VariantSettings
    message: str = ""  # something the user should know ("the classic engine needs hints")
    seconds: float = 0.0


@dataclass(frozen=True)
class ColorSuggestion:
    """A likely colour at a point, from an engine's predicted colour distribution."""

    color: tuple[int, int, int]
    probability: float


@runtime_checkable
class Colorizer(Protocol):
    """What every engine offers."""

    name: str

    def colorize(
        self,
        request: ColorizeRequest,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> list[Variant]: ...


@runtime_checkable
class SuggestsColors(Protocol):
    """Engines that can propose colours for a point (the instant engine)."""

    def suggest_colors(
        self, request: ColorizeRequest, x: float, y: float, k: int = 8
    ) -> list[ColorSuggestion]: ...


@dataclass(frozen=True)
class EngineInfo:
    """What the registry knows about an engine without loading it."""

    name: str
    display_name: str
    description: str
    available: bool
    reason: str = ""  # why it is unavailable, for a tooltip or an error line
    needs_hints: bool = False
    uses_prompt: bool = False
    uses_steps: bool = False
    default_working_size: int = 512


@dataclass
class Timer:
    """Tiny helper engines use to fill ``Variant.seconds``."""

    start: float = field(default_factory=time.perf_counter)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start
