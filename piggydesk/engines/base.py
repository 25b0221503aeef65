"""The engines' common interface: what a colorization request holds and what comes back.

Torch-free on purpose: the GUI and the CLI import this module, while each engine module
(``classic``, ``instant``, ``piggyback``) is imported by ``registry`` only when it is asked
about. A request is the photo's lightness plus ``core.run_settings.RunSettings``; a result
(``Variant``) carries the ``RunSettings`` that made it. ``EngineInfo`` describes an engine as
data, so the UI never names one.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

# engines share the core's progress/cancel vocabulary; re-exported for engine modules
from piggydesk.core.progress import (  # noqa: F401
    Cancelled,
    CancelToken,
    ProgressCallback,
    check_cancel,
)
from piggydesk.core.run_settings import FIELD_NAMES, RunSettings


class EngineUnavailable(Exception):
    """The engine cannot run here (weights missing, no model installed...); the message says why."""


class EngineOutOfMemory(Exception):
    """The engine ran out of (device or host) memory; the message says which, in words.

    Engines raise it (``engines.device.out_of_memory`` turns torch's errors into it) so the
    GUI can offer the CPU without reading error texts.
    """


@dataclass(frozen=True, init=False)
class ColorizeRequest:
    """Everything an engine needs for one run: the photo's lightness plus ``RunSettings``.

    ``lightness`` is the photo's CIE L* (0-100) at *full* resolution, float32 ``(H, W)``;
    engines resize it to ``working_size`` (long side) themselves and hand their working-size
    chroma back to ``core.recombine`` so the output keeps the original lightness exactly.
    The settings' fields read straight through (``request.seed``, ``request.hints``...), and
    ``ColorizeRequest(L, seed=3)`` or ``dataclasses.replace(request, num_variants=1)`` change
    single settings.
    """

    lightness: np.ndarray
    settings: RunSettings

    def __init__(
        self, lightness: np.ndarray, settings: RunSettings | None = None, **values: Any
    ) -> None:
        settings = settings if settings is not None else RunSettings()
        if values:
            settings = settings.with_values(**values)
        object.__setattr__(self, "lightness", lightness)
        object.__setattr__(self, "settings", settings)

    def __getattr__(self, name: str) -> Any:
        # only called for names that are not attributes: the settings' fields and ``mode``
        if name in FIELD_NAMES or name == "mode":
            return getattr(object.__getattribute__(self, "settings"), name)
        raise AttributeError(f"'ColorizeRequest' object has no attribute '{name}'")

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.lightness.shape[0]), int(self.lightness.shape[1])


@dataclass
class Variant:
    """One colorization result: full-resolution sRGB float32 ``(H, W, 3)`` in [0, 1]."""

    rgb: np.ndarray
    settings: RunSettings  # what made it (``request.settings.for_variant(...)``)
    message: str = ""  # something the user should know ("the classic engine needs hints")
    seconds: float = 0.0  # its share of the run's time: a run's variants add up to the run


def variant_notes(variants: Sequence[Variant]) -> list[str]:
    """What the user should hear about a run: each variant's message once, in order."""
    return list(dict.fromkeys(v.message for v in variants if v.message))


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

    def unload(self) -> None:
        """Free the weights and caches (the engine may be dropped or loaded again later)."""


@runtime_checkable
class SuggestsColors(Protocol):
    """Engines that can propose colours for a point (the instant engine)."""

    def suggest_colors(
        self, request: ColorizeRequest, x: float, y: float, k: int = 8
    ) -> list[ColorSuggestion]: ...


@dataclass(frozen=True)
class EngineInfo:
    """What the registry knows about an engine without loading it.

    The capability fields are what the UI asks instead of naming engines: which widgets to
    show, whether Live preview and colour suggestions are offered, how many variants a run
    can make.
    """

    name: str
    display_name: str
    description: str
    available: bool
    reason: str = ""  # why it is unavailable, for a tooltip or an error line
    needs_hints: bool = False  # makes nothing useful without colour hints
    uses_prompt: bool = False  # reads the prompt and negative prompt
    uses_steps: bool = False  # reads steps and guidance scale (a diffusion sampler)
    default_working_size: int = 512
    uses_hints: bool = True  # reads colour hints at all
    live_preview: bool = False  # fast enough to refresh after every hint edit
    suggests_colors: bool = False  # implements ``SuggestsColors``
    max_variants: int = 8  # variants one run can make (1: it is deterministic)
    options: tuple[str, ...] = ()  # engine options it reads now (``RunSettings.options`` keys)


@dataclass
class Timer:
    """Tiny helper engines use to fill ``Variant.seconds``."""

    start: float = field(default_factory=time.perf_counter)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start
