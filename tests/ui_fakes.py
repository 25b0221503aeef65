"""Small fake engines for the GUI tests (no torch, no weights): real Colorizer protocol; and
the window set-up the GUI tests share (a shown main window on a worker, scene -> view points)."""

from __future__ import annotations

import threading

import numpy as np
from PySide6.QtCore import QPoint, QPointF

from piggydesk.core.color import lab_to_rgb, rgb_to_lab
from piggydesk.engines import registry
from piggydesk.engines.base import (
    ColorizeRequest,
    ColorSuggestion,
    EngineInfo,
    Variant,
    check_cancel,
)
from piggydesk.ui.main_window import MainWindow
from piggydesk.ui.worker import ModelWorker


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
                   suggests_colors=True, options=("vividness",)),
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


def real_engine_worker(name: str) -> ModelWorker:
    """A worker offering only the real engine ``name`` (as installed for the test) on the CPU."""
    return ModelWorker(prober=lambda: ([registry.engine_info(name)], ["cpu"]),
                       describe_device=lambda d: "CPU")


def show_window(
    qtbot, worker: ModelWorker, size: tuple[int, int] | None = None, check_recovery: bool = False
) -> MainWindow:
    """A main window on ``worker``, shown (at ``size`` when given) once the worker has said
    which engines there are. The caller closes it (``qtbot`` deletes it)."""
    win = MainWindow(worker=worker, check_recovery=check_recovery)
    qtbot.addWidget(win)
    if size is not None:
        win.resize(*size)
    win.show()
    qtbot.waitExposed(win)
    qtbot.waitUntil(lambda: bool(win.runs.engines))
    return win


def view_pos(win: MainWindow, x: float, y: float) -> QPoint:
    """The canvas viewport point over the centre of photo pixel ``(x, y)``."""
    return win.canvas.mapFromScene(QPointF(x + 0.5, y + 0.5))
