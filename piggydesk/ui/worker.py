"""The model worker: one long-lived ``QThread`` that loads engines once and runs one job at a time.

Design (napari's status checker, krita-ai-diffusion's client):

* Jobs are data (``Job``); everything that comes back is one frozen message type
  (``WorkerMessage``: kind, job id, step/total, numpy variants, suggestions, error text),
  delivered through one signal into the GUI thread. Tensors never reach the UI.
* ``ModelWorker`` lives in the GUI thread and owns the thread; ``_Runner`` lives in the worker
  thread and is woken by a queued signal, so neither side polls.
* Pending jobs wait in *slots* (``"run"`` for colorize/batch, ``"suggest"`` for colour
  suggestions). A newer job replaces a pending job of the same slot that has not started
  (the live preview's "latest request wins"); the running job is never interrupted by that.
* ``cancel()`` sets the running job's token; engines check it between steps, and the progress
  callback checks it too, so a run stops within one step. ``shutdown(timeout_s)`` cancels,
  drops the pending jobs and waits a bounded time for the thread, keeping the GUI answering.
* The engine is created once per (engine, device) and kept (at most two stay loaded).
* A ``BATCH_ITEM`` loads its photo, repairs it (``BatchItem.repair``: the same
  ``RepairSettings`` as ``piggydesk batch --auto-dust --levels``), colorizes and exports it.
"""

from __future__ import annotations

import enum
import itertools
import logging
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QEventLoop, QObject, QThread, Signal, Slot

from piggydesk.core.document import ResultVariant
from piggydesk.core.errors import PhotoError
from piggydesk.core.progress import CancelToken
from piggydesk.core.repair.pipeline import RepairSettings, repair_photo
from piggydesk.engines import registry
from piggydesk.engines.base import (
    Cancelled,
    ColorizeRequest,
    ColorSuggestion,
    EngineInfo,
    EngineOutOfMemory,
    EngineUnavailable,
    SuggestsColors,
    Variant,
)

logger = logging.getLogger(__name__)

_job_ids = itertools.count(1)
MAX_LOADED_ENGINES = 2
PROGRESS_INTERVAL_S = 0.1  # at most ~10 progress messages a second reach the GUI
SHUTDOWN_SLICE_MS = 10  # while quitting, the GUI thread turns its event loop this often
_ABANDONED: list[ModelWorker] = []  # workers still busy after shutdown's timeout


def abandoned_workers() -> list[ModelWorker]:
    """Workers whose thread did not stop in time (the app then exits without joining them)."""
    return [w for w in _ABANDONED if not w._thread.isFinished()]


class JobKind(enum.Enum):
    PROBE = "probe"  # list engines and devices (imports engine modules off the GUI thread)
    COLORIZE = "colorize"
    SUGGEST = "suggest"
    BATCH_ITEM = "batch_item"  # load a photo, colorize it, export it


class MessageKind(enum.Enum):
    STARTED = "started"
    LOADING = "loading"  # the engine is being loaded (first run, or engine/device changed)
    PROGRESS = "progress"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"  # replaced by a newer job before it started


@dataclass(frozen=True)
class BatchItem:
    source: Path
    output: Path
    bit_depth: int = 8
    repair: RepairSettings = field(default_factory=RepairSettings)  # applied before colorizing


@dataclass(frozen=True)
class Job:
    """One unit of work. ``request`` is the engine request (its hints are a snapshot)."""

    kind: JobKind
    engine: str = ""
    device: str = "auto"
    request: ColorizeRequest | None = None
    live: bool = False
    point: tuple[float, float] | None = None  # SUGGEST: image pixels
    batch: BatchItem | None = None
    model_path: str | None = None
    job_id: int = field(default_factory=lambda: next(_job_ids))

    @property
    def slot(self) -> str:
        return "suggest" if self.kind is JobKind.SUGGEST else (
            "probe" if self.kind is JobKind.PROBE else "run"
        )


@dataclass(frozen=True)
class WorkerMessage:
    """The only thing the worker sends to the GUI."""

    kind: MessageKind
    job_id: int
    job_kind: JobKind
    live: bool = False
    step: int = 0
    total: int = 0
    variants: tuple[Variant, ...] = ()
    suggestions: tuple[ColorSuggestion, ...] = ()
    engines: tuple[EngineInfo, ...] = ()
    devices: tuple[str, ...] = ()
    device: str = ""  # the device in use, in words
    error: str = ""
    out_of_memory: bool = False
    engine_unavailable: bool = False  # the engine could not be loaded at all
    output_path: str = ""
    seconds: float = 0.0


EngineFactory = Callable[[str, str, str | None], Any]
Prober = Callable[[], tuple[list[EngineInfo], list[str]]]
DeviceDescriber = Callable[[str], str]


def default_probe() -> tuple[list[EngineInfo], list[str]]:
    """The engines and devices (runs in the worker thread: may import engine modules, torch)."""
    engines = registry.list_engines()
    try:
        devices = registry.available_devices()
    except Exception:  # noqa: BLE001 - torch missing or broken: still offer the CPU
        logger.exception("could not list devices")
        devices = ["cpu"]
    return engines, devices


def default_describe_device(preference: str) -> str:
    try:
        return registry.describe_device(preference)
    except Exception:  # noqa: BLE001
        return preference.upper()


def _default_factory(name: str, device: str, model_path: str | None) -> Any:
    return registry.create_engine(name, device=device, model_path=model_path)


class _Runner(QObject):
    """Lives in the worker thread; runs jobs taken from the shared slots."""

    message = Signal(object)

    def __init__(
        self,
        owner: ModelWorker,
        factory: EngineFactory,
        prober: Prober,
        describe_device: DeviceDescriber,
    ) -> None:
        super().__init__()
        self._owner = owner
        self._factory = factory
        self._prober = prober
        self._describe_device = describe_device
        self._engines: OrderedDict[tuple[str, str, str | None], tuple[Any, str]] = OrderedDict()

    @Slot()
    def drain(self) -> None:
        """Run pending jobs until none are left (woken by a queued signal, never polled)."""
        while True:
            job, cancel = self._owner._take_next()
            if job is None:
                return
            try:
                self._run(job, cancel)
            finally:
                self._owner._job_done(job)

    def _engine(self, job: Job) -> tuple[Any, str]:
        key = (job.engine, job.device, job.model_path)
        if key in self._engines:
            self._engines.move_to_end(key)
            return self._engines[key]
        self._emit(job, MessageKind.LOADING)
        engine = self._factory(job.engine, job.device, job.model_path)
        entry = (engine, self._describe_device(job.device))
        self._engines[key] = entry
        while len(self._engines) > MAX_LOADED_ENGINES:
            old_key, (old, _) = self._engines.popitem(last=False)
            logger.info("unloading engine %s on %s", old_key[0], old_key[1])
            self._unload(old)
        return entry

    def unload_all(self) -> None:
        while self._engines:
            _, (engine, _) = self._engines.popitem(last=False)
            self._unload(engine)

    @staticmethod
    def _unload(engine: Any) -> None:
        try:
            engine.unload()
        except Exception:  # noqa: BLE001 - freeing memory must never stop the worker
            logger.exception("unloading %s failed", getattr(engine, "name", engine))

    def _emit(self, job: Job, kind: MessageKind, **values: Any) -> None:
        self.message.emit(
            WorkerMessage(kind=kind, job_id=job.job_id, job_kind=job.kind, live=job.live, **values)
        )

    def _run(self, job: Job, cancel: CancelToken) -> None:
        start = time.perf_counter()
        self._emit(job, MessageKind.STARTED)
        try:
            if job.kind is JobKind.PROBE:
                engines, devices = self._prober()
                self._emit(
                    job, MessageKind.FINISHED, engines=tuple(engines), devices=tuple(devices)
                )
                return
            engine, device_text = self._engine(job)
            if job.kind is JobKind.SUGGEST:
                if not isinstance(engine, SuggestsColors) or job.point is None:
                    self._emit(job, MessageKind.FINISHED, device=device_text)
                    return
                found = engine.suggest_colors(job.request, job.point[0], job.point[1])
                self._emit(
                    job, MessageKind.FINISHED, suggestions=tuple(found), device=device_text
                )
                return
            request = job.request
            if job.kind is JobKind.BATCH_ITEM:
                request, photo = self._batch_request(job)
            last = [0.0]

            def progress(step: int, total: int) -> None:
                if cancel.is_set():
                    raise Cancelled("The run was cancelled.")
                now = time.perf_counter()
                if step >= total or now - last[0] >= PROGRESS_INTERVAL_S:
                    last[0] = now
                    self._emit(job, MessageKind.PROGRESS, step=step, total=total, device=device_text)

            variants = engine.colorize(request, progress=progress, cancel=cancel)
            if cancel.is_set():
                raise Cancelled("The run was cancelled.")
            if job.kind is JobKind.COLORIZE and not job.live:
                # results for the document: made compact (core.pixels) here, off the GUI thread
                variants = [ResultVariant.from_engine(v) for v in variants]
            output = ""
            if job.kind is JobKind.BATCH_ITEM:
                output = str(self._export_batch(job, variants, photo))
            self._emit(
                job,
                MessageKind.FINISHED,
                variants=tuple(variants),
                device=device_text,
                output_path=output,
                seconds=time.perf_counter() - start,
            )
        except Cancelled:
            logger.info("job %d cancelled", job.job_id)
            self._emit(job, MessageKind.CANCELLED, seconds=time.perf_counter() - start)
        except EngineUnavailable as exc:
            logger.info("job %d: engine %s unavailable: %s", job.job_id, job.engine, exc)
            self._emit(job, MessageKind.FAILED, error=str(exc), engine_unavailable=True)
        except (PhotoError, ValueError) as exc:
            logger.info("job %d failed: %s", job.job_id, exc)
            self._emit(job, MessageKind.FAILED, error=str(exc))
        except (EngineOutOfMemory, MemoryError) as exc:
            logger.info("job %d: out of memory: %s", job.job_id, exc)
            self.unload_all()  # free what we can before the user retries (maybe on the CPU)
            error = str(exc) if isinstance(exc, EngineOutOfMemory) else (
                "The computer ran out of memory for this photo.")
            self._emit(job, MessageKind.FAILED, error=error, out_of_memory=True)
        except Exception as exc:  # noqa: BLE001 - an engine bug must not kill the thread
            logger.error("job %d crashed:\n%s", job.job_id, traceback.format_exc())
            self._emit(job, MessageKind.FAILED, error=f"The engine failed: {exc}")

    def _batch_request(self, job: Job) -> tuple[ColorizeRequest, Any]:
        from dataclasses import replace

        from piggydesk.core.imaging import load_photo

        assert job.batch is not None and job.request is not None
        photo = repair_photo(load_photo(job.batch.source), job.batch.repair)
        return replace(job.request, lightness=photo.lightness), photo

    def _export_batch(self, job: Job, variants: list[Variant], photo: Any) -> Path:
        from piggydesk.core.export import export_image

        assert job.batch is not None
        if not variants:
            raise PhotoError(f"The engine returned no result for {job.batch.source.name}.")
        return export_image(
            variants[0].rgb,
            job.batch.output,
            bit_depth=job.batch.bit_depth,
            overwrite=False,
            icc_profile=getattr(photo, "icc_profile", None),
            exif=getattr(photo, "exif", None),
            source_path=job.batch.source,
        )


class ModelWorker(QObject):
    """The GUI-side handle: ``submit`` jobs, ``cancel``, ``shutdown``; listen to ``message``.

    All methods are called from the GUI thread; ``message`` is always delivered there.
    """

    message = Signal(object)
    _wake = Signal()

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        engine_factory: EngineFactory | None = None,
        prober: Prober | None = None,
        describe_device: DeviceDescriber | None = None,
    ) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._pending: OrderedDict[str, Job] = OrderedDict()
        self._current: Job | None = None
        self._cancel: CancelToken | None = None
        self._thread = QThread()
        self._thread.setObjectName("piggydesk-model-worker")
        self._runner = _Runner(
            self,
            engine_factory or _default_factory,
            prober or default_probe,
            describe_device or default_describe_device,
        )
        self._runner.moveToThread(self._thread)
        self._wake.connect(self._runner.drain)  # queued: the runner lives in the thread
        self._runner.message.connect(self._deliver)  # queued back into the GUI thread
        self._thread.start()
        self._closed = False

    # -- called from the GUI thread ------------------------------------------------------
    def submit(self, job: Job) -> int:
        if self._closed:  # e.g. a timer fired while the window was closing
            logger.warning("job %d ignored: the model worker has been shut down", job.job_id)
            return job.job_id
        superseded: Job | None
        with self._lock:
            superseded = self._pending.pop(job.slot, None)
            self._pending[job.slot] = job
        if superseded is not None:
            self.message.emit(
                WorkerMessage(MessageKind.SUPERSEDED, superseded.job_id, superseded.kind,
                              live=superseded.live)
            )
        self._wake.emit()
        return job.job_id

    def cancel(self, job_id: int | None = None, *, include_pending: bool = True) -> None:
        """Cancel the running job (or only ``job_id``) and, by default, drop pending runs."""
        dropped: list[Job] = []
        with self._lock:
            if self._current is not None and self._cancel is not None:
                if job_id is None or self._current.job_id == job_id:
                    self._cancel.cancel()
            if include_pending:
                for slot, job in list(self._pending.items()):
                    if job_id is None or job.job_id == job_id:
                        dropped.append(self._pending.pop(slot))
        for job in dropped:
            self.message.emit(WorkerMessage(MessageKind.CANCELLED, job.job_id, job.kind,
                                            live=job.live))

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._current is not None or bool(self._pending)

    @property
    def current_job(self) -> Job | None:
        with self._lock:
            return self._current

    def shutdown(self, timeout_s: float | None = None) -> bool:
        """Cancel everything and stop the thread (quitting during a run); True once it stopped.

        The wait is bounded by ``timeout_s`` (``None``: until it stops) and, when called in the
        GUI thread, keeps the event loop turning (repaints, timers; user input waits), so the
        window answers while an engine finishes the step it is in. A thread still busy after
        the timeout (a step that cannot be interrupted) is left to finish on its own and kept
        referenced; ``abandoned_workers()`` tells the app to exit without waiting for it.
        """
        if self._closed:
            return self._thread.isFinished()
        self._closed = True
        with self._lock:
            self._pending.clear()
            if self._cancel is not None:
                self._cancel.cancel()
        self._thread.quit()
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        app = QCoreApplication.instance()
        in_gui_thread = app is not None and QThread.currentThread() is app.thread()
        while not self._thread.wait(SHUTDOWN_SLICE_MS):
            if deadline is not None and time.monotonic() >= deadline:
                logger.warning("the model worker did not stop within %.1f s; not waiting "
                               "for it any longer", timeout_s)
                _ABANDONED.append(self)
                return False
            if in_gui_thread:
                QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)
        logger.info("model worker stopped")
        return True

    # -- called from the worker thread -------------------------------------------------
    def _take_next(self) -> tuple[Job | None, CancelToken]:
        with self._lock:
            if not self._pending or self._closed:
                self._current, self._cancel = None, None
                return None, CancelToken()
            _, job = self._pending.popitem(last=False)
            self._current, self._cancel = job, CancelToken()
            return job, self._cancel

    def _job_done(self, job: Job) -> None:
        with self._lock:
            if self._current is job:
                self._current, self._cancel = None, None

    @Slot(object)
    def _deliver(self, message: WorkerMessage) -> None:
        self.message.emit(message)
