"""Opening, recovering and saving in the main window, off the GUI thread.

``DocumentFiles`` is a mixin of ``MainWindow``: Open reads a photo or a ``.piggy`` project in a
background thread (``ui.background.run_in_background``) and also makes the images the canvas
shows first there, so a big scan does not freeze the window; Save writes a snapshot of the
document the same way (edits meanwhile cannot tear it); an unsaved document asks before it
is replaced or closed. Errors are one sentence in a dialog; the window stays usable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QTimer, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage
from PySide6.QtWidgets import QFileDialog, QMessageBox

from piggydesk.core.color import lightness_to_gray_rgb
from piggydesk.core.document import Document
from piggydesk.core.errors import PhotoError
from piggydesk.ui import actions
from piggydesk.ui.background import run_in_background
from piggydesk.ui.document_model import PROJECT_SUFFIX
from piggydesk.ui.image_convert import rgb_to_qimage

if TYPE_CHECKING:
    from piggydesk.ui.main_window import MainWindow

logger = logging.getLogger(__name__)

IMAGE_FILTER = "Photos (*.png *.jpg *.jpeg *.tif *.tiff *.bmp *.webp)"
OPEN_FILTER = f"Photos and projects (*.png *.jpg *.jpeg *.tif *.tiff *.bmp *.webp *{PROJECT_SUFFIX});;" \
    f"{IMAGE_FILTER};;PiggyDesk projects (*{PROJECT_SUFFIX})"


@dataclass
class Display:
    """What a document shows first, made off the GUI thread while its file is read (for a
    big scan, turning pixels into a ``QImage`` takes seconds)."""

    photo: object
    gray: np.ndarray
    image: QImage
    variant: object | None = None
    after: np.ndarray | None = None
    after_image: QImage | None = None


def read_for_display(read: Callable[[Path], Document], path: Path) -> tuple[Document, Display]:
    doc = read(path)
    gray = lightness_to_gray_rgb(doc.photo.lightness)
    display = Display(doc.photo, gray, rgb_to_qimage(gray))
    variant = doc.chosen_variant
    if variant is not None:
        display.variant, display.after = variant, variant.rgb
        display.after_image = rgb_to_qimage(display.after)
    return doc, display


class DocumentFiles:
    """File handlers of ``MainWindow`` (see the module docstring)."""

    def open_dialog(self: MainWindow) -> None:
        if not self.maybe_save():
            return
        start = self.settings.get("last_open_dir") or str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Open a photo or project", start, OPEN_FILTER)
        if path:
            self.open_path(path)

    def open_path(self: MainWindow, path: str | Path, *, ask_to_save: bool = False) -> bool:
        """Open a photo or a ``.piggy`` project; errors become a dialog, the window stays usable."""
        if ask_to_save and not self.maybe_save():
            return False
        path = Path(path)
        project = path.suffix.lower() == PROJECT_SUFFIX
        read = self.model.read_project if project else self.model.read_photo
        try:
            doc, self._display = run_in_background(
                self, f"Opening {path.name}…", read_for_display, read, path)
        except PhotoError as exc:
            logger.info("could not open %s: %s", path, exc)
            QMessageBox.warning(self, "Could not open", str(exc))
            return False
        except OSError as exc:
            QMessageBox.warning(self, "Could not open", f"{path.name} could not be read: {exc}")
            return False
        try:
            self.model.adopt(doc, new_photo=not project)
        finally:
            self._display = None
        self._opened(path)
        return True

    def _opened(self: MainWindow, path: Path) -> None:
        self.runs.document_replaced()
        self.undo_stack.clear()
        self.undo_stack.setClean()
        self.settings.set("last_open_dir", str(path.parent))
        self.settings.add_recent_file(str(path))
        actions.rebuild_recent_menu(self)
        self._sync_panel_from_model()
        self._update_title()
        self._update_actions()
        photo = self.model.photo
        h, w = photo.size
        notes = " ".join(getattr(photo, "notes", ()) or ())
        self.set_status(
            f"Opened {path.name} ({w}×{h}, {photo.bit_depth}-bit). "
            f"Click on the photo to add colour hints. {notes}".strip()
        )

    def _recover(self: MainWindow, path: str) -> None:
        try:
            doc, self._display = run_in_background(
                self, "Recovering your work…", read_for_display, self.model.read_autosave, path)
        except PhotoError as exc:
            QMessageBox.warning(self, "Could not recover", str(exc))
            return
        try:
            self.model.adopt(doc)
        finally:
            self._display = None
        self.runs.document_replaced()
        self.undo_stack.clear()
        self.undo_stack.resetClean()  # recovered work is unsaved work
        self._sync_panel_from_model()
        self._update_title()
        self._update_actions()
        self.set_status("Recovered the autosaved work. Save it as a project to keep it.")

    def _sync_panel_from_model(self: MainWindow) -> None:
        for name in self.model.VALUE_NAMES:
            self.prompt_panel.set_value(name, self.model.value(name))
        if self.runs.engines:
            self.runs.apply_default_engine()

    def dragEnterEvent(self: MainWindow, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self: MainWindow, event: QDropEvent) -> None:  # noqa: N802
        urls: list[QUrl] = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            event.acceptProposedAction()
            QTimer.singleShot(0, lambda p=urls[0].toLocalFile(): self.open_path(p, ask_to_save=True))


    def save_project(self: MainWindow) -> bool:
        if self.model.photo is None:
            return False
        if self.model.project_path is None:
            return self.save_project_as()
        return self._save_to(self.model.project_path)

    def save_project_as(self: MainWindow) -> bool:
        if self.model.photo is None:
            return False
        suggested = self.model.suggested_project_path()
        path, _ = QFileDialog.getSaveFileName(self, "Save project", str(suggested),
                                              f"PiggyDesk project (*{PROJECT_SUFFIX})")
        if not path:
            return False
        if not path.lower().endswith(PROJECT_SUFFIX):
            path += PROJECT_SUFFIX
        return self._save_to(Path(path))

    def _save_to(self: MainWindow, path: Path) -> bool:
        snapshot = self.model.snapshot()  # the thread writes this copy; edits can't tear it
        try:
            run_in_background(self, f"Saving {path.name}…", self.model.write_snapshot,
                              snapshot, path)
        except PhotoError as exc:
            QMessageBox.warning(self, "Could not save", str(exc))
            return False
        self.model.saved_as(path)
        self.undo_stack.setClean()
        self.settings.add_recent_file(str(path))
        actions.rebuild_recent_menu(self)
        self._update_title()
        self.set_status(f"Saved {path.name}.")
        return True

    def maybe_save(self: MainWindow) -> bool:
        """Ask about unsaved changes. False means: the user cancelled."""
        if self.undo_stack.isClean() or self.model.photo is None:
            return True
        answer = QMessageBox.question(
            self, "Unsaved changes",
            f"Save the changes to {self.model.display_name()} first?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save,
        )
        if answer == QMessageBox.StandardButton.Save:
            return self.save_project()
        return answer == QMessageBox.StandardButton.Discard
