"""PiggyDesk's main window: canvas in the middle, colour and prompt panels on the right, the
variants strip at the bottom, the undo history in a dock, progress in the status bar.

The window wires things together and holds no document state itself: the document lives in
``DocumentModel`` (observable, wrapping core's ``Document``), every edit goes through the
``QUndoStack`` as a ``DocumentCommand`` wrapping core's Qt-free commands, and every model run
goes to the ``ModelWorker`` thread, whose one message type comes back to ``_on_worker_message``.
The GUI thread never runs a model and does not poll: it reacts to signals.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QKeyEvent,
    QKeySequence,
    QUndoStack,
)
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QFileDialog,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QTextEdit,
    QUndoView,
    QVBoxLayout,
    QWidget,
)

from piggydesk import __version__ as VERSION
from piggydesk.core.color import lightness_to_gray_rgb
from piggydesk.core.errors import PhotoError
from piggydesk.core.hints import Hint
from piggydesk.engines.base import ColorizeRequest, EngineInfo
from piggydesk.ui.autosave import Autosaver
from piggydesk.ui.canvas import PhotoCanvas
from piggydesk.ui.colour_panel import ColourPanel
from piggydesk.ui.document_model import PROJECT_SUFFIX, DocumentModel
from piggydesk.ui.prompt_panel import LIVE_ENGINES, PromptPanel, random_seed
from piggydesk.ui.settings import AppSettings
from piggydesk.ui.undo import (
    MERGE_MOVE,
    MERGE_RESIZE,
    MERGE_SETTING,
    MERGE_TEXT,
    DocumentCommand,
)
from piggydesk.ui.variants_strip import RunView, VariantsStrip
from piggydesk.ui.worker import Job, JobKind, MessageKind, ModelWorker, WorkerMessage

logger = logging.getLogger(__name__)

IMAGE_FILTER = "Photos (*.png *.jpg *.jpeg *.tif *.tiff *.bmp *.webp)"
OPEN_FILTER = f"Photos and projects (*.png *.jpg *.jpeg *.tif *.tiff *.bmp *.webp *{PROJECT_SUFFIX});;" \
    f"{IMAGE_FILTER};;PiggyDesk projects (*{PROJECT_SUFFIX})"
TEXT_SETTINGS = ("prompt", "negative_prompt")
SETTING_LABELS = {
    "prompt": "Edit prompt",
    "negative_prompt": "Edit negative prompt",
    "engine": "Change engine",
    "num_variants": "Change number of variants",
    "seed": "Change seed",
    "random_seed": "Toggle random seed",
    "steps": "Change steps",
    "guidance_scale": "Change guidance",
}


def _is_text_input(widget: QWidget | None) -> bool:
    if widget is None:
        return False
    if isinstance(widget, QComboBox):
        return widget.isEditable()
    return isinstance(widget, (QLineEdit, QTextEdit, QPlainTextEdit, QAbstractSpinBox))


class _SpaceFilter(QObject):
    """Application-wide: hold Space to compare with the original (unless typing)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            key_event: QKeyEvent = event  # type: ignore[assignment]
            if key_event.key() == Qt.Key.Key_Space and not key_event.modifiers():
                if not self._window.isActiveWindow() or _is_text_input(QApplication.focusWidget()):
                    return False
                if key_event.isAutoRepeat():
                    return True
                self._window.canvas.set_space_held(event.type() == QEvent.Type.KeyPress)
                return True
        return False


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
        self.worker.message.connect(self._on_worker_message)
        self.model = DocumentModel(self)
        self.undo_stack = QUndoStack(self)
        self._engines: list[EngineInfo] = []
        self._run_job: int | None = None  # the explicit run (Colorize button)
        self._live_job: int | None = None  # the live preview run, if one is pending/running
        self._run_doc: object = None  # the document a run was made for
        self._live_started = 0.0
        self._run_started = 0.0
        self._run_first_step: tuple[float, int] | None = None
        self._suggest_job: int | None = None
        self._live_preview: np.ndarray | None = None
        self._last_request: Job | None = None
        self._closing = False

        self.canvas = PhotoCanvas(self)
        self.setCentralWidget(self.canvas)
        self.colour_panel = ColourPanel()
        self.prompt_panel = PromptPanel()
        self.strip = VariantsStrip()
        self.undo_view = QUndoView(self.undo_stack)
        self.undo_view.setEmptyLabel("Opened photo")
        self._build_docks()
        self._build_status_bar()
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._connect()
        self.setAcceptDrops(True)
        self._space_filter = _SpaceFilter(self)
        QApplication.instance().installEventFilter(self._space_filter)
        QApplication.instance().aboutToQuit.connect(self.worker.shutdown)
        self._live_timer = QTimer(self)
        self._live_timer.setSingleShot(True)
        self._live_timer.timeout.connect(self._live_run)
        self._suggest_timer = QTimer(self)  # suggestions wait until a drag pauses
        self._suggest_timer.setSingleShot(True)
        self._suggest_timer.setInterval(150)
        self._suggest_timer.timeout.connect(self._request_suggestions)
        self.autosaver = Autosaver(self.model, self.settings, self)
        self.autosaver.recovered.connect(self._recover)
        self._restore_settings()
        self._update_title()
        self._update_actions()
        self.worker.submit(Job(JobKind.PROBE))
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
            dock.setWidget(area_widget)
        else:
            dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_docks(self) -> None:
        right = Qt.DockWidgetArea.RightDockWidgetArea
        self.prompt_dock = self._dock("Colorize", "promptDock", self.prompt_panel, right)
        self.colour_dock = self._dock("Colour", "colourDock", self.colour_panel, right, True)
        self.history_dock = self._dock("Undo History", "historyDock", self.undo_view, right)
        self.tabifyDockWidget(self.colour_dock, self.history_dock)
        self.colour_dock.raise_()
        self.strip_dock = self._dock(
            "Results", "resultsDock", self.strip, Qt.DockWidgetArea.BottomDockWidgetArea
        )
        self.resizeDocks([self.prompt_dock, self.colour_dock], [330, 420], Qt.Orientation.Vertical)
        self.resizeDocks([self.prompt_dock], [320], Qt.Orientation.Horizontal)

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
        self.time_label = QLabel()
        self.zoom_label = QLabel()
        bar.addWidget(self.status_label, 1)
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.eta_label)
        bar.addPermanentWidget(self.cancel_button)
        bar.addPermanentWidget(self.time_label)
        bar.addPermanentWidget(self.device_label)
        bar.addPermanentWidget(self.zoom_label)

    def _action(self, text: str, slot=None, shortcuts=(), tip: str = "", checkable: bool = False,
                name: str = "") -> QAction:
        action = QAction(text, self)
        if name:
            action.setObjectName(name)
        keys = [QKeySequence(s) if isinstance(s, str) else QKeySequence(s) for s in shortcuts]
        if keys:
            action.setShortcuts(keys)
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(f"{tip} ({keys[0].toString(QKeySequence.SequenceFormat.NativeText)})"
                              if keys else tip)
        action.setCheckable(checkable)
        if slot is not None:
            if checkable:
                action.toggled.connect(slot)
            else:
                action.triggered.connect(lambda _=False: slot())
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        a = self._action
        self.open_action = a("&Open…", self.open_dialog, [QKeySequence.StandardKey.Open],
                             "Open a photo or a project", name="openAction")
        self.save_action = a("&Save Project", self.save_project, [QKeySequence.StandardKey.Save],
                             "Save the hints, settings and results as a project")
        self.save_as_action = a("Save Project &As…", self.save_project_as, ["Ctrl+Shift+S"],
                                "Save the project under a new name")
        self.export_action = a("&Export…", self.export_dialog, ["Ctrl+E"],
                               "Write the chosen result as PNG or TIFF", name="exportAction")
        self.batch_action = a("&Batch Colorize…", self.batch_dialog, ["Ctrl+B"],
                              "Colorize a whole folder of photos")
        self.quit_action = a("&Quit", self.close, [QKeySequence.StandardKey.Quit], "Quit PiggyDesk")
        self.undo_action = a("&Undo", self.undo_stack.undo, [QKeySequence.StandardKey.Undo],
                             "Undo the last edit", name="undoAction")
        self.redo_action = a("&Redo", self.undo_stack.redo, ["Ctrl+Shift+Z", "Ctrl+Y"],
                             "Redo the edit you undid", name="redoAction")
        self.undo_action.setEnabled(False)
        self.redo_action.setEnabled(False)
        self.undo_stack.canUndoChanged.connect(self.undo_action.setEnabled)
        self.undo_stack.canRedoChanged.connect(self.redo_action.setEnabled)
        self.undo_stack.undoTextChanged.connect(self._undo_text_changed)
        self.undo_stack.redoTextChanged.connect(self._redo_text_changed)
        self.delete_action = a("&Delete Hint", self.delete_selected_hint,
                               [QKeySequence(Qt.Key.Key_Delete), QKeySequence(Qt.Key.Key_Backspace)],
                               "Remove the selected hint")
        self.clear_action = a("&Clear Hints", self.clear_hints, ["Ctrl+Shift+Delete"],
                              "Remove all hints")
        self.prefs_action = a("&Preferences…", self.preferences_dialog,
                              [QKeySequence.StandardKey.Preferences], "Change PiggyDesk's settings")
        self.zoom_in_action = a("Zoom &In", self.canvas.zoom_in, ["+", "=", "Ctrl++"], "Zoom in")
        self.zoom_out_action = a("Zoom &Out", self.canvas.zoom_out, ["-", "Ctrl+-"], "Zoom out")
        self.fit_action = a("&Fit to Window", self.canvas.fit, ["0", "Ctrl+0"],
                            "Show the whole photo")
        self.actual_action = a("&100%", self.canvas.actual_size, ["1", "Ctrl+1"],
                               "One photo pixel per screen pixel")
        self.split_action = a("&Before/After Split", self.canvas.set_split_enabled, ["B"],
                              "Drag a divider across the photo to compare", checkable=True,
                              name="splitAction")
        self.compare_action = a("&Compare with Original (hold Space)", self.canvas.set_comparing,
                                [], "Show the original photo", checkable=True)
        self.show_hints_action = a("Show &Hints", self._set_show_hints, ["H"],
                                   "Show or hide the hint points", checkable=True)
        self.eyedropper_action = a("&Eyedropper", self.canvas.set_eyedropper, ["I"],
                                   "Pick a colour from the result", checkable=True)
        self.colorize_action = a("&Colorize", self.colorize, ["Ctrl+Return", "Ctrl+Enter"],
                                 "Colorize the photo with the current settings",
                                 name="colorizeAction")
        self.cancel_action = a("Cancel Run", self.cancel_run, [QKeySequence(Qt.Key.Key_Escape)],
                               "Stop the running colorization")
        self.models_action = a("&Manage Models…", self.manage_models, [],
                               "Download or remove engine models")
        self.shortcuts_action = a("&Keyboard Shortcuts", self.shortcuts_dialog,
                                  [QKeySequence.StandardKey.HelpContents], "List the shortcuts")
        self.about_action = a("&About PiggyDesk", self.about_dialog, [], "About PiggyDesk")
        self.engine_group = QActionGroup(self)
        self.device_group = QActionGroup(self)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.open_action)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        file_menu.addSeparator()
        file_menu.addAction(self.save_action)
        file_menu.addAction(self.save_as_action)
        file_menu.addAction(self.export_action)
        file_menu.addSeparator()
        file_menu.addAction(self.batch_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        edit = bar.addMenu("&Edit")
        edit.addAction(self.undo_action)
        edit.addAction(self.redo_action)
        edit.addSeparator()
        edit.addAction(self.delete_action)
        edit.addAction(self.clear_action)
        edit.addSeparator()
        edit.addAction(self.prefs_action)
        view = bar.addMenu("&View")
        for action in (self.zoom_in_action, self.zoom_out_action, self.fit_action,
                       self.actual_action):
            view.addAction(action)
        view.addSeparator()
        view.addAction(self.split_action)
        view.addAction(self.compare_action)
        view.addAction(self.show_hints_action)
        view.addAction(self.eyedropper_action)
        view.addSeparator()
        panels = view.addMenu("&Panels")
        for dock in (self.prompt_dock, self.colour_dock, self.history_dock, self.strip_dock):
            panels.addAction(dock.toggleViewAction())
        model_menu = bar.addMenu("&Model")
        self.engine_menu = model_menu.addMenu("&Engine")
        self.device_menu = model_menu.addMenu("&Device")
        model_menu.addSeparator()
        model_menu.addAction(self.colorize_action)
        model_menu.addAction(self.cancel_action)
        model_menu.addSeparator()
        model_menu.addAction(self.models_action)
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.shortcuts_action)
        help_menu.addAction(self.about_action)
        self._rebuild_recent_menu()
        self._rebuild_device_menu(["cpu"])

    def _build_toolbar(self) -> None:
        from piggydesk.ui.icons import icon

        looks = {
            self.open_action: ("open", "Open"), self.save_action: ("save", "Save"),
            self.export_action: ("export", "Export"), self.undo_action: ("undo", "Undo"),
            self.redo_action: ("redo", "Redo"), self.fit_action: ("fit", "Fit"),
            self.actual_action: ("actual", "100%"), self.split_action: ("split", "Compare"),
            self.show_hints_action: ("hints", "Hints"),
            self.eyedropper_action: ("eyedropper", "Pick Colour"),
            self.colorize_action: ("colorize", "Colorize"),
        }
        for action, (name, short) in looks.items():
            action.setIcon(icon(name))
            action.setIconText(short)
        tools = self.addToolBar("Main")
        tools.setObjectName("mainToolbar")
        tools.setMovable(False)
        tools.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for action in (self.open_action, self.save_action, self.export_action):
            tools.addAction(action)
        tools.addSeparator()
        tools.addAction(self.undo_action)
        tools.addAction(self.redo_action)
        tools.addSeparator()
        for action in (self.fit_action, self.actual_action, self.split_action,
                       self.show_hints_action, self.eyedropper_action):
            tools.addAction(action)
        tools.addSeparator()
        tools.addAction(self.colorize_action)

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
        p.live_toggled.connect(self._set_live)
        self.strip.variant_chosen.connect(self.choose_variant)
        self.strip.use_settings_requested.connect(self.use_settings)
        self.cancel_button.clicked.connect(self.cancel_run)
        self.undo_stack.cleanChanged.connect(self._on_clean_changed)
        self.undo_stack.indexChanged.connect(self._after_edit)
        self.settings.changed.connect(self._on_setting_changed)

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
            from piggydesk.core.hints import parse_color

            self.colour_panel.set_current_color(parse_color(s.get("current_color")))
        except ValueError:
            pass
        for name in ("num_variants", "steps", "guidance_scale", "random_seed"):
            self.model.set_value_silently(name, s.get(name))
            self.prompt_panel.set_value(name, s.get(name))
        self.prompt_panel.set_value("live", s.get("live"))

    # -- title and state -------------------------------------------------------------
    def _update_title(self) -> None:
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
        self.export_action.setEnabled(self.current_result() is not None)
        self.delete_action.setEnabled(self.model.selected >= 0)
        running = self._run_job is not None
        self.cancel_action.setEnabled(running)
        self.prompt_panel.colorize_button.setEnabled(has_photo and not running)

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
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            if path.suffix.lower() == PROJECT_SUFFIX:
                self.model.load_project(path)
            else:
                self.model.open_photo(path)
        except PhotoError as exc:
            QApplication.restoreOverrideCursor()
            logger.info("could not open %s: %s", path, exc)
            QMessageBox.warning(self, "Could not open", str(exc))
            return False
        except OSError as exc:
            QApplication.restoreOverrideCursor()
            QMessageBox.warning(self, "Could not open", f"{path.name} could not be read: {exc}")
            return False
        QApplication.restoreOverrideCursor()
        self.worker.cancel()
        self._live_preview = None
        self.undo_stack.clear()
        self.undo_stack.setClean()
        self.settings.set("last_open_dir", str(path.parent))
        self.settings.add_recent_file(str(path))
        self._rebuild_recent_menu()
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
        return True

    def _recover(self, path: str) -> None:
        try:
            self.model.recover(path)
        except PhotoError as exc:
            QMessageBox.warning(self, "Could not recover", str(exc))
            return
        self.undo_stack.clear()
        self.undo_stack.resetClean()  # recovered work is unsaved work
        self._sync_panel_from_model()
        self._update_title()
        self._update_actions()
        self.set_status("Recovered the autosaved work. Save it as a project to keep it.")

    def _sync_panel_from_model(self) -> None:
        for name in self.model.VALUE_NAMES:
            self.prompt_panel.set_value(name, self.model.value(name))
        if self._engines:
            self._apply_default_engine()

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        files = self.settings.get("recent_files")
        for i, path in enumerate(files):
            action = self.recent_menu.addAction(f"&{(i + 1) % 10} {Path(path).name}")
            action.setToolTip(path)
            action.setStatusTip(path)
            action.triggered.connect(lambda _=False, p=path: self.open_path(p, ask_to_save=True))
        if files:
            self.recent_menu.addSeparator()
            clear = self.recent_menu.addAction("Clear Recent")
            clear.triggered.connect(self._clear_recent)
        self.recent_menu.setEnabled(bool(files))

    def _clear_recent(self) -> None:
        self.settings.set("recent_files", [])
        self._rebuild_recent_menu()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        urls: list[QUrl] = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            event.acceptProposedAction()
            QTimer.singleShot(0, lambda p=urls[0].toLocalFile(): self.open_path(p, ask_to_save=True))

    # -- model signals -----------------------------------------------------------------
    def _on_photo_changed(self) -> None:
        photo = self.model.photo
        if photo is None:
            self.canvas.set_before(None)
            return
        self.canvas.set_before(lightness_to_gray_rgb(photo.lightness), fit=True)
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
            self._suggest_timer.start()
        else:
            self.colour_panel.set_radius(None)
            self.colour_panel.set_lightness(None)
            self.colour_panel.set_suggestions([], "Select a hint to see suggestions")

    def _on_value_changed(self, name: str, value: object) -> None:
        self.prompt_panel.set_value(name, value)
        if name == "engine":
            self._engine_changed()

    def _on_runs_changed(self) -> None:
        runs = []
        for i, run in enumerate(self.model.runs()):
            variants = self.model.run_variants(run)
            engine = variants[0].settings.engine if variants else "?"
            runs.append(RunView(
                label=f"Run {i + 1} · {engine} · {len(variants)} variant{'s' * (len(variants) != 1)}",
                images=tuple(v.rgb for v in variants),
                settings=tuple(v.settings for v in variants),
            ))
        self.strip.set_runs(runs, self.model.chosen())
        self._show_result()

    def current_result(self) -> np.ndarray | None:
        """What the canvas shows and Export writes: the live preview, else the chosen variant."""
        if self._live_preview is not None:
            return self._live_preview
        return self.model.chosen_rgb()

    def _show_result(self) -> None:
        self.canvas.set_after(self.current_result())
        self.export_action.setEnabled(self.current_result() is not None)

    def _undo_text_changed(self, text: str) -> None:
        self.undo_action.setToolTip(f"Undo {text}" if text else "Nothing to undo")

    def _redo_text_changed(self, text: str) -> None:
        self.redo_action.setToolTip(f"Redo {text}" if text else "Nothing to redo")

    def _on_zoom_changed(self, zoom: float) -> None:
        self.zoom_label.setText(f"{zoom * 100:.0f}%")

    def _on_clean_changed(self, _clean: bool) -> None:
        self._update_title()

    def _after_edit(self, _index: int = 0) -> None:
        if self._closing:
            return
        self._update_title()
        if self.prompt_panel.live_check.isChecked() and self.model.photo is not None:
            self._live_timer.start(self.settings.get("live_delay_ms"))

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
        if name in ("num_variants", "steps", "guidance_scale", "random_seed"):
            self.settings.set(name, value)
        if name == "engine":
            self.settings.set("engine", value)

    def choose_variant(self, run_index: int, variant_index: int) -> None:
        self._live_preview = None
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

    def _set_show_hints(self, show: bool) -> None:
        self.settings.set("show_hints", show)
        self.canvas.set_show_hints(show)

    def _on_color_picked(self, color: tuple[int, int, int]) -> None:
        self.apply_color(color)
        self.set_status("Picked {} from the result.".format("#{:02x}{:02x}{:02x}".format(*color)))

    def _on_eyedropper_changed(self, on: bool) -> None:
        self.eyedropper_action.setChecked(on)
        self.colour_panel.set_eyedropper_checked(on)

    # -- engines and runs --------------------------------------------------------------
    def _apply_default_engine(self) -> None:
        preferred = self.model.value("engine") or self.settings.get("engine")
        available = [e.name for e in self._engines if e.available]
        if preferred not in available:
            preferred = available[0] if available else (self._engines[0].name if self._engines else "")
        if preferred and preferred != self.model.value("engine"):
            self.model.set_value_silently("engine", preferred)
        self.prompt_panel.set_value("engine", preferred)
        self._engine_changed()

    def _engine_changed(self) -> None:
        name = self.model.value("engine")
        for action in self.engine_group.actions():
            action.setChecked(action.data() == name)
        self._update_actions()

    def _rebuild_engine_menu(self) -> None:
        self.engine_menu.clear()
        for action in self.engine_group.actions():
            self.engine_group.removeAction(action)
        for info in self._engines:
            label = info.display_name + ("" if info.available else " (unavailable)")
            action = self.engine_menu.addAction(label)
            action.setData(info.name)
            action.setCheckable(True)
            action.setEnabled(info.available)
            action.setToolTip(info.description if info.available else info.reason)
            action.setStatusTip(info.description if info.available else info.reason)
            action.triggered.connect(lambda _=False, n=info.name: self.edit_setting("engine", n))
            self.engine_group.addAction(action)
        self.engine_menu.setToolTipsVisible(True)

    def _rebuild_device_menu(self, devices: list[str]) -> None:
        from piggydesk.ui.prompt_panel import DEVICE_LABELS

        self.device_menu.clear()
        current = self.settings.get("device")
        for key, label in DEVICE_LABELS.items():
            action = self.device_menu.addAction(label)
            action.setCheckable(True)
            action.setData(key)
            action.setEnabled(key == "auto" or key in devices)
            action.setChecked(key == current)
            action.triggered.connect(lambda _=False, k=key: self.set_device(k))
            self.device_group.addAction(action)

    def set_device(self, device: str) -> None:
        self.settings.set("device", device)
        self.prompt_panel.set_device(device)
        for action in self.device_group.actions():
            action.setChecked(action.data() == device)

    def _set_live(self, on: bool) -> None:
        self.settings.set("live", on)
        if on and self.model.photo is not None:
            self._live_timer.start(self.settings.get("live_delay_ms"))
        if not on and self._live_preview is not None:
            self._live_preview = None
            self._show_result()

    def build_request(self, *, seed: int | None = None) -> ColorizeRequest:
        m = self.model
        if seed is None:
            seed = random_seed() if m.value("random_seed") else int(m.value("seed"))
        settings = m.run_settings().with_values(
            seed=int(seed), working_size=int(self.settings.get("working_size"))
        )
        return ColorizeRequest(m.photo.lightness, settings)

    def colorize(self, *, live: bool = False) -> int | None:
        """Send a run to the worker. Returns the job id (``None`` if there is nothing to do)."""
        if self.model.photo is None:
            return None
        engine = self.model.value("engine")
        info = next((e for e in self._engines if e.name == engine), None)
        if not engine:
            self.set_status("Still looking for engines… try again in a moment.")
            return None
        if info is not None and not info.available:
            QMessageBox.information(self, "Engine unavailable",
                                    f"The {info.display_name} engine cannot run: {info.reason}")
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
        self._run_job = self.worker.submit(job)
        self._last_request = job
        self._run_started = time.monotonic()
        self._run_first_step = None
        self._live_preview = None
        self.prompt_panel.set_running(True)
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.cancel_button.setVisible(True)
        self.set_status(f"Colorizing with the {info.display_name if info else engine} engine…")
        self._update_actions()
        return job.job_id

    def _live_run(self) -> None:
        if self._run_job is not None or self._closing:
            return  # an explicit run is on its way; its result will show
        if (self.prompt_panel.live_check.isChecked() and self.model.photo is not None
                and self.model.value("engine") in LIVE_ENGINES):
            self.colorize(live=True)

    def cancel_run(self) -> None:
        if self._run_job is not None:
            self.worker.cancel(self._run_job)
            self.set_status("Cancelling…")

    def _request_suggestions(self) -> None:
        if self._closing:
            return
        hints = self.model.hints()
        if not 0 <= self.model.selected < len(hints):
            return
        hint = hints[self.model.selected]
        info = next((e for e in self._engines if e.name == "instant" and e.available), None)
        if info is None or self.model.photo is None:
            self.colour_panel.set_suggestions([], "Suggestions need the instant engine")
            return
        request = replace(self.build_request(seed=0), num_variants=1,
                          hints=tuple(h for h in self.model.hints() if h != hint))
        job = Job(JobKind.SUGGEST, engine="instant", device=self.settings.get("device"),
                  request=request, point=(hint.x, hint.y))
        self._suggest_job = self.worker.submit(job)

    def _on_worker_message(self, msg: WorkerMessage) -> None:
        if self._closing:
            return
        if msg.job_kind is JobKind.PROBE:
            if msg.kind is MessageKind.FINISHED:
                self._engines = list(msg.engines)
                self.prompt_panel.set_engines(self._engines, self.model.value("engine")
                                              or self.settings.get("engine"))
                self.prompt_panel.set_available_devices(list(msg.devices))
                self._rebuild_engine_menu()
                self._rebuild_device_menu(list(msg.devices))
                self._apply_default_engine()
            elif msg.kind is MessageKind.FAILED:
                self.set_status(f"Could not list the engines: {msg.error}")
            return
        if msg.job_kind is JobKind.SUGGEST:
            if msg.job_id == self._suggest_job and msg.kind is MessageKind.FINISHED:
                self.colour_panel.set_suggestions(list(msg.suggestions), "No suggestions here")
            elif msg.job_id == self._suggest_job and msg.kind is MessageKind.FAILED:
                self.colour_panel.set_suggestions([], "Suggestions are not available")
                self._engine_failed(msg, "instant")
            return
        if msg.job_kind is not JobKind.COLORIZE:
            return
        if msg.job_id == self._live_job:
            self._on_live_message(msg)
            return
        if msg.job_id != self._run_job:
            return
        if msg.device:
            self.device_label.setText(f"Device: {msg.device}")
        if msg.kind is MessageKind.LOADING:
            self.set_status("Loading the engine (only the first run)…")
        elif msg.kind is MessageKind.PROGRESS:
            self._show_progress(msg.step, msg.total)
        elif msg.kind is MessageKind.FINISHED:
            self._run_done(msg)
        elif msg.kind in (MessageKind.CANCELLED, MessageKind.FAILED, MessageKind.SUPERSEDED):
            self._end_run()
            if msg.kind is MessageKind.CANCELLED:
                self.set_status("Run cancelled.")
            elif msg.kind is MessageKind.FAILED:
                self.set_status(msg.error)
                self._report_failure(msg)
                if self._last_request is not None:
                    self._engine_failed(msg, self._last_request.engine)

    def _engine_failed(self, msg: WorkerMessage, engine: str) -> None:
        """An engine that said it was available could not load: grey it out, say why."""
        if not msg.engine_unavailable:
            return
        self._engines = [
            replace(e, available=False, reason=msg.error) if e.name == engine else e
            for e in self._engines
        ]
        self.prompt_panel.set_engines(self._engines, self.model.value("engine"))
        self._rebuild_engine_menu()
        self._apply_default_engine()

    def _on_live_message(self, msg: WorkerMessage) -> None:
        if msg.device:
            self.device_label.setText(f"Device: {msg.device}")
        if msg.kind is MessageKind.FINISHED:
            self._live_job = None
            if msg.variants and self.model.doc is self._run_doc and self._run_job is None:
                seconds = time.monotonic() - self._live_started
                self._live_preview = msg.variants[0].rgb
                self._show_result()
                self.time_label.setText(f"Last run: {_seconds(seconds)}")
                self.set_status(f"Live preview updated in {_seconds(seconds)}.")
        elif msg.kind in (MessageKind.CANCELLED, MessageKind.FAILED, MessageKind.SUPERSEDED):
            self._live_job = None
            if msg.kind is MessageKind.FAILED:
                self.set_status(f"Live preview failed: {msg.error}")
                self._engine_failed(msg, "instant")

    def _show_progress(self, step: int, total: int) -> None:
        if not self.progress.isVisible():
            return
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(step)
        now = time.monotonic()
        if self._run_first_step is None:
            self._run_first_step = (now, step)
            self.eta_label.setText(f"step {step}/{total}")
            return
        t0, s0 = self._run_first_step
        if step > s0:
            remaining = (now - t0) / (step - s0) * (total - step)
            self.eta_label.setText(f"about {_seconds(remaining)} left")

    def _run_done(self, msg: WorkerMessage) -> None:
        seconds = time.monotonic() - self._run_started
        self._end_run()
        variants = list(msg.variants)
        if not variants:
            self.set_status("The engine returned no result.")
            return
        self.time_label.setText(f"Last run: {_seconds(seconds)}")
        if self.model.doc is not self._run_doc:
            return  # another photo was opened meanwhile
        self.push(DocumentCommand(self.model, f"Colorize ({variants[0].settings.engine})",
                                  [self.model.cmd_add_run(variants)]))
        notes = " ".join(v.message for v in variants[:1] if v.message)
        self.set_status(f"Done in {_seconds(seconds)}: {len(variants)} "
                        f"variant{'s' * (len(variants) != 1)}. {notes}".strip())
        self.autosaver.save_now()
        self.run_finished.emit(msg)

    def _end_run(self) -> None:
        self._run_job = None
        self.prompt_panel.set_running(False)
        self.progress.setVisible(False)
        self.eta_label.setText("")
        self.cancel_button.setVisible(False)
        self._update_actions()

    def _report_failure(self, msg: WorkerMessage) -> None:
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
        try:
            self.model.save_project(path)
        except PhotoError as exc:
            QMessageBox.warning(self, "Could not save", str(exc))
            return False
        self.undo_stack.setClean()
        self.settings.add_recent_file(str(path))
        self._rebuild_recent_menu()
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

    def export_dialog(self) -> None:
        from piggydesk.ui.export_dialog import ExportDialog

        rgb = self.current_result()
        if rgb is None:
            QMessageBox.information(self, "Nothing to export", "Colorize the photo first.")
            return
        dialog = ExportDialog(rgb, self.model.photo, self.settings, self)
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.written is not None:
            self.set_status(f"Exported {dialog.written}.")

    def batch_dialog(self) -> None:
        from piggydesk.ui.batch_dialog import BatchDialog

        if self._run_job is not None:
            QMessageBox.information(self, "Busy", "Wait for the current run to finish first.")
            return
        dialog = BatchDialog(self.worker, self._engines, self.settings, self)
        dialog.exec()

    def manage_models(self) -> None:
        try:
            from piggydesk.ui.models_dialog import ManageModelsDialog
        except ImportError as exc:
            logger.warning("model manager unavailable: %s", exc)
            QMessageBox.information(
                self, "Manage Models",
                "The model manager is not part of this build. Models can be installed from the "
                "command line with “piggydesk models”.",
            )
            return
        dialog = ManageModelsDialog(self)
        changed = getattr(dialog, "installed_changed", None)
        if changed is not None:
            changed.connect(lambda *_: self.worker.submit(Job(JobKind.PROBE)))
        dialog.exec()
        self.worker.submit(Job(JobKind.PROBE))  # models may have been installed or removed

    def preferences_dialog(self) -> None:
        from piggydesk.ui.preferences import PreferencesDialog

        PreferencesDialog(self.settings, self).exec()

    def shortcuts_dialog(self) -> None:
        dialog = QDialog(self)
        dialog.setWindowTitle("Keyboard Shortcuts")
        layout = QVBoxLayout(dialog)
        rows = [(a.text().replace("&", ""), ", ".join(
            k.toString(QKeySequence.SequenceFormat.NativeText) for k in a.shortcuts()))
            for a in self.actions() if a.shortcuts()]
        rows += [("Add hint", "Left click"), ("Move hint", "Drag"), ("Delete hint", "Right click"),
                 ("Hint radius", "Ctrl+Wheel over a hint"), ("Zoom", "Wheel / pinch"),
                 ("Pan", "Middle drag or Space+drag"), ("Compare with original", "Hold Space")]
        table = QTableWidget(len(rows), 2)
        table.setHorizontalHeaderLabels(["Action", "Shortcut"])
        for i, (name, keys) in enumerate(rows):
            table.setItem(i, 0, QTableWidgetItem(name))
            table.setItem(i, 1, QTableWidgetItem(keys))
        table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        layout.addWidget(table)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(dialog.reject)
        layout.addWidget(buttons)
        dialog.resize(460, 520)
        dialog.exec()

    def about_dialog(self) -> None:
        QMessageBox.about(
            self, "About PiggyDesk",
            f"<h3>PiggyDesk {VERSION}</h3><p>Bring old family photos back to colour.</p>"
            "<p>Engines: a hint-aware CNN (instant), Improved Diffusion-based Image Colorization "
            "via Piggybacked Models (Liu et al. 2023), and Colorization using Optimization "
            "(Levin et al. 2004).</p>",
        )

    # -- closing -----------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if not self.maybe_save():
            event.ignore()
            return
        self._closing = True
        self._live_timer.stop()
        self._suggest_timer.stop()
        self.autosaver.stop(clean_exit=True)
        self.settings.set("window_geometry", bytes(self.saveGeometry().data()))
        self.settings.set("window_state", bytes(self.saveState().data()))
        self.settings.sync()
        QApplication.instance().removeEventFilter(self._space_filter)
        self.worker.shutdown()
        event.accept()


def _seconds(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 90:
        return f"{math.ceil(seconds)} s"
    return f"{int(seconds // 60)} min {int(seconds % 60)} s"
