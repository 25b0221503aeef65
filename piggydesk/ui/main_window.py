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

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QUndoStack
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
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
from piggydesk.core.hints import parse_color
from piggydesk.engines.base import ColorizeRequest
from piggydesk.ui import actions
from piggydesk.ui.autosave import Autosaver
from piggydesk.ui.canvas import PhotoCanvas
from piggydesk.ui.colour_panel import ColourPanel
from piggydesk.ui.document_model import DocumentModel
from piggydesk.ui.editing import DocumentEdits
from piggydesk.ui.files import Display, DocumentFiles
from piggydesk.ui.prompt_panel import DEVICE_LABELS, PromptPanel
from piggydesk.ui.repair_panel import RepairEditor
from piggydesk.ui.run_controller import RunController
from piggydesk.ui.settings import AppSettings
from piggydesk.ui.variants_strip import RunView, VariantsStrip
from piggydesk.ui.worker import ModelWorker

logger = logging.getLogger(__name__)
QWIDGETSIZE_MAX = (1 << 24) - 1  # Qt's "no maximum" for a widget's size

QUIT_WAIT_S = 3.0  # quitting waits this long for a run to stop, then leaves without it


class MainWindow(DocumentFiles, DocumentEdits, QMainWindow):
    """The application window. ``worker`` can be injected (tests use fake engines).

    Opening and saving come from ``DocumentFiles`` (``ui/files.py``), the edit handlers from
    ``DocumentEdits`` (``ui/editing.py``), the actions, menus and dialogs from
    ``ui/actions.py``, runs from ``RunController``; this class builds the window and wires
    them together.
    """

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
        self._display: Display | None = None  # images made while a file was read
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
        self._fitted_height: int | None = None  # the Colorize dock's height fit_prompt_dock set
        self._fit_asked: tuple[int, int] | None = None  # (its height then, the height asked)
        self.resizeDocks([self.prompt_dock], [320], Qt.Orientation.Horizontal)

    def fit_prompt_dock(self) -> None:
        """Grow the Colorize dock to show every row of the panel (Variants, Seed...) without
        its scrollbar; the Colour dock below gives up the height and scrolls instead. Never
        shrinks what the person chose."""
        height = self.prompt_dock.height()
        title = height - self.prompt_panel.height()
        needed = self.prompt_panel.sizeHint().height() + max(title, 0)
        grow = needed - height
        # a height this method chose earlier (for rows since hidden, or a narrower panel
        # whose text wrapped) goes back down; one the person dragged to stays
        ours = self._fitted_height is not None and abs(height - self._fitted_height) <= 2
        if (height, needed) == self._fit_asked:
            return  # asked already; the dock layout has not applied it yet
        if self.prompt_dock.isVisible() and (grow > 0 or (grow < 0 and ours)):
            self._fit_asked = (height, needed)
            self._fitted_height = needed
            # resizeDocks alone lands some pixels off; held at the height until the dock
            # layout has applied it, the dock gets exactly that, then is free again
            self.prompt_dock.setFixedHeight(needed)
            self.resizeDocks([self.prompt_dock], [needed], Qt.Orientation.Vertical)
            QTimer.singleShot(50, self._release_prompt_dock)

    def _release_prompt_dock(self) -> None:
        self.prompt_dock.setMinimumHeight(0)
        self.prompt_dock.setMaximumHeight(QWIDGETSIZE_MAX)

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
        p.rows_changed.connect(lambda: QTimer.singleShot(0, self.fit_prompt_dock))
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
        elif (ready := self.repair.display_for(photo)) is not None:  # made with a repair edit
            self.canvas.set_before(ready[0], fit=fit, image=ready[1])
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
        """The current result, if it lies over the shown photo (not one made before a crop,
        a turn or a flip)."""
        result = self.current_result()
        photo = self.model.photo
        if result is not None and photo is not None and result.shape[:2] != photo.size:
            return None
        doc = self.model.doc
        if self.runs.live_preview is None and doc is not None and not doc.chosen_fits:
            return None
        return result

    def _show_result(self) -> None:
        shown = self._display
        doc = self.model.doc
        if (shown is not None and shown.variant is not None and doc is not None
                and doc.chosen_variant is shown.variant and self.runs.live_preview is None
                and doc.chosen_fits):
            self.canvas.set_after(shown.after, shown.after_image)
        else:
            after = self._result_over_photo()
            self.canvas.set_after(after)
            if after is None and self.current_result() is not None:
                self.set_status("The chosen result was made before the last crop, turn or "
                                "flip: colorize again to see colour here (Export writes it "
                                "as it was made).")
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
