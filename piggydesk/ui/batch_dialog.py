"""Batch colorize: every photo in a folder, through the same model worker as the main window.

One file at a time goes to the worker as a ``BATCH_ITEM`` job (load, colorize, export, all in
the worker thread); the next is sent when the previous one's message arrives, so the dialog
never polls. Overall progress, the current file's progress, Cancel, and a list of the files
that failed with the reason.

Each photo can be repaired first ("Repair each photo first": dust and scratches, automatic
levels, local contrast), with the same ``RepairSettings`` the command line's ``batch`` builds
from ``--auto-dust``, ``--levels`` and ``--local-contrast``; the repair runs in the worker
thread with the rest of the item. (Colour-cast removal is not offered: it changes only a*b*,
which colorizing replaces, so it would not change a colorized result.)

Output names come from ``core.batch.plan_outputs`` (``scan-colorized.png``; photos sharing a
name get ``scan-jpeg-colorized.png``...), so results never collide. "Skip photos already
colorized" leaves a photo whose planned result exists alone (counted apart from failures);
otherwise an existing result is never overwritten: the new one gets a number.

An engine's *Vividness* (``EngineInfo.options``) is offered when the chosen engine reads it,
with the Colorize panel's meaning (Auto: the model's own balance).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from piggydesk.core.batch import find_photos, plan_outputs
from piggydesk.core.repair.pipeline import RepairSettings
from piggydesk.core.repair.tone import ToneSettings
from piggydesk.engines.base import ColorizeRequest, EngineInfo
from piggydesk.ui.prompt_panel import (
    MAX_SEED,
    VIVIDNESS_AUTO,
    VIVIDNESS_TIP,
    unit_spin_with_auto,
)
from piggydesk.ui.settings import AppSettings
from piggydesk.ui.worker import BatchItem, Job, JobKind, MessageKind, ModelWorker, WorkerMessage

logger = logging.getLogger(__name__)

OUTPUT_TAG = "-colorized"
LOCAL_CONTRAST = 0.5  # the strength of "Local contrast" in a batch (the Repair dock's slider: 0-1)


def numbered_if_taken(planned: Path) -> Path:
    """``planned``, or ``<stem>-2<ext>``, ``-3``... when it exists (never overwrite)."""
    candidate = planned
    n = 2
    while candidate.exists():
        candidate = planned.with_name(f"{planned.stem}-{n}{planned.suffix}")
        n += 1
    return candidate


class BatchDialog(QDialog):
    finished_batch = Signal(int, int)  # done, failed

    def __init__(self, worker: ModelWorker, engines: list[EngineInfo], settings: AppSettings,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Batch Colorize")
        self.setObjectName("batchDialog")
        self._worker = worker
        self._settings = settings
        self._queue: list[Path] = []
        self._total = 0
        self._done = 0
        self.failures: list[tuple[Path, str]] = []
        self.written: list[Path] = []
        self.skipped: list[Path] = []
        self._plan: dict[Path, list[Path]] = {}
        self._job: int | None = None
        self._out_dir: Path | None = None
        self._current_source = Path()
        self._listening = True

        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.in_edit = QLineEdit(settings.get("last_batch_in"))
        self.out_edit = QLineEdit(settings.get("last_batch_out"))
        form.addRow("Photos from", self._with_browse(self.in_edit))
        form.addRow("Save into", self._with_browse(self.out_edit))
        self.engine_combo = QComboBox()
        for info in engines:
            self.engine_combo.addItem(info.display_name, info.name)
            index = self.engine_combo.count() - 1
            if not info.available or info.needs_hints:
                item = self.engine_combo.model().item(index)
                item.setEnabled(False)
                item.setToolTip(info.reason if not info.available
                                else "This engine needs hints on each photo.")
        for i in range(self.engine_combo.count()):
            if self.engine_combo.model().item(i).isEnabled():
                self.engine_combo.setCurrentIndex(i)
                break
        form.addRow("Engine", self.engine_combo)
        self.prompt_edit = QLineEdit()
        self.prompt_edit.setPlaceholderText("Optional, for the diffusion engine")
        form.addRow("Prompt", self.prompt_edit)
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, MAX_SEED)
        form.addRow("Seed", self.seed_spin)
        self._options = {info.name: info.options for info in engines}
        self.vividness_spin = unit_spin_with_auto(
            "batchVividness", VIVIDNESS_TIP, 0.1, VIVIDNESS_AUTO)
        self.vividness_label = QLabel("Vividness")
        form.addRow(self.vividness_label, self.vividness_spin)
        self.engine_combo.currentIndexChanged.connect(lambda _i: self._show_engine_options())
        self._show_engine_options()
        self.depth_combo = QComboBox()
        self.depth_combo.addItem("8 bit PNG", 8)
        self.depth_combo.addItem("16 bit PNG", 16)
        form.addRow("Output", self.depth_combo)
        self.skip_check = QCheckBox("Skip photos already colorized")
        self.skip_check.setToolTip(
            "Leave a photo alone when its result is already in the folder (to finish an "
            "interrupted batch). Otherwise a new result gets a numbered name."
        )
        self.skip_check.setChecked(bool(settings.get("batch_skip_existing")))
        form.addRow("", self.skip_check)
        layout.addLayout(form)

        repair = QGroupBox("Repair each photo first")
        repair.setObjectName("batchRepair")
        repair_layout = QVBoxLayout(repair)
        self.dust_check = QCheckBox("Remove dust and scratches")
        self.dust_check.setToolTip(
            "Find dust specks, hairline scratches and torn corners and fill them in "
            "(as Find dust and scratches in the Repair panel, without the brush)."
        )
        self.levels_check = QCheckBox("Automatic levels (faded scans)")
        self.levels_check.setToolTip("Black and white points from each photo's histogram.")
        self.contrast_check = QCheckBox("Local contrast")
        self.contrast_check.setToolTip("Local contrast (CLAHE) on each photo's lightness.")
        for check, key in ((self.dust_check, "batch_auto_dust"), (self.levels_check, "batch_levels"),
                           (self.contrast_check, "batch_local_contrast")):
            check.setChecked(bool(settings.get(key)))
            repair_layout.addWidget(check)
        layout.addWidget(repair)

        self.overall = QProgressBar()
        self.overall.setFormat("%v of %m photos")
        self.current = QProgressBar()
        self.current_label = QLabel("")
        layout.addWidget(self.overall)
        layout.addWidget(self.current_label)
        layout.addWidget(self.current)
        self.failed_list = QListWidget()
        self.failed_list.setVisible(False)
        layout.addWidget(self.failed_list)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.start_button = QPushButton("Start")
        self.start_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel")
        self.close_button = QPushButton("Close")
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.close_button)
        layout.addLayout(buttons)
        self.cancel_button.setEnabled(False)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.reject)
        worker.message.connect(self._on_message)
        self.resize(560, 470)

    def _with_browse(self, edit: QLineEdit) -> QWidget:
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(edit, 1)
        button = QPushButton("Browse…")
        button.clicked.connect(lambda: self._browse(edit))
        layout.addWidget(button)
        return row

    def _browse(self, edit: QLineEdit) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder", edit.text())
        if folder:
            edit.setText(folder)

    def repair_settings(self) -> RepairSettings:
        """The repair each photo gets before it is colorized (identity: none)."""
        return RepairSettings(
            auto_dust=self.dust_check.isChecked(),
            tone=ToneSettings(
                levels=1.0 if self.levels_check.isChecked() else 0.0,
                clahe=LOCAL_CONTRAST if self.contrast_check.isChecked() else 0.0,
            ),
        )

    @property
    def running(self) -> bool:
        return self._job is not None

    def start(self) -> None:
        in_dir = Path(self.in_edit.text().strip()).expanduser()
        out_dir = Path(self.out_edit.text().strip()).expanduser()
        if not in_dir.is_dir():
            self.current_label.setText("Choose a folder of photos.")
            return
        if not self.out_edit.text().strip():
            self.current_label.setText("Choose a folder to save into.")
            return
        if not self.engine_combo.currentData():
            self.current_label.setText("No engine can colorize without hints here.")
            return
        out_dir.mkdir(parents=True, exist_ok=True)
        self._settings.set("last_batch_in", str(in_dir))
        self._settings.set("last_batch_out", str(out_dir))
        self._settings.set("batch_skip_existing", self.skip_check.isChecked())
        self._settings.set("batch_auto_dust", self.dust_check.isChecked())
        self._settings.set("batch_levels", self.levels_check.isChecked())
        self._settings.set("batch_local_contrast", self.contrast_check.isChecked())
        self._queue = find_photos(in_dir)
        self._plan = plan_outputs(self._queue, out_dir, ".png", tag=OUTPUT_TAG)
        self._total = len(self._queue)
        self._done = 0
        self.failures = []
        self.written = []
        self.skipped = []
        self.failed_list.clear()
        self.failed_list.setVisible(False)
        self._out_dir = out_dir
        if not self._queue:
            self.current_label.setText(f"There are no photos in {in_dir}.")
            return
        self.overall.setRange(0, self._total)
        self.overall.setValue(0)
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self._next()

    def _show_engine_options(self) -> None:
        offered = "vividness" in self._options.get(self.engine_combo.currentData(), ())
        for widget in (self.vividness_spin, self.vividness_label):
            widget.setVisible(offered)

    def engine_options(self) -> dict:
        """The chosen engine's options set here (``RunSettings.options``; Auto sets none)."""
        if not self.vividness_spin.isVisibleTo(self) or self.vividness_spin.value() < 0:
            return {}
        return {"vividness": round(float(self.vividness_spin.value()), 2)}

    def _next(self) -> None:
        if not self._queue:
            self._finish()
            return
        source = self._queue.pop(0)
        assert self._out_dir is not None
        planned = self._plan[source][0]
        if self.skip_check.isChecked() and planned.exists():
            self.skipped.append(source)
            self._done += 1
            self.overall.setValue(self._done)
            self._next()
            return
        template = ColorizeRequest(
            lightness=np.zeros((0, 0), np.float32),  # the worker loads the photo
            prompt=self.prompt_edit.text(),
            seed=self.seed_spin.value(),
            steps=self._settings.get("steps"),
            guidance_scale=self._settings.get("guidance_scale"),
            working_size=self._settings.get("working_size"),
            **self.engine_options(),
        )
        repair = self.repair_settings()
        item = BatchItem(source=source, output=numbered_if_taken(planned),
                         bit_depth=int(self.depth_combo.currentData()), repair=repair)
        job = Job(JobKind.BATCH_ITEM, engine=self.engine_combo.currentData(),
                  device=self._settings.get("device"), request=template, batch=item)
        verb = "Colorizing" if repair.is_identity else "Repairing and colorizing"
        self.current_label.setText(f"{verb} {source.name}…")
        self.current.setRange(0, 0)
        self._current_source = source
        self._job = self._worker.submit(job)

    def _on_message(self, msg: WorkerMessage) -> None:
        if msg.job_id != self._job:
            return
        if msg.kind is MessageKind.PROGRESS:
            self.current.setRange(0, max(msg.total, 1))
            self.current.setValue(msg.step)
            return
        if msg.kind not in (MessageKind.FINISHED, MessageKind.FAILED, MessageKind.CANCELLED,
                            MessageKind.SUPERSEDED):
            return
        self._job = None
        source = self._current_source
        if msg.kind is MessageKind.FINISHED:
            self.written.append(Path(msg.output_path))
        elif msg.kind is MessageKind.FAILED:
            self.failures.append((source, msg.error))
            self.failed_list.addItem(f"{source.name}: {msg.error}")
            self.failed_list.setVisible(True)
        else:
            self._queue.clear()
            self.current_label.setText(f"Cancelled after {self._done} of {self._total} photos.")
            self._finish(cancelled=True)
            return
        self._done += 1
        self.overall.setValue(self._done)
        self._next()

    def cancel(self) -> None:
        self._queue.clear()
        if self._job is not None:
            self._worker.cancel(self._job)

    def _finish(self, cancelled: bool = False) -> None:
        self.start_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.current.setRange(0, 1)
        self.current.setValue(1 if not cancelled else 0)
        if not cancelled:
            failed = len(self.failures)
            text = f"Done: {len(self.written)} photos colorized"
            if self.skipped:
                text += f", {len(self.skipped)} skipped (already colorized)"
            self.current_label.setText(text + (f", {failed} failed (below)." if failed else "."))
        self.finished_batch.emit(len(self.written), len(self.failures))

    def reject(self) -> None:
        if self.running:
            self.cancel()
        if self._listening:
            self._listening = False
            self._worker.message.disconnect(self._on_message)
        super().reject()

    def keyPressEvent(self, event) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Escape and self.running:
            self.cancel()
            return
        super().keyPressEvent(event)
