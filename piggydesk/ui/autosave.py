"""Autosave and crash recovery.

The current project is written to ``core.paths.autosave_dir()/autosave.piggy`` every
``autosave_interval_s`` seconds (when something changed) and after each run. The file is
written from a background thread from a snapshot of the document, so a big project never
freezes the window. A clean exit deletes it; if it is still there at the next launch,
PiggyDesk did not close properly and offers to recover it.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from piggydesk.core import paths
from piggydesk.core.errors import PhotoError
from piggydesk.ui.document_model import DocumentModel
from piggydesk.ui.settings import AppSettings

logger = logging.getLogger(__name__)

AUTOSAVE_NAME = "autosave.piggy"


def autosave_path() -> Path:
    return paths.autosave_dir() / AUTOSAVE_NAME


class Autosaver(QObject):
    saved = Signal(str)
    recovered = Signal(str)

    def __init__(self, model: DocumentModel, settings: AppSettings, window: QWidget) -> None:
        super().__init__(window)
        self._model = model
        self._settings = settings
        self._window = window
        self._dirty = False
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed_cleanly = False
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.save_now)
        self._timer.start(int(settings.get("autosave_interval_s")) * 1000)
        settings.changed.connect(self._setting_changed)
        for signal in (model.hints_changed, model.runs_changed, model.value_changed,
                       model.photo_changed):
            signal.connect(self._mark_dirty)

    @property
    def path(self) -> Path:
        return autosave_path()

    def _setting_changed(self, name: str, value: object) -> None:
        if name == "autosave_interval_s":
            self._timer.start(int(value) * 1000)

    def _mark_dirty(self, *_args: object) -> None:
        self._dirty = True

    def save_now(self, wait: bool = False) -> bool:
        """Write the autosave in the background (``wait`` joins it). False if nothing to do."""
        if self._model.photo is None or not self._dirty:
            return False
        if self._thread is not None and self._thread.is_alive():
            if not wait:
                return False  # the previous autosave is still being written
            self._thread.join()
        snapshot = self._model.snapshot()
        self._dirty = False
        target = self.path

        def write() -> None:
            with self._lock:
                try:
                    self._model.write_snapshot(snapshot, target)
                    logger.info("autosaved to %s", target)
                except (PhotoError, OSError) as exc:
                    logger.warning("autosave failed: %s", exc)
                if self._closed_cleanly:  # the app quit meanwhile: this autosave is not needed
                    target.unlink(missing_ok=True)

        self._thread = threading.Thread(target=write, name="piggydesk-autosave", daemon=True)
        self._thread.start()
        if wait:
            self._thread.join()
        return True

    def stop(self, clean_exit: bool) -> None:
        """Stop autosaving. A write still under way is not waited for (quitting must not hang
        on a big project): after a clean exit it removes its own file when it ends."""
        self._timer.stop()
        self._closed_cleanly = clean_exit  # set before the file goes: see write()
        if clean_exit:
            try:
                self.path.unlink(missing_ok=True)
            except OSError as exc:
                logger.warning("could not remove the autosave: %s", exc)

    def offer_recovery(self) -> bool:
        """After a crash, offer to reopen the autosaved project. True if it was recovered."""
        path = self.path
        if not path.exists():
            return False
        answer = QMessageBox.question(
            self._window,
            "Recover your work?",
            "PiggyDesk did not close properly last time. Recover the photo, hints and results "
            "it saved automatically?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.Yes,
        )
        if answer != QMessageBox.StandardButton.Yes:
            path.unlink(missing_ok=True)
            return False
        self.recovered.emit(str(path))
        return True
