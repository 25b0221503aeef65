"""The run controller: where a run starts, where it is decided and where its result lands.

``RunController`` is the one owner of everything about running engines from the window:

* the engine list (``EngineInfo`` from the worker's probe) and which engine the next run
  uses (the document's, else the app's saved choice, else the first available one);
* **Colorize**: builds the request from the document (``DocumentModel.run_settings()``, a new
  random seed when the document asks for one, the app's working size), sends it to the
  ``ModelWorker``, follows its messages (loading, progress and ETA, finished, cancelled,
  failed) and pushes the finished run onto the undo stack as one "Colorize" command;
* **Live preview**: after each edit, when Live is on and the engine offers it
  (``EngineInfo.live_preview``), a one-variant run replaces the preview (latest wins);
* **Suggestions**: colours for the selected hint from an engine that suggests colours
  (``EngineInfo.suggests_colors``);
* engines that fail to load are marked unavailable (with the reason) and the next one is used.

It never names an engine and never touches a widget: it tells the window what happened through
typed signals, and the window shows it. The window's only job is wiring.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import replace

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoStack

from piggydesk.engines.base import ColorizeRequest, EngineInfo, variant_notes
from piggydesk.ui.document_model import DocumentModel
from piggydesk.ui.prompt_panel import random_seed
from piggydesk.ui.settings import AppSettings
from piggydesk.ui.undo import DocumentCommand
from piggydesk.ui.worker import Job, JobKind, MessageKind, ModelWorker, WorkerMessage

logger = logging.getLogger(__name__)

SUGGEST_DELAY_MS = 150  # suggestions wait until a drag pauses
LAND_RETRY_MS = 50  # a run that finishes during an undo or redo lands this much later


def format_seconds(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 90:
        return f"{math.ceil(seconds)} s"
    return f"{int(seconds // 60)} min {int(seconds % 60)} s"


class RunController(QObject):
    """Colorize, live preview, suggestions, worker messages and ETA (see the module docstring)."""

    engines_changed = Signal(list)  # list[EngineInfo]: the probe's answer, or one greyed out
    devices_changed = Signal(list)  # list[str]: devices that exist here
    engine_chosen = Signal(str)  # the engine the next run uses changed (default or fallback)
    status = Signal(str)  # one line for the status bar
    busy_changed = Signal(bool)  # an explicit run started (True) or ended (False)
    progress = Signal(int, int)  # step, total of the explicit run
    eta = Signal(str)  # "about 12 s left"
    device_in_use = Signal(str)  # the device in words, as the worker reports it
    last_run_time = Signal(str)  # "Last run: 2.1 s"
    result_changed = Signal()  # the live preview appeared or went away
    suggestions = Signal(list, str)  # list[ColorSuggestion], text when empty
    run_finished = Signal(object)  # WorkerMessage: a colorize run finished and was added
    run_failed = Signal(object)  # WorkerMessage: an explicit run failed (dialog-worthy)
    refused = Signal(str)  # Colorize was pressed but the engine cannot run: why

    def __init__(
        self,
        worker: ModelWorker,
        model: DocumentModel,
        undo_stack: QUndoStack,
        settings: AppSettings,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.worker = worker
        self.model = model
        self.undo_stack = undo_stack
        self.settings = settings
        self._engines: list[EngineInfo] = []
        self._devices: list[str] = ["cpu"]
        self._run_job: int | None = None  # the explicit run (Colorize)
        self._run_engine = ""
        self._live_job: int | None = None  # the live preview, while pending or running
        self._suggest_job: int | None = None
        self._run_doc: object = None  # the document a run was made for
        self._run_geometry: object = None  # its crop and turn when the run was asked for
        self._run_started = 0.0
        self._live_started = 0.0
        self._first_step: tuple[float, int] | None = None
        self._live_preview: np.ndarray | None = None
        self._live = bool(settings.get("live"))
        self._stopped = False
        self._landing = False
        self._live_timer = QTimer(self)
        self._live_timer.setSingleShot(True)
        self._live_timer.timeout.connect(self._live_run)
        self._suggest_timer = QTimer(self)
        self._suggest_timer.setSingleShot(True)
        self._suggest_timer.setInterval(SUGGEST_DELAY_MS)
        self._suggest_timer.timeout.connect(self._request_suggestions)
        worker.message.connect(self._on_message)
        undo_stack.indexChanged.connect(self._after_edit)
        model.photo_changed.connect(self._forget_preview)

    # -- state the window reads ----------------------------------------------------------
    @property
    def engines(self) -> list[EngineInfo]:
        return list(self._engines)

    @property
    def devices(self) -> list[str]:
        return list(self._devices)

    def engine_info(self, name: str | None = None) -> EngineInfo | None:
        name = name if name is not None else str(self.model.value("engine") or "")
        return next((e for e in self._engines if e.name == name), None)

    @property
    def running(self) -> bool:
        """An explicit run is on its way (the live preview does not count)."""
        return self._run_job is not None

    @property
    def live_pending(self) -> bool:
        """A live preview is waiting or running."""
        return self._live_job is not None or self._live_timer.isActive()

    @property
    def live_preview(self) -> np.ndarray | None:
        return self._live_preview

    @property
    def live(self) -> bool:
        return self._live

    def has_result(self) -> bool:
        """Something to show and export (cheap: does not decode the chosen variant)."""
        doc = self.model.doc
        return self._live_preview is not None or (
            doc is not None and doc.chosen_variant is not None)

    def current_result(self) -> np.ndarray | None:
        """What the canvas shows and Export writes: the live preview, else the chosen variant."""
        if self._live_preview is not None:
            return self._live_preview
        return self.model.chosen_rgb()

    # -- engines -------------------------------------------------------------------------
    def probe(self) -> None:
        """Ask the worker for the engines and devices (again: models may have changed)."""
        self.worker.submit(Job(JobKind.PROBE))

    def apply_default_engine(self) -> None:
        """Make sure the document's engine is one that can run (its own, the saved, the first)."""
        preferred = self.model.value("engine") or self.settings.get("engine")
        available = [e.name for e in self._engines if e.available]
        if preferred not in available:
            preferred = available[0] if available else (
                self._engines[0].name if self._engines else "")
        if preferred and preferred != self.model.value("engine"):
            self.model.set_value_silently("engine", preferred)
        self.engine_chosen.emit(preferred)

    def _engine_failed(self, msg: WorkerMessage, engine: str) -> None:
        """An engine that said it was available could not load: grey it out, say why."""
        if not msg.engine_unavailable:
            return
        self._engines = [
            replace(e, available=False, reason=msg.error) if e.name == engine else e
            for e in self._engines
        ]
        self.engines_changed.emit(self.engines)
        self.apply_default_engine()

    # -- live mode ---------------------------------------------------------------------
    def set_live(self, on: bool) -> None:
        self._live = bool(on)
        self.settings.set("live", self._live)
        if self._live:
            self._schedule_live()
        elif self._live_preview is not None:
            self._forget_preview()

    def _after_edit(self, _index: int = 0) -> None:
        if self._live and not self._landing:
            self._schedule_live()

    def _schedule_live(self) -> None:
        if not self._stopped and self.model.photo is not None:
            self._live_timer.start(self.settings.get("live_delay_ms"))

    def _live_run(self) -> None:
        if self._run_job is not None or self._stopped:
            return  # an explicit run is on its way; its result will show
        info = self.engine_info()
        if self._live and self.model.photo is not None and info is not None and info.live_preview:
            self.colorize(live=True)

    def _forget_preview(self) -> None:
        if self._live_preview is not None:
            self._live_preview = None
            self.result_changed.emit()

    def drop_preview(self) -> None:
        """Show the chosen variant again (a variant was clicked)."""
        self._forget_preview()

    # -- runs --------------------------------------------------------------------------
    def build_request(self, *, seed: int | None = None) -> ColorizeRequest:
        """The request the next run sends: the document's settings, its hints and a seed."""
        m = self.model
        if seed is None:
            seed = random_seed() if m.value("random_seed") else int(m.value("seed"))
        settings = m.run_settings().with_values(
            seed=int(seed), working_size=int(self.settings.get("working_size"))
        )
        return ColorizeRequest(m.photo.lightness, settings)

    def colorize(self, *, live: bool = False) -> int | None:
        """Send a run to the worker. Returns the job id (``None`` if there is nothing to do)."""
        if self.model.photo is None or self._stopped:
            return None
        engine = str(self.model.value("engine") or "")
        info = self.engine_info(engine)
        if not engine:
            self.status.emit("Still looking for engines… try again in a moment.")
            return None
        if info is not None and not info.available:
            if not live:
                self.refused.emit(f"The {info.display_name} engine cannot run: {info.reason}")
            return None
        request = self.build_request(seed=int(self.model.value("seed")) if live else None)
        if live:
            request = replace(request, num_variants=1)
        job = Job(JobKind.COLORIZE, engine=engine, device=self.settings.get("device"),
                  request=request, live=live)
        self._run_doc = self.model.doc
        if live:
            self._live_job = self.worker.submit(job)
            self._live_started = time.monotonic()
            return job.job_id
        self._live_job = None  # an explicit run replaces a live preview not yet started
        self._live_timer.stop()
        self._run_geometry = self.model.geometry()  # the hints' pixels are this crop's and turn's
        self._run_job = self.worker.submit(job)
        self._run_engine = engine
        self._run_started = time.monotonic()
        self._first_step = None
        self._live_preview = None
        self.busy_changed.emit(True)
        name = info.display_name if info else engine
        self.status.emit(f"Colorizing with the {name} engine…")
        return job.job_id

    def cancel(self) -> None:
        if self._run_job is not None:
            self.worker.cancel(self._run_job)
            self.status.emit("Cancelling…")

    def document_replaced(self) -> None:
        """A photo or project was opened: runs for the old one are dropped."""
        self.worker.cancel()
        self._forget_preview()

    def stop(self) -> None:
        """The window is closing: no new runs, no more signals from old ones."""
        self._stopped = True
        self._live_timer.stop()
        self._suggest_timer.stop()

    # -- suggestions -------------------------------------------------------------------
    def suggest_soon(self) -> None:
        """The selected hint changed: ask for suggestions once the pointer rests."""
        self._suggest_timer.start()

    def _suggesting_engine(self) -> EngineInfo | None:
        current = self.engine_info()
        if current is not None and current.available and current.suggests_colors:
            return current
        return next((e for e in self._engines if e.available and e.suggests_colors), None)

    def _request_suggestions(self) -> None:
        if self._stopped:
            return
        hints = self.model.hints()
        if not 0 <= self.model.selected < len(hints) or self.model.photo is None:
            return
        hint = hints[self.model.selected]
        info = self._suggesting_engine()
        if info is None:
            self.suggestions.emit([], "No installed engine suggests colours")
            return
        request = replace(self.build_request(seed=0), num_variants=1,
                          hints=tuple(h for h in hints if h != hint))
        job = Job(JobKind.SUGGEST, engine=info.name, device=self.settings.get("device"),
                  request=request, point=(hint.x, hint.y))
        self._suggest_job = self.worker.submit(job)

    # -- worker messages ---------------------------------------------------------------
    def _on_message(self, msg: WorkerMessage) -> None:
        if self._stopped:
            return
        if msg.job_kind is JobKind.PROBE:
            self._on_probe(msg)
        elif msg.job_kind is JobKind.SUGGEST:
            self._on_suggestions(msg)
        elif msg.job_kind is JobKind.COLORIZE:
            if msg.job_id == self._live_job:
                self._on_live_message(msg)
            elif msg.job_id == self._run_job:
                self._on_run_message(msg)

    def _on_probe(self, msg: WorkerMessage) -> None:
        if msg.kind is MessageKind.FINISHED:
            self._engines = list(msg.engines)
            self._devices = list(msg.devices)
            self.engines_changed.emit(self.engines)
            self.devices_changed.emit(self.devices)
            self.apply_default_engine()
        elif msg.kind is MessageKind.FAILED:
            self.status.emit(f"Could not list the engines: {msg.error}")

    def _on_suggestions(self, msg: WorkerMessage) -> None:
        if msg.job_id != self._suggest_job:
            return
        if msg.kind is MessageKind.FINISHED:
            self.suggestions.emit(list(msg.suggestions), "No suggestions here")
        elif msg.kind is MessageKind.FAILED:
            self.suggestions.emit([], "Suggestions are not available")
            info = self._suggesting_engine()
            if info is not None:
                self._engine_failed(msg, info.name)

    def _on_live_message(self, msg: WorkerMessage) -> None:
        if msg.device:
            self.device_in_use.emit(msg.device)
        if msg.kind is MessageKind.FINISHED:
            self._live_job = None
            if msg.variants and self.model.doc is self._run_doc and self._run_job is None:
                seconds = time.monotonic() - self._live_started
                self._live_preview = msg.variants[0].rgb
                self.result_changed.emit()
                self.last_run_time.emit(f"Last run: {format_seconds(seconds)}")
                self.status.emit(f"Live preview updated in {format_seconds(seconds)}.")
        elif msg.kind in (MessageKind.CANCELLED, MessageKind.FAILED, MessageKind.SUPERSEDED):
            self._live_job = None
            if msg.kind is MessageKind.FAILED:
                self.status.emit(f"Live preview failed: {msg.error}")
                self._engine_failed(msg, str(self.model.value("engine") or ""))

    def _on_run_message(self, msg: WorkerMessage) -> None:
        if msg.device:
            self.device_in_use.emit(msg.device)
        if msg.kind is MessageKind.LOADING:
            self.status.emit("Loading the engine (only the first run)…")
        elif msg.kind is MessageKind.PROGRESS:
            self._on_progress(msg.step, msg.total)
        elif msg.kind is MessageKind.FINISHED:
            if self.model.replaying:  # inside an undo or redo: land the run right after it
                QTimer.singleShot(LAND_RETRY_MS, lambda: self._on_run_message(msg))
                return
            self._run_done(msg)
        elif msg.kind in (MessageKind.CANCELLED, MessageKind.FAILED, MessageKind.SUPERSEDED):
            engine = self._run_engine
            self._end_run()
            if msg.kind is MessageKind.CANCELLED:
                self.status.emit("Run cancelled.")
            elif msg.kind is MessageKind.FAILED:
                self.status.emit(msg.error)
                self.run_failed.emit(msg)
                self._engine_failed(msg, engine)

    def _on_progress(self, step: int, total: int) -> None:
        self.progress.emit(step, total)
        now = time.monotonic()
        if self._first_step is None:
            self._first_step = (now, step)
            self.eta.emit(f"step {step}/{total}")
            return
        t0, s0 = self._first_step
        if step > s0:
            remaining = (now - t0) / (step - s0) * (total - step)
            self.eta.emit(f"about {format_seconds(remaining)} left")

    def _run_done(self, msg: WorkerMessage) -> None:
        seconds = time.monotonic() - self._run_started
        self._end_run()
        variants = list(msg.variants)
        if not variants:
            self.status.emit("The engine returned no result.")
            return
        self.last_run_time.emit(f"Last run: {format_seconds(seconds)}")
        if self.model.doc is not self._run_doc:
            return  # another photo was opened meanwhile
        self._landing = True  # adding the result is not an edit a live preview follows
        try:
            self.undo_stack.push(DocumentCommand(
                self.model, f"Colorize ({variants[0].settings.engine})",
                [self.model.cmd_add_run(variants, self._run_geometry)]))
        finally:
            self._landing = False
        notes = " ".join(variant_notes(variants))
        self.status.emit(f"Done in {format_seconds(seconds)}: {len(variants)} "
                         f"variant{'s' * (len(variants) != 1)}. {notes}".strip())
        self.run_finished.emit(msg)

    def _end_run(self) -> None:
        self._run_job = None
        self._run_engine = ""
        self.eta.emit("")
        self.busy_changed.emit(False)
