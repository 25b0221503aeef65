"""Manage Models dialog: the catalogue, installed state, downloads with progress, import, verify, remove.

Every slow operation (download, import with hashing, verify) runs on a short-lived ``QThread``
through a :class:`_Task` worker object that sends one message type (:class:`TaskMessage`) back
to the GUI thread, so the window never freezes. Pause stops a download and keeps its partial
files (Download then resumes where it stopped); Cancel stops it and deletes them.
``installed_changed`` fires whenever the set of installed models changes, so the main window
can re-probe the engines and enable the piggyback engine.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from piggydesk.core.errors import PhotoError
from piggydesk.core.progress import Cancelled, CancelToken
from piggydesk.modelstore.catalog import format_size
from piggydesk.modelstore.commands import checksum_summary
from piggydesk.modelstore.download import DownloadProgress, DownloadSettings
from piggydesk.modelstore.importer import import_model
from piggydesk.modelstore.store import ModelStore

logger = logging.getLogger(__name__)

KIND_LABELS = {  # the catalogue's kinds, as the Kind column says them
    "base": "Base model",
    "bundle": "Bundle",
    "controlnet": "ControlNet guider",
    "lora": "Fast LoRA",
}

COLUMNS = ("Model", "Type", "Size", "Licence", "Status")


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "estimating…"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min left"
    if minutes:
        return f"{minutes} min {secs:02d} s left"
    return f"{secs} s left"


def describe_progress(p: DownloadProgress) -> str:
    return (
        f"{format_size(p.done)} of {format_size(p.total)} · {format_size(p.speed)}/s · "
        f"{format_duration(p.eta)} · file {p.file_index}/{p.file_count}: {p.file_path}"
    )


@dataclass(frozen=True)
class TaskMessage:
    """The one message type from a worker task to the dialog."""

    kind: str  # "progress" | "done" | "cancelled" | "failed"
    task: str  # "download" | "import" | "verify"
    model_id: str
    progress: DownloadProgress | None = None
    text: str = ""
    result: Any = None


class _Task(QObject):
    """Runs ``fn(cancel, report)`` in a worker thread and reports through ``message``."""

    message = Signal(object)

    def __init__(self, task: str, model_id: str,
                 fn: Callable[[CancelToken, Callable[[DownloadProgress], None]], Any]) -> None:
        super().__init__()
        self.task = task
        self.model_id = model_id
        self.fn = fn
        self.cancel = CancelToken()

    def _report(self, progress: DownloadProgress) -> None:
        self.message.emit(TaskMessage("progress", self.task, self.model_id, progress=progress))

    @Slot()
    def run(self) -> None:
        try:
            result = self.fn(self.cancel, self._report)
        except Cancelled as exc:  # a paused download or a stopped check
            self.message.emit(TaskMessage("cancelled", self.task, self.model_id, text=str(exc)))
        except PhotoError as exc:
            self.message.emit(TaskMessage("failed", self.task, self.model_id, text=str(exc)))
        except Exception as exc:  # a bug: log the traceback, show one line
            logger.exception("model task %s failed", self.task)
            self.message.emit(TaskMessage(
                "failed", self.task, self.model_id,
                text=f"Unexpected error ({type(exc).__name__}: {exc}); see the log file."))
        else:
            self.message.emit(TaskMessage("done", self.task, self.model_id, result=result))


class ManageModelsDialog(QDialog):
    """Catalogue table + Download / Pause / Cancel / Import Folder… / Verify / Remove."""

    installed_changed = Signal()
    task_finished = Signal(str, str)  # task, outcome ("done" | "cancelled" | "failed")
    progress_changed = Signal(object)  # TaskMessage of kind "progress", after the view updated

    def __init__(
        self,
        parent: QWidget | None = None,
        store: ModelStore | None = None,
        settings: DownloadSettings | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Manage Models")
        self.resize(860, 480)
        self.store = store or ModelStore()
        self.download_settings = settings
        self._thread: QThread | None = None
        self._task: _Task | None = None
        self._discard_on_cancel = False
        self._row_ids: list[str] = []
        self.last_error = ""

        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, len(COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._update_buttons)

        self.details = QLabel(self)
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.LinksAccessibleByMouse)
        self.details.setOpenExternalLinks(True)
        self.progress_bar = QProgressBar(self)
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setVisible(False)
        self.progress_label = QLabel(self)
        self.progress_label.setWordWrap(True)
        self.location = QLabel(f"Models folder: {self.store.root}", self)
        self.location.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.download_button = QPushButton("Download", self)
        self.pause_button = QPushButton("Pause", self)
        self.pause_button.setToolTip("Stop now and keep what was downloaded; resume later.")
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setToolTip("Stop now and delete the partial download.")
        self.import_button = QPushButton("Import Folder…", self)
        self.import_button.setToolTip(
            "Use a diffusers Stable Diffusion 1.x folder or a PiggyDesk bundle you already have.")
        self.verify_button = QPushButton("Verify", self)
        self.remove_button = QPushButton("Remove", self)
        self.close_button = QPushButton("Close", self)
        self.download_button.clicked.connect(self.start_download)
        self.pause_button.clicked.connect(self.pause_download)
        self.cancel_button.clicked.connect(self.cancel_download)
        self.import_button.clicked.connect(lambda: self.import_folder())
        self.verify_button.clicked.connect(self.verify_selected)
        self.remove_button.clicked.connect(lambda: self.remove_selected())
        self.close_button.clicked.connect(self.reject)

        buttons = QHBoxLayout()
        for b in (self.download_button, self.pause_button, self.cancel_button,
                  self.import_button, self.verify_button, self.remove_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.details)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.progress_label)
        layout.addWidget(self.location)
        layout.addLayout(buttons)

        self.refresh()
        if self._row_ids:
            self.table.selectRow(0)

    # ------------------------------------------------------------------ table
    def _load_catalog(self):
        try:
            return list(self.store.catalog)
        except PhotoError as exc:
            self.progress_label.setText(str(exc))
            return []

    def status_of(self, model_id: str) -> str:
        if self.store.is_installed(model_id):
            return "Installed"
        if self._task is not None and self._task.model_id == model_id:
            return "Downloading…"
        partial = self.store.partial_bytes(model_id)
        if partial:
            return f"Paused ({format_size(partial)} downloaded)"
        return "Not installed"

    def refresh(self) -> None:
        selected = self.selected_id()
        installed = self.store.installed()
        rows: list[tuple[str, str, str, str, str, str]] = []
        for entry in self._load_catalog():
            rows.append((entry.id, entry.name, KIND_LABELS.get(entry.kind, entry.kind.title()),
                         format_size(entry.total_size, entry.size_is_exact), entry.license,
                         self.status_of(entry.id)))
        known = {r[0] for r in rows}
        for model in installed.values():
            if model.id not in known:
                rows.append((model.id, model.name, f"{model.kind.title()} (imported)",
                             format_size(model.size), model.license or "see its model card",
                             "Installed (linked)" if model.linked else "Installed"))
        self._row_ids = [r[0] for r in rows]
        self.table.setRowCount(len(rows))
        for row, values in enumerate(rows):
            for col, value in enumerate(values[1:]):
                item = QTableWidgetItem(value)
                item.setData(Qt.ItemDataRole.UserRole, values[0])
                self.table.setItem(row, col, item)
        if selected in self._row_ids:
            self.table.selectRow(self._row_ids.index(selected))
        self._update_buttons()

    def selected_id(self) -> str | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows:
            return None
        row = rows[0].row()
        return self._row_ids[row] if 0 <= row < len(self._row_ids) else None

    def select(self, model_id: str) -> None:
        self.table.selectRow(self._row_ids.index(model_id))

    def status_text(self, model_id: str) -> str:
        return self.table.item(self._row_ids.index(model_id), 4).text()

    def _update_buttons(self) -> None:
        model_id = self.selected_id()
        busy = self._task is not None
        entry = self.store.catalog.find(model_id) if model_id else None
        installed = bool(model_id) and self.store.is_installed(model_id)
        partial = bool(model_id) and not installed and self.store.partial_bytes(model_id) > 0
        self.download_button.setText("Resume" if partial else "Download")
        self.download_button.setEnabled(not busy and entry is not None and not installed)
        downloading = busy and self._task is not None and self._task.task == "download"
        self.pause_button.setEnabled(downloading)
        self.cancel_button.setEnabled(downloading or (not busy and partial))
        self.import_button.setEnabled(not busy)
        self.verify_button.setEnabled(not busy and installed)
        self.remove_button.setEnabled(not busy and installed)
        self._show_details(model_id)

    def _show_details(self, model_id: str | None) -> None:
        if not model_id:
            self.details.setText("")
            return
        entry = self.store.catalog.find(model_id)
        if entry is not None:
            notes = "".join(f"<br><i>{n}</i>" for n in entry.notes)
            self.details.setText(
                f"<b>{entry.name}</b> — {entry.description}<br>"
                f"<b>Enables:</b> {entry.enables}<br>"
                f"<b>Licence:</b> <a href='{entry.license_url}'>{entry.license}</a>{notes}"
            )
        elif self.store.is_installed(model_id):
            model = self.store.get(model_id)
            how = "linked to" if model.linked else "copied from"
            self.details.setText(f"<b>{model.name}</b> — {model.kind}, {how} {model.origin}")

    # ------------------------------------------------------------------ tasks
    def _start(self, task: str, model_id: str,
               fn: Callable[[CancelToken, Callable[[DownloadProgress], None]], Any]) -> None:
        self._task = _Task(task, model_id, fn)
        self._thread = QThread(self)
        self._task.moveToThread(self._thread)
        self._thread.started.connect(self._task.run)
        self._task.message.connect(self._on_message)
        self.last_error = ""
        self.progress_bar.setValue(0)
        self.progress_bar.setVisible(True)
        self._thread.start()
        self.refresh()

    @Slot(object)
    def _on_message(self, msg: TaskMessage) -> None:
        if msg.kind == "progress" and msg.progress is not None:
            p = msg.progress
            self.progress_bar.setValue(int(p.fraction * 1000))
            verb = "Checking" if msg.task != "download" else "Downloading"
            if msg.task == "download":
                self.progress_label.setText(f"{verb} {msg.model_id}: {describe_progress(p)}")
            else:
                self.progress_label.setText(f"{verb} {p.file_path} ({p.file_index}/{p.file_count})")
            self.progress_changed.emit(msg)
            return
        self._finish_thread()
        if msg.kind == "done":
            self._on_done(msg)
        elif msg.kind == "cancelled":
            if self._discard_on_cancel:
                self.store.discard_download(msg.model_id)
                self.progress_label.setText("Download cancelled; the partial files were deleted.")
            else:
                self.progress_label.setText(
                    "Download paused. Press Resume to continue where it stopped.")
        else:
            self.last_error = msg.text
            self.progress_label.setText(msg.text)
            QMessageBox.warning(self, "Manage Models", msg.text)
        self._discard_on_cancel = False
        self.progress_bar.setVisible(False)
        self.refresh()
        self.task_finished.emit(msg.task, msg.kind)

    def _finish_thread(self) -> None:
        thread, self._thread, self._task = self._thread, None, None
        if thread is not None:
            thread.quit()
            thread.wait()
            thread.deleteLater()

    def _on_done(self, msg: TaskMessage) -> None:
        if msg.task == "download":
            summary = checksum_summary(msg.result)
            self.progress_label.setText(
                f"{msg.result.name} is installed and verified."
                if summary == "all files verified"
                else f"{msg.result.name} is installed ({summary})."
            )
            self.installed_changed.emit()
        elif msg.task == "import":
            self.progress_label.setText(f"Imported {msg.result.name} as '{msg.result.id}'.")
            self.installed_changed.emit()
        elif msg.task == "verify":
            bad = [r for r in msg.result if not r.ok]
            if bad:
                text = "\n".join(f"{r.model_id}: " + "; ".join(r.problems) for r in bad)
                self.last_error = text
                self.progress_label.setText("Verification failed.")
                QMessageBox.warning(
                    self, "Verify",
                    f"Some files are damaged or missing:\n{text}\n\nRemove the model and "
                    "download or import it again.")
            else:
                self.progress_label.setText(
                    f"{msg.model_id}: all {msg.result[0].checked} files are intact.")

    def start_download(self) -> None:
        model_id = self.selected_id()
        if not model_id or self._task is not None:
            return
        settings = self.download_settings

        def work(cancel: CancelToken, report: Callable[[DownloadProgress], None]):
            return self.store.download(model_id, progress=report, cancel=cancel, settings=settings)

        self.progress_label.setText(f"Starting the download of {model_id}…")
        self._start("download", model_id, work)

    def pause_download(self) -> None:
        if self._task is not None and self._task.task == "download":
            self._discard_on_cancel = False
            self._task.cancel.cancel()
            self.progress_label.setText("Pausing…")

    def cancel_download(self) -> None:
        if self._task is not None and self._task.task == "download":
            self._discard_on_cancel = True
            self._task.cancel.cancel()
            self.progress_label.setText("Cancelling…")
            return
        model_id = self.selected_id()
        if model_id and self.store.partial_bytes(model_id):
            self.store.discard_download(model_id)
            self.progress_label.setText("The partial download was deleted.")
            self.refresh()

    def import_folder(self, path: str | Path | None = None, link: bool | None = None) -> None:
        if self._task is not None:
            return
        if path is None:
            path = QFileDialog.getExistingDirectory(
                self, "Import a diffusers model or PiggyDesk bundle folder")
            if not path:
                return
        if link is None:
            box = QMessageBox(self)
            box.setWindowTitle("Import Folder")
            box.setText(f"Copy {path} into the models folder, or link to it where it is?")
            copy_button = box.addButton("Copy", QMessageBox.ButtonRole.AcceptRole)
            link_button = box.addButton("Link", QMessageBox.ButtonRole.ActionRole)
            box.addButton(QMessageBox.StandardButton.Cancel)
            box.exec()
            if box.clickedButton() not in (copy_button, link_button):
                return
            link = box.clickedButton() is link_button
        folder = Path(path)

        def work(cancel: CancelToken, report: Callable[[DownloadProgress], None]):
            def on_file(rel: str, index: int, total: int) -> None:
                report(DownloadProgress(folder.name, rel, index, total, 0, 0, index, total,
                                        0.0, None))

            return import_model(self.store, folder, link=bool(link), cancel=cancel,
                                on_file=on_file)

        self.progress_label.setText(f"Checking {folder}…")
        self._start("import", folder.name, work)

    def verify_selected(self) -> None:
        model_id = self.selected_id()
        if not model_id or self._task is not None:
            return

        def work(cancel: CancelToken, report: Callable[[DownloadProgress], None]):
            def on_file(rel: str, index: int, total: int) -> None:
                report(DownloadProgress(model_id, rel, index, total, 0, 0, index, total,
                                        0.0, None))

            return self.store.verify(model_id, cancel=cancel, on_file=on_file)

        self._start("verify", model_id, work)

    def remove_selected(self, confirm: bool = True) -> None:
        model_id = self.selected_id()
        if not model_id or self._task is not None or not self.store.is_installed(model_id):
            return
        model = self.store.get(model_id)
        if confirm:
            what = ("the link (your folder stays where it is)" if model.linked
                    else f"{format_size(model.size)} of files")
            answer = QMessageBox.question(
                self, "Remove Model",
                f"Remove {model.name}? This deletes {what}.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        try:
            self.store.remove(model_id)
        except PhotoError as exc:
            self.last_error = str(exc)
            QMessageBox.warning(self, "Remove Model", str(exc))
        self.progress_label.setText(f"Removed {model.name}.")
        self.refresh()
        self.installed_changed.emit()

    # --------------------------------------------------------------- closing
    def done(self, result: int) -> None:  # close/Escape: pause a running download cleanly
        if self._task is not None:
            self._discard_on_cancel = False
            self._task.cancel.cancel()
            thread = self._thread
            if thread is not None:
                thread.quit()
                thread.wait()
            self._thread = self._task = None
        super().done(result)
