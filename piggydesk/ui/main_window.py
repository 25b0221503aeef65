"""PiggyDesk's main window: canvas in the middle, colour and prompt panels on the right, the
variants strip at the bottom, the undo history in a dock, progress in the status bar.

The window is wiring. The document lives in ``DocumentModel`` (observable, wrapping core's
``Document``); every edit goes through the ``QUndoStack`` as a ``DocumentCommand`` wrapping
core's Qt-free commands; every run is started, followed and landed by ``RunController``
(``ui/run_controller.py``), which talks to the ``ModelWorker`` thread; the actions, menus,
toolbar, keys and the dialogs they open live in ``ui/actions.py``; file work runs off the GUI
thread (``ui/background.py``). The GUI thread never runs a model and does not poll.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QImage, QUndoStack
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QUndoView,
    QWidget,
)

from piggydesk.core.color import lightness_to_gray_rgb
from piggydesk.core.document import Document
from piggydesk.core.errors import PhotoError
from piggydesk.core.hints import Hint, parse_color
from piggydesk.engines.base import ColorizeRequest
from piggydesk.ui import actions
from piggydesk.ui.autosave import Autosaver
from piggydesk.ui.background import run_in_background
from piggydesk.ui.canvas import PhotoCanvas
from piggydesk.ui.colour_panel import ColourPanel
from piggydesk.ui.document_model import PROJECT_SUFFIX, DocumentModel
from piggydesk.ui.image_convert import rgb_to_qimage
from piggydesk.ui.prompt_panel import DEVICE_LABELS, PromptPanel
from piggydesk.ui.repair_panel import RepairEditor
from piggydesk.ui.run_controller import RunController
from piggydesk.ui.settings import AppSettings
from piggydesk.ui.undo import (
    MERGE_MOVE,
    MERGE_RESIZE,
    MERGE_SETTING,
    MERGE_TEXT,
    DocumentCommand,
)
from piggydesk.ui.variants_strip import RunView, VariantsStrip
from piggydesk.ui.worker import ModelWorker

logger = logging.getLogger(__name__)

IMAGE_FILTER = "Photos (*.png *.jpg *.jpeg *.tif *.tiff *.bmp *.webp)"
OPEN_FILTER = f"Photos and projects (*.png *.jpg *.jpeg *.tif *.tiff *.bmp *.webp *{PROJECT_SUFFIX});;" \
    f"{IMAGE_FILTER};;PiggyDesk projects (*{PROJECT_SUFFIX})"
TEXT_SETTINGS = ("prompt", "negative_prompt")
QUIT_WAIT_S = 3.0  # quitting waits this long for a run to stop, then leaves without it
REMEMBERED_SETTINGS = ("num_variants", "steps", "guidance_scale", "random_seed", "engine")
SETTING_LABELS = {
    "prompt": "Edit prompt",
    "negative_prompt": "Edit negative prompt",
    "engine": "Change engine",
    "num_variants": "Change number of variants",
    "seed": "Change seed",
    "random_seed": "Toggle random seed",
    "steps": "Change steps",
    "guidance_scale": "Change guidance",
    "freedom": "Change freedom",
    "fast": "Toggle fast sampling",
    "conditioning_scale": "Change ControlNet strength",
}


@dataclass
class _Display:
    """What a document shows first, made off the GUI thread while its file is read (for a
    big scan, turning pixels into a ``QImage`` takes seconds)."""

    photo: object
    gray: np.ndarray
    image: QImage
    variant: object | None = None
    after: np.ndarray | None = None
    after_image: QImage | None = None


def _read_for_display(read: Callable[[Path], Document], path: Path) -> tuple[Document, _Display]:
    doc = read(path)
    gray = lightness_to_gray_rgb(doc.photo.lightness)
    display = _Display(doc.photo, gray, rgb_to_qimage(gray))
    variant = doc.chosen_variant
    if variant is not None:
        display.variant, display.after = variant, variant.rgb
        display.after_image = rgb_to_qimage(display.after)
    return doc, display


class MainWindow(QMainWindow):
    """The application window. ``worker`` can be injected (tests use fake engines)."""

    run_finished = Signal(object)  # WorkerMessage of a finished colorize run (tests, batch)

    def __init__(
        self,
        settings: AppSettings | None = None,
        worker: ModelWorker | None = None,
        parent: QWidget | None = None,
        *,
        check_recovery: bool = True,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.settings = settings or AppSettings(self)
        self.worker = worker or ModelWorker(self)
        self.model = DocumentModel(self)
        self.undo_stack = QUndoStack(self)
        self.runs = RunController(self.worker, self.model, self.undo_stack, self.settings, self)
        self.quit_wait_s = QUIT_WAIT_S
        self._display: _Display | None = None  # images made while a file was read
        self._closing = False
        self._device_reported = False  # a run has said which device it really used

        self.canvas = PhotoCanvas(self)
        self.setCentralWidget(self.canvas)
        self.repair = RepairEditor(self.model, self.undo_stack, self.canvas, self)
        self.colour_panel = ColourPanel()
        self.prompt_panel = PromptPanel()
        self.strip = VariantsStrip()
        self.undo_view = QUndoView(self.undo_stack)
        self.undo_view.setEmptyLabel("Opened photo")
        self._build_docks()
        self._build_status_bar()
        actions.build_actions(self)
        actions.build_menus(self)
        actions.build_toolbar(self)
        self._connect()
        self.setAcceptDrops(True)
        self._space_filter = actions.install_space_filter(self)
        QApplication.instance().aboutToQuit.connect(self._stop_worker)
        self.autosaver = Autosaver(self.model, self.settings, self)
        self.autosaver.recovered.connect(self._recover)
        self._restore_settings()
        self._update_title()
        self._update_actions()
        self.runs.probe()
        if check_recovery:
            QTimer.singleShot(0, self.autosaver.offer_recovery)

    # -- construction ------------------------------------------------------------------
    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea,
              scroll: bool = False) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        if scroll:
            area_widget = QScrollArea()
            area_widget.setWidgetResizable(True)
            area_widget.setFrameShape(QScrollArea.Shape.NoFrame)
            area_widget.setWidget(widget)
            widget = area_widget
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_docks(self) -> None:
        right = Qt.DockWidgetArea.RightDockWidgetArea
        self.prompt_dock = self._dock("Colorize", "promptDock", self.prompt_panel, right)
        self.repair_dock = self._dock(
            "Repair", "repairDock", self.repair.panel, Qt.DockWidgetArea.LeftDockWidgetArea, True
        )
        self.colour_dock = self._dock("Colour", "colourDock", self.colour_panel, right, True)
        self.history_dock = self._dock("Undo History", "historyDock", self.undo_view, right)
        self.tabifyDockWidget(self.colour_dock, self.history_dock)
        self.colour_dock.raise_()
        self.strip_dock = self._dock(
            "Results", "resultsDock", self.strip, Qt.DockWidgetArea.BottomDockWidgetArea
        )
        # the right column runs down to the status bar, so results arriving in the Results
        # dock (below the photo only) never squeeze the Colorize panel
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        self.resizeDocks([self.prompt_dock, self.colour_dock], [330, 420], Qt.Orientation.Vertical)
        self.resizeDocks([self.prompt_dock], [320], Qt.Orientation.Horizontal)

    def fit_prompt_dock(self) -> None:
        """Grow the Colorize dock to show every row of the panel (Variants, Seed...) without
        its scrollbar; the Colour dock below scrolls instead. Never shrinks what the person
        chose."""
        title = self.prompt_dock.height() - self.prompt_panel.height()
        needed = self.prompt_panel.sizeHint().height() + max(title, 0)
        if self.prompt_dock.isVisible() and needed > self.prompt_dock.height():
            self.resizeDocks([self.prompt_dock], [needed], Qt.Orientation.Vertical)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.status_label = QLabel("Open a photo to begin (Ctrl+O or drop it here).")
        self.progress = QProgressBar()
        self.progress.setObjectName("runProgress")
        self.progress.setMaximumWidth(220)
        self.progress.setFormat("%v / %m")
        self.progress.setVisible(False)
        self.eta_label = QLabel()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelButton")
        self.cancel_button.setToolTip("Stop the run (Esc)")
        self.cancel_button.setVisible(False)
        self.device_label = QLabel("Device: –")
        self.device_label.setObjectName("deviceLabel")
        self.device_label.setToolTip("Where the next run computes (Model ▸ Device to change)")
        self.time_label = QLabel()
        self.zoom_label = QLabel()
        bar.addWidget(self.status_label, 1)
        for widget in (self.progress, self.eta_label, self.cancel_button, self.time_label,
                       self.device_label, self.zoom_label):
            bar.addPermanentWidget(widget)

    def _connect(self) -> None:
        m = self.model
        m.photo_changed.connect(self._on_photo_changed)
        m.hints_changed.connect(self._on_hints_changed)
        m.selection_changed.connect(self._on_selection_changed)
        m.value_changed.connect(self._on_value_changed)
        m.runs_changed.connect(self._on_runs_changed)
        m.path_changed.connect(self._update_title)
        c = self.canvas
        c.hint_add_requested.connect(self.add_hint)
        c.hint_move_requested.connect(self.move_hint)
        c.hint_remove_requested.connect(self.remove_hint)
        c.hint_radius_requested.connect(self.resize_hint)
        c.selection_requested.connect(self.model.set_selected)
        c.color_picked.connect(self._on_color_picked)
        c.eyedropper_changed.connect(self._on_eyedropper_changed)
        c.zoom_changed.connect(self._on_zoom_changed)
        self.colour_panel.color_chosen.connect(self.apply_color)
        self.colour_panel.radius_changed.connect(self._radius_from_slider)
        self.colour_panel.eyedropper_requested.connect(
            lambda: self.eyedropper_action.setChecked(not self.canvas.eyedropper)
        )
        p = self.prompt_panel
        p.edited.connect(self.edit_setting)
        p.colorize_requested.connect(self.colorize)
        p.device_changed.connect(self.set_device)
        p.live_toggled.connect(self.runs.set_live)
        self.strip.variant_chosen.connect(self.choose_variant)
        self.strip.use_settings_requested.connect(self.use_settings)
        self.cancel_button.clicked.connect(self.cancel_run)
        self.undo_stack.cleanChanged.connect(self._update_title)
        self.undo_stack.indexChanged.connect(self._update_title)
        self.undo_stack.undoTextChanged.connect(self._undo_text_changed)
        self.undo_stack.redoTextChanged.connect(self._redo_text_changed)
        self.settings.changed.connect(self._on_setting_changed)
        r = self.runs
        r.engines_changed.connect(self._on_engines_changed)
        r.devices_changed.connect(self._on_devices_changed)
        r.engine_chosen.connect(self._on_engine_chosen)
        r.status.connect(self.set_status)
        r.busy_changed.connect(self._on_busy_changed)
        r.progress.connect(self._on_progress)
        r.eta.connect(self.eta_label.setText)
        r.device_in_use.connect(self._on_device_in_use)
        r.last_run_time.connect(self.time_label.setText)
        r.result_changed.connect(self._show_result)
        r.suggestions.connect(self.colour_panel.set_suggestions)
        r.run_finished.connect(self._on_run_finished)
        r.run_failed.connect(self._report_failure)
        r.refused.connect(self._on_refused)

    def _restore_settings(self) -> None:
        s = self.settings
        geometry = s.get("window_geometry")
        if geometry:
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 820)
        state = s.get("window_state")
        if state:
            self.restoreState(state)
        self.show_hints_action.setChecked(s.get("show_hints"))
        self.canvas.set_show_hints(s.get("show_hints"))
        self.prompt_panel.set_device(s.get("device"))
        self.colour_panel.set_recent(s.get("recent_colors"))
        try:
            self.colour_panel.set_current_color(parse_color(s.get("current_color")))
        except ValueError:
            pass
        for name in ("num_variants", "steps", "guidance_scale", "random_seed"):
            self.model.set_value_silently(name, s.get(name))
            self.prompt_panel.set_value(name, s.get(name))
        self.prompt_panel.set_value("live", s.get("live"))

    # -- title, actions, status --------------------------------------------------------
    def _update_title(self, *_changed: object) -> None:
        name = self.model.display_name()
        self.setWindowTitle(f"{name}[*] — PiggyDesk" if name else "PiggyDesk")
        self.setWindowModified(not self.undo_stack.isClean())

    def _update_actions(self) -> None:
        has_photo = self.model.photo is not None
        for action in (self.save_action, self.save_as_action, self.colorize_action,
                       self.clear_action, self.split_action, self.eyedropper_action,
                       self.fit_action, self.actual_action, self.zoom_in_action,
                       self.zoom_out_action):
            action.setEnabled(has_photo)
        self.export_action.setEnabled(self.runs.has_result())
        self.delete_action.setEnabled(self.model.selected >= 0)
        self.cancel_action.setEnabled(self.runs.running)
        self.prompt_panel.colorize_button.setEnabled(has_photo and not self.runs.running)

    def set_status(self, text: str) -> None:
        """One line in the status bar (a long message is shortened; the tooltip has all of it)."""
        line = text.strip().splitlines()[0] if text.strip() else ""
        if len(line) > 160:
            line = line[:157].rstrip() + "…"
        self.status_label.setText(line)
        self.status_label.setToolTip(text if line != text else "")

    # -- opening -----------------------------------------------------------------------
    def open_dialog(self) -> None:
        if not self.maybe_save():
            return
        start = self.settings.get("last_open_dir") or str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Open a photo or project", start, OPEN_FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path: str | Path, *, ask_to_save: bool = False) -> bool:
        """Open a photo or a ``.piggy`` project; errors become a dialog, the window stays usable."""
        if ask_to_save and not self.maybe_save():
            return False
        path = Path(path)
        project = path.suffix.lower() == PROJECT_SUFFIX
        read = self.model.read_project if project else self.model.read_photo
        try:
            doc, self._display = run_in_background(
                self, f"Opening {path.name}…", _read_for_display, read, path)
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

    def _opened(self, path: Path) -> None:
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

    def _recover(self, path: str) -> None:
        try:
            doc, self._display = run_in_background(
                self, "Recovering your work…", _read_for_display, self.model.read_autosave, path)
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

    def _sync_panel_from_model(self) -> None:
        for name in self.model.VALUE_NAMES:
            self.prompt_panel.set_value(name, self.model.value(name))
        if self.runs.engines:
            self.runs.apply_default_engine()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        urls: list[QUrl] = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            event.acceptProposedAction()
            QTimer.singleShot(0, lambda p=urls[0].toLocalFile(): self.open_path(p, ask_to_save=True))

    # -- model and controller signals ----------------------------------------------------
    def _on_photo_changed(self) -> None:
        photo = self.model.photo
        if photo is None:
            self.canvas.set_before(None)
            return
        # a new photo, a turn or a crop fits the view; a tone change keeps the zoom
        fit = self.canvas.image_size() != photo.size
        shown = self._display if self._display and self._display.photo is photo else None
        if shown is not None:  # made off the GUI thread while the file was read
            self.canvas.set_before(shown.gray, fit=True, image=shown.image)
        else:
            self.canvas.set_before(lightness_to_gray_rgb(photo.lightness), fit=fit)
        self._on_runs_changed()
        self._on_hints_changed()

    def _on_hints_changed(self) -> None:
        self.canvas.set_hints(self.model.hints(), self.model.selected)
        self._on_selection_changed(self.model.selected)

    def _on_selection_changed(self, index: int) -> None:
        self.canvas.set_selected(index)
        self.delete_action.setEnabled(index >= 0)
        hints = self.model.hints()
        if 0 <= index < len(hints):
            hint = hints[index]
            self.colour_panel.set_lightness(self.model.lightness_at(hint.x, hint.y))
            self.colour_panel.set_current_color(hint.color)
            self.colour_panel.set_radius(hint.radius)
            self.runs.suggest_soon()
        else:
            self.colour_panel.set_radius(None)
            self.colour_panel.set_lightness(None)
            self.colour_panel.set_suggestions([], "Select a hint to see suggestions")

    def _on_value_changed(self, name: str, value: object) -> None:
        self.prompt_panel.set_value(name, value)
        if name == "engine":
            actions.check_engine(self, str(value))
            self._update_actions()

    def _on_runs_changed(self) -> None:
        views = []
        for i, run in enumerate(self.model.runs()):
            variants = self.model.run_variants(run)
            engine = variants[0].settings.engine if variants else "?"
            info = self.runs.engine_info(engine)
            views.append(RunView(
                label=f"Run {i + 1} · {info.display_name if info else engine} · "
                      f"{len(variants)} variant{'s' * (len(variants) != 1)}",
                images=tuple(v.preview for v in variants),  # small copies for thumbnails
                settings=tuple(v.settings for v in variants),
                uses_steps=bool(info and info.uses_steps),
            ))
        self.strip.set_runs(views, self.model.chosen())
        self._show_result()

    def _on_engines_changed(self, engines: list) -> None:
        self.prompt_panel.set_engines(engines, self.model.value("engine")
                                      or self.settings.get("engine"))
        actions.rebuild_engine_menu(self, engines)

    def _on_devices_changed(self, devices: list) -> None:
        self.prompt_panel.set_available_devices(devices)
        actions.rebuild_device_menu(self, devices)
        self._show_expected_device()

    def _show_expected_device(self) -> None:
        """Before a run has said which device it used: the one it will use (the same rule as
        ``engines.device.pick_device``: auto takes the best found, a missing one the CPU)."""
        if self._device_reported:
            return
        found = self.runs.devices or ["cpu"]
        wanted = str(self.settings.get("device") or "auto")
        name = found[0] if wanted == "auto" else (wanted if wanted in found else "cpu")
        self.device_label.setText(f"Device: {DEVICE_LABELS.get(name, name.upper())}")

    def _on_engine_chosen(self, name: str) -> None:
        self.prompt_panel.set_value("engine", name)
        actions.check_engine(self, name)
        self._update_actions()
        QTimer.singleShot(0, self.fit_prompt_dock)  # its rows depend on the engine

    def _on_busy_changed(self, busy: bool) -> None:
        self.prompt_panel.set_running(busy)
        self.progress.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)
        self.cancel_button.setVisible(busy)
        self._update_actions()

    def _on_progress(self, step: int, total: int) -> None:
        if self.progress.isVisible():
            self.progress.setRange(0, max(total, 1))
            self.progress.setValue(step)

    def _on_run_finished(self, msg: object) -> None:
        self._update_actions()
        self.autosaver.save_now()
        self.run_finished.emit(msg)

    def _report_failure(self, msg) -> None:
        if msg.out_of_memory and self.settings.get("device") != "cpu":
            answer = QMessageBox.question(
                self, "Out of memory",
                f"{msg.error}\n\nRun on the CPU instead? It is slower but has more memory.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            )
            if answer == QMessageBox.StandardButton.Yes:
                self.set_device("cpu")
                self.colorize()
            return
        text = msg.error if len(msg.error) <= 600 else msg.error[:597].rstrip() + "…"
        QMessageBox.warning(self, "Colorization failed", text)

    def current_result(self) -> np.ndarray | None:
        """What the canvas shows and Export writes: the live preview, else the chosen variant."""
        return self.runs.current_result()

    def _result_over_photo(self) -> np.ndarray | None:
        """The current result, if it fits the shown photo (not one made before a crop)."""
        result = self.current_result()
        photo = self.model.photo
        if result is not None and photo is not None and result.shape[:2] != photo.size:
            return None
        return result

    def _show_result(self) -> None:
        shown = self._display
        doc = self.model.doc
        if (shown is not None and shown.variant is not None and doc is not None
                and doc.chosen_variant is shown.variant and self.runs.live_preview is None):
            self.canvas.set_after(shown.after, shown.after_image)
        else:
            self.canvas.set_after(self._result_over_photo())
        self.export_action.setEnabled(self.runs.has_result())

    def _on_zoom_changed(self, zoom: float) -> None:
        self.zoom_label.setText(f"{zoom * 100:.0f}%")

    def _on_device_in_use(self, text: str) -> None:
        self._device_reported = True
        self.device_label.setText(f"Device: {text}")

    def _on_refused(self, text: str) -> None:
        QMessageBox.information(self, "Engine unavailable", text)

    def _undo_text_changed(self, text: str) -> None:
        self.undo_action.setToolTip(f"Undo {text}" if text else "Nothing to undo")

    def _redo_text_changed(self, text: str) -> None:
        self.redo_action.setToolTip(f"Redo {text}" if text else "Nothing to redo")

    def _on_setting_changed(self, name: str, value: object) -> None:
        if name == "show_hints":
            self.canvas.set_show_hints(bool(value))

    # -- edits (each one an undoable command) -----------------------------------------
    def push(self, command: DocumentCommand) -> None:
        self.undo_stack.push(command)
        self._update_actions()

    def add_hint(self, x: float, y: float) -> None:
        if self.model.photo is None:
            return
        hint = Hint(x=x, y=y, color=self.colour_panel.current_color,
                    radius=self.settings.get("hint_radius"))
        index = len(self.model.hints())
        self.push(DocumentCommand(self.model, "Add hint", [self.model.cmd_add_hint(hint)],
                                  select_after=index))
        self._remember_color(hint.color)

    def move_hint(self, index: int, x: float, y: float, drag_id: int) -> None:
        hints = self.model.hints()
        if not 0 <= index < len(hints) or (hints[index].x, hints[index].y) == (x, y):
            return
        self.push(DocumentCommand(self.model, "Move hint", [self.model.cmd_move_hint(index, x, y)],
                                  merge_id=MERGE_MOVE, merge_key=(index, drag_id),
                                  select_after=index))

    def resize_hint(self, index: int, radius: float, gesture_id: int) -> None:
        hints = self.model.hints()
        if not 0 <= index < len(hints) or hints[index].radius == radius:
            return
        self.push(DocumentCommand(self.model, "Resize hint",
                                  [self.model.cmd_resize_hint(index, radius)],
                                  merge_id=MERGE_RESIZE, merge_key=(index, gesture_id),
                                  select_after=index))
        self.set_status(f"Hint radius {radius:g} (Ctrl+wheel over a hint changes it)")

    def _radius_from_slider(self, radius: float, gesture_id: int) -> None:
        if self.model.selected >= 0:
            self.resize_hint(self.model.selected, radius, gesture_id)
            self.settings.set("hint_radius", radius)

    def remove_hint(self, index: int) -> None:
        if 0 <= index < len(self.model.hints()):
            self.push(DocumentCommand(self.model, "Delete hint",
                                      [self.model.cmd_remove_hint(index)], select_after=-1))

    def delete_selected_hint(self) -> None:
        self.remove_hint(self.model.selected)

    def recolour_hint(self, index: int, color: tuple[int, int, int]) -> None:
        hints = self.model.hints()
        if 0 <= index < len(hints) and hints[index].color != tuple(color):
            self.push(DocumentCommand(self.model, "Recolour hint",
                                      [self.model.cmd_recolour_hint(index, color)],
                                      select_after=index))

    def clear_hints(self) -> None:
        if self.model.hints():
            self.push(DocumentCommand(self.model, "Clear hints", [self.model.cmd_clear_hints()],
                                      select_after=-1))

    def apply_color(self, color: tuple[int, int, int]) -> None:
        """A colour was picked: it becomes the current colour and recolours the selected hint."""
        self.colour_panel.set_current_color(color)
        self.settings.set("current_color", "#{:02x}{:02x}{:02x}".format(*color))
        if self.model.selected >= 0:
            self.recolour_hint(self.model.selected, color)
            self._remember_color(color)

    def _remember_color(self, color: tuple[int, int, int]) -> None:
        self.colour_panel.set_recent(
            self.settings.add_recent_color("#{:02x}{:02x}{:02x}".format(*color))
        )

    def edit_setting(self, name: str, value: object) -> None:
        if self.model.value(name) == value:
            return
        merge = MERGE_TEXT if name in TEXT_SETTINGS else MERGE_SETTING
        self.push(DocumentCommand(self.model, SETTING_LABELS.get(name, f"Change {name}"),
                                  [self.model.cmd_set_value(name, value)],
                                  merge_id=merge, merge_key=name))
        if name in REMEMBERED_SETTINGS:
            self.settings.set(name, value)

    def choose_variant(self, run_index: int, variant_index: int) -> None:
        self.runs.drop_preview()
        if (run_index, variant_index) != self.model.chosen():
            self.push(DocumentCommand(self.model, f"Choose variant {variant_index + 1}",
                                      [self.model.cmd_choose_variant(run_index, variant_index)]))
        else:
            self._show_result()

    def use_settings(self, run_index: int, variant_index: int) -> None:
        """Restore the engine, seed, prompt and hints that produced a variant (one undo step)."""
        settings = self.model.variant_settings(run_index, variant_index)
        if settings is None:
            return
        self.push(DocumentCommand(self.model, "Use these settings",
                                  self.model.cmd_use_settings(settings), select_after=-1))
        self.set_status(f"Restored the settings of variant {variant_index + 1} "
                        f"(seed {settings.seed}).")

    def set_show_hints(self, show: bool) -> None:
        self.settings.set("show_hints", show)
        self.canvas.set_show_hints(show)

    def _on_color_picked(self, color: tuple[int, int, int]) -> None:
        self.apply_color(color)
        self.set_status("Picked {} from the result.".format("#{:02x}{:02x}{:02x}".format(*color)))

    def _on_eyedropper_changed(self, on: bool) -> None:
        self.eyedropper_action.setChecked(on)
        self.colour_panel.set_eyedropper_checked(on)

    # -- runs (the controller decides; these are the window's buttons) -------------------
    def set_device(self, device: str) -> None:
        self.settings.set("device", device)
        self.prompt_panel.set_device(device)
        actions.check_device(self, device)
        self._device_reported = False  # the next run reports the new one; until then, say
        self._show_expected_device()

    def build_request(self, *, seed: int | None = None) -> ColorizeRequest:
        return self.runs.build_request(seed=seed)

    def colorize(self, *, live: bool = False) -> int | None:
        """Start a run (see ``RunController.colorize``); the job id, or ``None``."""
        return self.runs.colorize(live=live)

    def cancel_run(self) -> None:
        self.runs.cancel()

    # -- files -------------------------------------------------------------------------
    def save_project(self) -> bool:
        if self.model.photo is None:
            return False
        if self.model.project_path is None:
            return self.save_project_as()
        return self._save_to(self.model.project_path)

    def save_project_as(self) -> bool:
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

    def _save_to(self, path: Path) -> bool:
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

    def maybe_save(self) -> bool:
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

    # -- closing -----------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if not self.maybe_save():
            event.ignore()
            return
        self._closing = True
        self.runs.stop()
        self.autosaver.stop(clean_exit=True)
        self.settings.set("window_geometry", bytes(self.saveGeometry().data()))
        self.settings.set("window_state", bytes(self.saveState().data()))
        self.settings.sync()
        QApplication.instance().removeEventFilter(self._space_filter)
        self.hide()  # the window goes at once; a run that cannot stop mid-step gets a moment
        self._stop_worker()
        event.accept()

    def _stop_worker(self) -> None:
        if not self.worker.shutdown(timeout_s=self.quit_wait_s):
            logger.warning("quitting while the engine finishes its step; the app exits anyway")
