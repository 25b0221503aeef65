"""Slow file work (open, save, recover, export) off the GUI thread, with progress.

``run_in_background(parent, label, fn, *args)`` runs ``fn`` in a short-lived thread and
returns its result (or raises its exception) as if it had been called directly, so callers stay
simple and synchronous. Meanwhile the GUI thread keeps running its event loop (repaints,
timers, the model worker's messages); user input is held back until the work is done, so
nothing can change the document half-way, and after ``PROGRESS_DELAY_MS`` a small window-modal
progress dialog says what is happening. ``fn`` must not touch widgets: it gets plain data (a
path, a document snapshot, an array) and gives plain data back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from PySide6.QtCore import QEventLoop, QObject, Qt, Signal
from PySide6.QtWidgets import QApplication, QProgressDialog, QWidget

logger = logging.getLogger(__name__)

PROGRESS_DELAY_MS = 300  # quick work shows no dialog at all
T = TypeVar("T")


class _Done(QObject):
    finished = Signal()


def run_in_background(
    parent: QWidget | None, label: str, fn: Callable[..., T], *args: Any, **kwargs: Any
) -> T:
    """Run ``fn(*args, **kwargs)`` in a thread while the GUI keeps answering; return its result."""
    box: dict[str, Any] = {}
    done = _Done()
    loop = QEventLoop()
    done.finished.connect(loop.quit, Qt.ConnectionType.QueuedConnection)

    def work() -> None:
        try:
            box["result"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller as it is
            box["error"] = exc
        finally:
            done.finished.emit()

    dialog = QProgressDialog(label, "", 0, 0, parent)
    dialog.setCancelButton(None)  # file work is short and must finish (atomic writes)
    dialog.setWindowTitle("PiggyDesk")
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.setMinimumDuration(PROGRESS_DELAY_MS)
    dialog.setAutoClose(False)
    dialog.setValue(0)
    if parent is not None:
        parent.setCursor(Qt.CursorShape.BusyCursor)
    thread = threading.Thread(target=work, name="piggydesk-file-work", daemon=True)
    thread.start()
    try:
        loop.exec(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)
        thread.join()
    finally:
        dialog.reset()
        dialog.deleteLater()
        if parent is not None:
            parent.unsetCursor()
        QApplication.processEvents(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)
    if "error" in box:
        raise box["error"]
    return box["result"]
