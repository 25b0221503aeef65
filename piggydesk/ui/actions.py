"""The main window's actions, menus, toolbar and keys, and the dialogs the actions open.

``build_actions(window)`` creates every ``QAction`` as an attribute of the window
(``window.open_action``, ``window.colorize_action``...) with its shortcuts, tooltips and slot;
``build_menus`` and ``build_toolbar`` place them; the recent-files, engine and device menus are
rebuilt from data (the engine menu from ``EngineInfo``: no engine is named here). Holding Space
compares with the original (``install_space_filter``). The dialogs (Export, Batch, Manage
Models, Preferences, Keyboard Shortcuts, About) are opened from here too, so the window itself
stays wiring.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QTableWidget,
    QTableWidgetItem,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from piggydesk import __version__ as VERSION
from piggydesk.engines.base import EngineInfo
from piggydesk.ui.prompt_panel import DEVICE_LABELS

if TYPE_CHECKING:
    from piggydesk.ui.main_window import MainWindow

logger = logging.getLogger(__name__)

MOUSE_SHORTCUTS = [
    ("Add hint", "Left click"), ("Move hint", "Drag"), ("Delete hint", "Right click"),
    ("Hint radius", "Ctrl+Wheel over a hint"), ("Zoom", "Wheel / pinch"),
    ("Pan", "Middle drag or Space+drag"), ("Compare with original", "Hold Space"),
]


def _action(window: MainWindow, text: str, slot: Callable | None = None, shortcuts=(),
            tip: str = "", checkable: bool = False, name: str = "") -> QAction:
    action = QAction(text, window)
    if name:
        action.setObjectName(name)
    keys = [QKeySequence(s) for s in shortcuts]
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
    window.addAction(action)
    return action


def build_actions(w: MainWindow) -> None:
    a = _action
    std = QKeySequence.StandardKey
    w.open_action = a(w, "&Open…", w.open_dialog, [std.Open], "Open a photo or a project",
                      name="openAction")
    w.save_action = a(w, "&Save Project", w.save_project, [std.Save],
                      "Save the hints, settings and results as a project")
    w.save_as_action = a(w, "Save Project &As…", w.save_project_as, ["Ctrl+Shift+S"],
                         "Save the project under a new name")
    w.export_action = a(w, "&Export…", lambda: export_dialog(w), ["Ctrl+E"],
                        "Write the chosen result as PNG or TIFF", name="exportAction")
    w.batch_action = a(w, "&Batch Colorize…", lambda: batch_dialog(w), ["Ctrl+B"],
                       "Colorize a whole folder of photos")
    w.quit_action = a(w, "&Quit", w.close, [std.Quit], "Quit PiggyDesk")
    w.undo_action = a(w, "&Undo", w.undo_stack.undo, [std.Undo], "Undo the last edit",
                      name="undoAction")
    w.redo_action = a(w, "&Redo", w.undo_stack.redo, ["Ctrl+Shift+Z", "Ctrl+Y"],
                      "Redo the edit you undid", name="redoAction")
    w.undo_action.setEnabled(False)
    w.redo_action.setEnabled(False)
    w.undo_stack.canUndoChanged.connect(w.undo_action.setEnabled)
    w.undo_stack.canRedoChanged.connect(w.redo_action.setEnabled)
    w.delete_action = a(w, "&Delete Hint", w.delete_selected_hint,
                        [QKeySequence(Qt.Key.Key_Delete), QKeySequence(Qt.Key.Key_Backspace)],
                        "Remove the selected hint")
    w.clear_action = a(w, "&Clear Hints", w.clear_hints, ["Ctrl+Shift+Delete"],
                       "Remove all hints")
    w.prefs_action = a(w, "&Preferences…", lambda: preferences_dialog(w), [std.Preferences],
                       "Change PiggyDesk's settings")
    c = w.canvas
    w.zoom_in_action = a(w, "Zoom &In", c.zoom_in, ["+", "=", "Ctrl++"], "Zoom in")
    w.zoom_out_action = a(w, "Zoom &Out", c.zoom_out, ["-", "Ctrl+-"], "Zoom out")
    w.fit_action = a(w, "&Fit to Window", c.fit, ["0", "Ctrl+0"], "Show the whole photo")
    w.actual_action = a(w, "&100%", c.actual_size, ["1", "Ctrl+1"],
                        "One photo pixel per screen pixel")
    w.split_action = a(w, "&Before/After Split", c.set_split_enabled, ["B"],
                       "Drag a divider across the photo to compare", checkable=True,
                       name="splitAction")
    w.compare_action = a(w, "&Compare with Original (hold Space)", c.set_comparing, [],
                         "Show the original photo", checkable=True)
    w.show_hints_action = a(w, "Show &Hints", w.set_show_hints, ["H"],
                            "Show or hide the hint points", checkable=True)
    w.eyedropper_action = a(w, "&Eyedropper", c.set_eyedropper, ["I"],
                            "Pick a colour from the result", checkable=True)
    w.colorize_action = a(w, "&Colorize", w.colorize, ["Ctrl+Return", "Ctrl+Enter"],
                          "Colorize the photo with the current settings", name="colorizeAction")
    w.cancel_action = a(w, "Cancel Run", w.cancel_run, [QKeySequence(Qt.Key.Key_Escape)],
                        "Stop the running colorization")
    w.models_action = a(w, "&Manage Models…", lambda: manage_models(w), [],
                        "Download or remove engine models")
    w.shortcuts_action = a(w, "&Keyboard Shortcuts", lambda: shortcuts_dialog(w),
                           [std.HelpContents], "List the shortcuts")
    w.about_action = a(w, "&About PiggyDesk", lambda: about_dialog(w), [], "About PiggyDesk")
    w.engine_group = QActionGroup(w)
    w.device_group = QActionGroup(w)


def build_menus(w: MainWindow) -> None:
    bar = w.menuBar()
    file_menu = bar.addMenu("&File")
    file_menu.addAction(w.open_action)
    w.recent_menu = file_menu.addMenu("Open &Recent")
    file_menu.addSeparator()
    for action in (w.save_action, w.save_as_action, w.export_action):
        file_menu.addAction(action)
    file_menu.addSeparator()
    file_menu.addAction(w.batch_action)
    file_menu.addSeparator()
    file_menu.addAction(w.quit_action)
    edit = bar.addMenu("&Edit")
    edit.addAction(w.undo_action)
    edit.addAction(w.redo_action)
    edit.addSeparator()
    edit.addAction(w.delete_action)
    edit.addAction(w.clear_action)
    edit.addSeparator()
    edit.addAction(w.prefs_action)
    view = bar.addMenu("&View")
    for action in (w.zoom_in_action, w.zoom_out_action, w.fit_action, w.actual_action):
        view.addAction(action)
    view.addSeparator()
    for action in (w.split_action, w.compare_action, w.show_hints_action, w.eyedropper_action):
        view.addAction(action)
    view.addSeparator()
    panels = view.addMenu("&Panels")
    for dock in (w.prompt_dock, w.colour_dock, w.history_dock, w.strip_dock):
        panels.addAction(dock.toggleViewAction())
    model_menu = bar.addMenu("&Model")
    w.engine_menu = model_menu.addMenu("&Engine")
    w.device_menu = model_menu.addMenu("&Device")
    model_menu.addSeparator()
    model_menu.addAction(w.colorize_action)
    model_menu.addAction(w.cancel_action)
    model_menu.addSeparator()
    model_menu.addAction(w.models_action)
    help_menu = bar.addMenu("&Help")
    help_menu.addAction(w.shortcuts_action)
    help_menu.addAction(w.about_action)
    rebuild_recent_menu(w)
    rebuild_device_menu(w, ["cpu"])


def build_toolbar(w: MainWindow) -> None:
    from piggydesk.ui.icons import icon

    looks = {
        w.open_action: ("open", "Open"), w.save_action: ("save", "Save"),
        w.export_action: ("export", "Export"), w.undo_action: ("undo", "Undo"),
        w.redo_action: ("redo", "Redo"), w.fit_action: ("fit", "Fit"),
        w.actual_action: ("actual", "100%"), w.split_action: ("split", "Compare"),
        w.show_hints_action: ("hints", "Hints"),
        w.eyedropper_action: ("eyedropper", "Pick Colour"),
        w.colorize_action: ("colorize", "Colorize"),
    }
    for action, (name, short) in looks.items():
        action.setIcon(icon(name))
        action.setIconText(short)
    tools = w.addToolBar("Main")
    tools.setObjectName("mainToolbar")
    tools.setMovable(False)
    tools.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    for group in ((w.open_action, w.save_action, w.export_action),
                  (w.undo_action, w.redo_action),
                  (w.fit_action, w.actual_action, w.split_action, w.show_hints_action,
                   w.eyedropper_action),
                  (w.colorize_action,)):
        if tools.actions():
            tools.addSeparator()
        for action in group:
            tools.addAction(action)


def rebuild_recent_menu(w: MainWindow) -> None:
    menu = w.recent_menu
    menu.clear()
    files = w.settings.get("recent_files")
    for i, path in enumerate(files):
        action = menu.addAction(f"&{(i + 1) % 10} {Path(path).name}")
        action.setToolTip(path)
        action.setStatusTip(path)
        action.triggered.connect(lambda _=False, p=path: w.open_path(p, ask_to_save=True))
    if files:
        menu.addSeparator()
        clear = menu.addAction("Clear Recent")
        clear.triggered.connect(lambda: (w.settings.set("recent_files", []),
                                         rebuild_recent_menu(w)))
    menu.setEnabled(bool(files))


def rebuild_engine_menu(w: MainWindow, engines: list[EngineInfo]) -> None:
    w.engine_menu.clear()
    for action in w.engine_group.actions():
        w.engine_group.removeAction(action)
    for info in engines:
        label = info.display_name + ("" if info.available else " (unavailable)")
        action = w.engine_menu.addAction(label)
        action.setData(info.name)
        action.setCheckable(True)
        action.setEnabled(info.available)
        action.setToolTip(info.description if info.available else info.reason)
        action.setStatusTip(info.description if info.available else info.reason)
        action.triggered.connect(lambda _=False, n=info.name: w.edit_setting("engine", n))
        w.engine_group.addAction(action)
    w.engine_menu.setToolTipsVisible(True)


def check_engine(w: MainWindow, name: str) -> None:
    for action in w.engine_group.actions():
        action.setChecked(action.data() == name)


def rebuild_device_menu(w: MainWindow, devices: list[str]) -> None:
    w.device_menu.clear()
    for action in w.device_group.actions():
        w.device_group.removeAction(action)
    current = w.settings.get("device")
    for key, label in DEVICE_LABELS.items():
        action = w.device_menu.addAction(label)
        action.setCheckable(True)
        action.setData(key)
        action.setEnabled(key == "auto" or key in devices)
        action.setChecked(key == current)
        action.triggered.connect(lambda _=False, k=key: w.set_device(k))
        w.device_group.addAction(action)


def check_device(w: MainWindow, device: str) -> None:
    for action in w.device_group.actions():
        action.setChecked(action.data() == device)


def shortcuts_dialog(w: MainWindow) -> None:
    dialog = QDialog(w)
    dialog.setWindowTitle("Keyboard Shortcuts")
    layout = QVBoxLayout(dialog)
    rows = [(a.text().replace("&", ""), ", ".join(
        k.toString(QKeySequence.SequenceFormat.NativeText) for k in a.shortcuts()))
        for a in w.actions() if a.shortcuts()]
    rows += MOUSE_SHORTCUTS
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


# ----------------------------------------------------------------------------- keys


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


def install_space_filter(w: MainWindow) -> QObject:
    """Install the application-wide Space filter (remove it with ``removeEventFilter``)."""
    space = _SpaceFilter(w)
    QApplication.instance().installEventFilter(space)
    return space


# ----------------------------------------------------------------------------- dialogs


def export_dialog(w: MainWindow) -> None:
    from piggydesk.ui.export_dialog import ExportDialog

    rgb = w.current_result()
    if rgb is None:
        QMessageBox.information(w, "Nothing to export", "Colorize the photo first.")
        return
    dialog = ExportDialog(rgb, w.model.photo, w.settings, w)
    if dialog.exec() == QDialog.DialogCode.Accepted and dialog.written is not None:
        w.set_status(f"Exported {dialog.written}.")


def batch_dialog(w: MainWindow) -> None:
    from piggydesk.ui.batch_dialog import BatchDialog

    if w.runs.running:
        QMessageBox.information(w, "Busy", "Wait for the current run to finish first.")
        return
    BatchDialog(w.worker, w.runs.engines, w.settings, w).exec()


def manage_models(w: MainWindow) -> None:
    try:
        from piggydesk.ui.models_dialog import ManageModelsDialog
    except ImportError as exc:
        logger.warning("model manager unavailable: %s", exc)
        QMessageBox.information(
            w, "Manage Models",
            "The model manager is not part of this build. Models can be installed from the "
            "command line with “piggydesk models”.",
        )
        return
    dialog = ManageModelsDialog(w)
    changed = getattr(dialog, "installed_changed", None)
    if changed is not None:
        changed.connect(lambda *_: w.runs.probe())
    dialog.exec()
    w.runs.probe()  # models may have been installed or removed


def preferences_dialog(w: MainWindow) -> None:
    from piggydesk.ui.preferences import PreferencesDialog

    PreferencesDialog(w.settings, w).exec()


def about_dialog(w: MainWindow) -> None:
    engines = "".join(f"<li><b>{e.display_name}</b>: {e.description}</li>"
                      for e in w.runs.engines)
    QMessageBox.about(
        w, "About PiggyDesk",
        f"<h3>PiggyDesk {VERSION}</h3><p>Bring old family photos back to colour.</p>"
        + (f"<p>Engines:</p><ul>{engines}</ul>" if engines else ""),
    )
