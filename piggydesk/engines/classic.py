"""The classic engine: colorization by optimisation (Levin, Lischinski and Weiss, SIGGRAPH 2004).

Each hint's colour spreads to neighbouring pixels of similar lightness by solving the paper's
Eq. 1-2 at the working size (``core.propagation.propagate_chroma``, where the equations and
the solver are described); the result is recombined with the photo's full-resolution
lightness. Needs no model and gives one deterministic variant.
"""

from __future__ import annotations

import logging
from pathlib import Path

from piggydesk.core.color import lightness_to_gray_rgb
from piggydesk.core.hints import rasterize_hints
from piggydesk.core.propagation import propagate_chroma
from piggydesk.core.recombine import recombine, resize_lightness
from piggydesk.core.sizing import working_shape
from piggydesk.engines.base import (
    CancelToken,
    ColorizeRequest,
    EngineInfo,
    ProgressCallback,
    Timer,
    Variant,
    check_cancel,
)

logger = logging.getLogger(__name__)

NAME = "classic"
DISPLAY_NAME = "Classic"
DESCRIPTION = (
    "Colorization by optimisation (Levin et al. 2004): spreads the colour of each hint to "
    "neighbouring pixels of similar lightness. Needs no model; precise, but only as good as "
    "your hints."
)
NO_HINTS_MESSAGE = (
    "The classic engine spreads the colours of your hints; add a few hints to colorize."
)
ONE_VARIANT_MESSAGE = "The classic engine always gives the same result, so it made one variant."


class ClassicColorizer:
    """Levin et al. 2004 behind the ``Colorizer`` protocol; runs on the CPU, needs no model."""

    name = NAME

    def unload(self) -> None:
        """Nothing to free: the classic engine has no weights."""

    def colorize(
        self,
        request: ColorizeRequest,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> list[Variant]:
        timer = Timer()
        check_cancel(cancel)
        settings = request.settings.for_variant(NAME)
        if not request.hints:
            if progress:
                progress(1, 1)
            return [
                Variant(
                    rgb=lightness_to_gray_rgb(request.lightness),
                    settings=settings,
                    message=NO_HINTS_MESSAGE,
                    seconds=timer.elapsed(),
                )
            ]
        total = 4
        height, width = request.image_size
        work = working_shape(height, width, request.working_size)
        lightness = resize_lightness(request.lightness, work)
        hint_ab, hint_mask = rasterize_hints(request.hints, request.image_size, work)
        ab = propagate_chroma(lightness, hint_ab, hint_mask, progress, cancel, total)
        check_cancel(cancel)
        rgb = recombine(request.lightness, ab)
        if progress:
            progress(total, total)
        message = ONE_VARIANT_MESSAGE if request.num_variants > 1 else ""
        seconds = timer.elapsed()
        logger.info(
            "classic: %d hints, working size %dx%d, %.2f s",
            len(request.hints),
            work[1],
            work[0],
            seconds,
        )
        return [Variant(rgb=rgb, settings=settings, message=message, seconds=seconds)]


def engine_info(model_path: str | Path | None = None) -> EngineInfo:
    return EngineInfo(
        name=NAME,
        display_name=DISPLAY_NAME,
        description=DESCRIPTION,
        available=True,
        needs_hints=True,
        uses_prompt=False,
        uses_steps=False,
        default_working_size=512,
        max_variants=1,  # deterministic: one result per set of hints
    )


def create(device: str = "auto", model_path: str | Path | None = None) -> ClassicColorizer:
    """The classic engine ignores ``device`` and ``model_path``: it is plain sparse algebra."""
    return ClassicColorizer()
