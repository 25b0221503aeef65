"""The dialog the frozen app shows when it cannot start (instead of a console traceback).

``piggydesk.frozen`` calls :func:`show_startup_error` lazily, after writing the traceback to
the user's log directory; it builds a ``QApplication`` when there is none yet, because the
failure may have happened before the main window existed.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication, QMessageBox

logger = logging.getLogger(__name__)

TITLE = "PiggyDesk could not start"


def build_startup_error_box(message: str, details: str, log_path: Path | None) -> QMessageBox:
    """The message box itself (separate so tests can inspect it without running it)."""
    box = QMessageBox(QMessageBox.Icon.Critical, TITLE, message)
    hint = "Try starting PiggyDesk again. If it keeps failing, please send the log file"
    if log_path is not None:
        box.setInformativeText(f"{hint}:\n{log_path}")
    else:
        box.setInformativeText(f"{hint} from PiggyDesk's log folder.")
    box.setDetailedText(details)
    box.setStandardButtons(QMessageBox.StandardButton.Close)
    if log_path is not None:
        open_button = box.addButton("Open log folder", QMessageBox.ButtonRole.ActionRole)
        open_button.clicked.connect(
            lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(log_path.parent)))
        )
    return box


def show_startup_error(message: str, details: str, log_path: Path | None) -> None:
    """Show the error modally; returns when the person closes it."""
    app = QApplication.instance() or QApplication([])
    app.setApplicationName("PiggyDesk")
    box = build_startup_error_box(message, details, log_path)
    logger.info("showing the startup error dialog")
    box.exec()
