"""Small fake engines for the GUI tests (no torch, no weights): real Colorizer protocol."""

from __future__ import annotations

import threading

import numpy as np

from piggydesk.core.color import lab_to_rgb, rgb_to_lab
from piggydesk.engines.base import (
    ColorizeRequest,
    ColorSuggestion,
    EngineInfo,
    Variant,
    check_cancel,
)


class TintEngine:
    """Colours the whole photo with the mean of its hints' a*b* (or a fixed tint), per variant."""

    name = "classic"

    def __init__(self, name: str = "classic") -> None:
        self.name = name
        self.calls: list[ColorizeRequest] = []
        self.unloaded = False

    def unload(self) -> None:
        self.unloaded = True

    def colorize(self, request, progress=None, cancel=None):
        self.calls.append(request)
        L = request.lightness.astype(np.float32)
        if request.hints:
            colors = np.array([h.color for h in request.hints], np.float32) / 255.0
            ab = rgb_to_lab(colors)[:, 1:].mean(axis=0)
        else:
            ab = np.array([20.0, 30.0], np.float32)
        variants = []
        for i in range(request.num_variants):
            shift = np.float32(8.0 * i)
            lab = np.stack(
                [L, np.full_like(L, ab[0] + shift), np.full_like(L, ab[1] - shift)], axis=-1
            )
            check_cancel(cancel)
            if progress:
                progress(i + 1, request.num_variants)
            variants.append(
                Variant(
                    rgb=lab_to_rgb(lab),
                    settings=request.settings.for_variant(self.name, i),
                )
            )
        return variants


class SlowEngine:
    """Many steps that wait on the cancel token: proves cancel stops a run within one step."""

    name = "piggyback"

    def __init__(self, steps: int = 1000, step_seconds: float = 0.02) -> None:
        self.steps = steps
        self.step_seconds = step_seconds
        self.started = threading.Event()
        self.steps_done = 0

    def unload(self) -> None:
        pass

    def colorize(self, request, progress=None, cancel=None):
        self.started.set()
        for i in range(self.steps):
            check_cancel(cancel)
            if cancel is not None and cancel.wait(self.step_seconds):
                check_cancel(cancel)
            self.steps_done = i + 1
            if progress:
                progress(i + 1, self.steps)
        L = request.lightness
        rgb = np.repeat((L / 100.0)[..., None], 3, axis=-1).astype(np.float32)
        return [Variant(rgb=rgb, settings=request.settings.for_variant(self.name))]


class SuggestingEngine(TintEngine):
    def suggest_colors(self, request, x, y, k=8):
        return [ColorSuggestion((200, 40, 40), 0.6), ColorSuggestion((40, 90, 200), 0.3)][:k]


def fake_infos() -> list[EngineInfo]:
    return [
        EngineInfo("instant", "Instant", "hint CNN", available=True, live_preview=True,
                   suggests_colors=True),
        EngineInfo(
            "piggyback", "Piggyback", "diffusion", available=False,
            reason="No piggyback model is installed.", uses_prompt=True, uses_steps=True,
        ),
        EngineInfo("classic", "Classic", "Levin et al.", available=True, needs_hints=True,
                   max_variants=1),
    ]


def fake_probe():
    return fake_infos(), ["cpu"]


def make_factory(engines: dict):
    def factory(name, device, model_path):
        return engines[name]

    return factory
