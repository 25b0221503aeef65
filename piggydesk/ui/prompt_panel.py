"""The prompt panel: what the next run uses (prompt, engine, device, variants, seed, steps...).

The panel only shows values and reports edits: ``edited(name, value)`` for document settings
(the main window turns them into undoable, typing-merged commands) and ``set_value`` to show a
value without echoing it back. Unavailable engines are greyed out with the reason as tooltip;
devices that do not exist here are greyed out too. Steps and guidance appear only for engines
that use them, Live mode for engines that offer it, and the engine options (Vividness,
Freedom, Fast, ControlNet strength) only when the engine says it reads them
(``EngineInfo.options``): what an engine uses is read from its ``EngineInfo`` (no engine is
named here).
"""

from __future__ import annotations

import logging
import random
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel, QTextCursor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from piggydesk.engines.base import EngineInfo

logger = logging.getLogger(__name__)

DEVICE_LABELS = {"auto": "Auto", "cuda": "CUDA (NVIDIA)", "mps": "MPS (Apple)", "cpu": "CPU"}
MAX_SEED = 2**31 - 1
FREEDOM_AUTO = -0.05  # the freedom spin box's "Auto" (the option left to the engine: None)
VIVIDNESS_AUTO = -0.05  # the same for vividness
VIVIDNESS_TIP = (
    "How saturated the automatic colours are. Low: muted colours that are right on average. "
    "High: the network's boldest guesses (bluer skies, greener grass, and more wrong colours "
    "too).\nAuto: the model's own balance (0.5). Your hints keep their colours either way."
)
FREEDOM_TIP = (
    "How far the result may move from the instant engine's colours: the diffusion run starts "
    "from them (hints included), noised this much. 0 keeps them, 1 starts from noise.\n"
    "Auto: 0.6 with the ControlNet colorizer or without a guider, 1 with a trained paper guider."
)
FAST_TIP = (
    "Few-step sampling with an installed LCM-LoRA (4 steps) or Hyper-SD LoRA (8 steps): "
    "several times faster. The model is loaded again when you switch this."
)
NO_FAST_TIP = (
    "Download 'LCM-LoRA for SD 1.5' or 'Hyper-SD 8-step' in Manage Models to sample in "
    "4-8 steps."
)


def unit_spin_with_auto(object_name: str, tip: str, step: float, auto: float) -> QDoubleSpinBox:
    """A 0-1 spin box whose lowest value, ``auto``, reads "Auto" (the engine decides: None)."""
    spin = QDoubleSpinBox()
    spin.setObjectName(object_name)
    spin.setRange(auto, 1.0)
    spin.setSingleStep(step)
    spin.setDecimals(2)
    spin.setSpecialValueText("Auto")
    spin.setValue(auto)
    spin.setToolTip(tip)
    return spin


def random_seed() -> int:
    return random.randint(0, MAX_SEED)


class PromptPanel(QWidget):
    edited = Signal(str, object)  # document setting name, new value
    device_changed = Signal(str)
    live_toggled = Signal(bool)
    colorize_requested = Signal()
    rows_changed = Signal()  # rows were shown or hidden (the engine's): the dock may need to grow

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("promptPanel")
        self._engines: dict[str, EngineInfo] = {}
        self._updating = False
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        fields = QWidget()
        layout = QVBoxLayout(fields)
        layout.setContentsMargins(6, 6, 6, 6)
        scroll.setWidget(fields)
        outer.addWidget(scroll, 1)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)

        self.engine_combo = QComboBox()
        self.engine_combo.setObjectName("engineCombo")
        self.engine_combo.setModel(QStandardItemModel(self.engine_combo))
        self.engine_combo.setToolTip("How the photo is coloured")
        form.addRow("Engine", self.engine_combo)
        self.engine_note = QLabel()
        self.engine_note.setWordWrap(True)
        self.engine_note.setObjectName("engineNote")
        form.addRow("", self.engine_note)

        self.device_combo = QComboBox()
        self.device_combo.setObjectName("deviceCombo")
        self.device_combo.setModel(QStandardItemModel(self.device_combo))
        for key, label in DEVICE_LABELS.items():
            item = QStandardItem(label)
            item.setData(key, Qt.ItemDataRole.UserRole)
            self.device_combo.model().appendRow(item)
        form.addRow("Device", self.device_combo)

        self.prompt_edit = QPlainTextEdit()
        self.prompt_edit.setObjectName("promptEdit")
        self.prompt_edit.setPlaceholderText("Describe the photo, e.g. “a girl in a red dress, 1950s”")
        self.prompt_edit.setFixedHeight(52)
        self.prompt_edit.setTabChangesFocus(True)
        self.prompt_label = QLabel("Prompt")
        form.addRow(self.prompt_label, self.prompt_edit)
        self.negative_edit = QLineEdit()
        self.negative_edit.setObjectName("negativeEdit")
        self.negative_edit.setPlaceholderText("What to avoid, e.g. “oversaturated”")
        self.negative_label = QLabel("Avoid")
        form.addRow(self.negative_label, self.negative_edit)

        self.variants_spin = QSpinBox()
        self.variants_spin.setRange(1, 8)
        self.variants_spin.setToolTip("How many different results each run makes")
        form.addRow("Variants", self.variants_spin)

        seed_row = QHBoxLayout()
        self.random_check = QCheckBox("Random")
        self.random_check.setToolTip("A new seed for every run")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, MAX_SEED)
        self.seed_spin.setToolTip(
            "Instant engine: variant 1 is always the most likely colorization, the same for "
            "every seed; the seed changes variants 2 and up.\nDiffusion engine: every variant "
            "depends on the seed. Classic engine: no randomness."
        )
        self.dice_button = QToolButton()
        self.dice_button.setText("Roll")
        self.dice_button.setToolTip("Roll a new seed")
        seed_row.addWidget(self.seed_spin, 1)
        seed_row.addWidget(self.dice_button)
        seed_row.addWidget(self.random_check)
        form.addRow("Seed", seed_row)

        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, 200)
        self.steps_label = QLabel("Steps")
        form.addRow(self.steps_label, self.steps_spin)
        self.guidance_spin = QDoubleSpinBox()
        self.guidance_spin.setRange(0.0, 30.0)
        self.guidance_spin.setSingleStep(0.5)
        self.guidance_label = QLabel("Guidance")
        form.addRow(self.guidance_label, self.guidance_spin)
        self.vividness_spin = unit_spin_with_auto(
            "vividnessSpin", VIVIDNESS_TIP, 0.1, VIVIDNESS_AUTO)
        self.vividness_label = QLabel("Vividness")
        self.vividness_label.setToolTip(VIVIDNESS_TIP)
        form.addRow(self.vividness_label, self.vividness_spin)
        self.freedom_spin = unit_spin_with_auto("freedomSpin", FREEDOM_TIP, 0.05, FREEDOM_AUTO)
        self.freedom_label = QLabel("Freedom")
        self.freedom_label.setToolTip(FREEDOM_TIP)
        form.addRow(self.freedom_label, self.freedom_spin)
        self.fast_check = QCheckBox("Fast (few-step LoRA)")
        self.fast_check.setObjectName("fastCheck")
        self.fast_check.setToolTip(FAST_TIP)
        form.addRow("", self.fast_check)
        self.guide_spin = QDoubleSpinBox()
        self.guide_spin.setObjectName("controlnetSpin")
        self.guide_spin.setRange(0.0, 2.0)
        self.guide_spin.setSingleStep(0.1)
        self.guide_spin.setValue(1.0)
        self.guide_spin.setToolTip(
            "How strongly the ControlNet colorizer steers the result (1: as trained, 0: off)")
        self.guide_label = QLabel("ControlNet")
        form.addRow(self.guide_label, self.guide_spin)
        layout.addLayout(form)

        layout.addStretch(1)
        buttons = QHBoxLayout()
        buttons.setContentsMargins(6, 4, 6, 6)
        self.live_check = QCheckBox("Live")
        self.live_check.setObjectName("liveCheck")
        self.live_check.setToolTip("Refresh the result shortly after each hint edit")
        self.colorize_button = QPushButton("Colorize")
        self.colorize_button.setObjectName("colorizeButton")
        self.colorize_button.setDefault(True)
        self.colorize_button.setMinimumHeight(34)
        self.colorize_button.setToolTip("Colorize the photo (Ctrl+Return)")
        buttons.addWidget(self.live_check)
        buttons.addWidget(self.colorize_button, 1)
        outer.addLayout(buttons)  # always visible, below the scrolling fields
        self._fields, self._buttons = fields, buttons

        self.engine_combo.currentIndexChanged.connect(self._engine_chosen)
        self.device_combo.currentIndexChanged.connect(self._device_chosen)
        self.prompt_edit.textChanged.connect(
            lambda: self._emit("prompt", self.prompt_edit.toPlainText())
        )
        self.negative_edit.textEdited.connect(lambda text: self._emit("negative_prompt", text))
        self.variants_spin.valueChanged.connect(lambda v: self._emit("num_variants", int(v)))
        self.seed_spin.valueChanged.connect(lambda v: self._emit("seed", int(v)))
        self.random_check.toggled.connect(self._random_toggled)
        self.dice_button.clicked.connect(self.roll_seed)
        self.steps_spin.valueChanged.connect(lambda v: self._emit("steps", int(v)))
        self.guidance_spin.valueChanged.connect(lambda v: self._emit("guidance_scale", float(v)))
        self.vividness_spin.valueChanged.connect(
            lambda v: self._emit("vividness", None if v < 0 else round(float(v), 2)))
        self.freedom_spin.valueChanged.connect(
            lambda v: self._emit("freedom", None if v < 0 else round(float(v), 2)))
        self.fast_check.toggled.connect(self._fast_toggled)
        self.guide_spin.valueChanged.connect(
            lambda v: self._emit("conditioning_scale", round(float(v), 2)))
        self.live_check.toggled.connect(self._live_toggled)
        self.colorize_button.clicked.connect(lambda _=False: self.colorize_requested.emit())
        self._update_engine_widgets()

    # -- engines and devices -----------------------------------------------------------
    def set_engines(self, infos: list[EngineInfo], current: str) -> None:
        self._updating = True
        try:
            self._engines = {info.name: info for info in infos}
            model: QStandardItemModel = self.engine_combo.model()
            model.clear()
            for info in infos:
                label = info.display_name if info.available else f"{info.display_name} (unavailable)"
                item = QStandardItem(label)
                item.setData(info.name, Qt.ItemDataRole.UserRole)
                item.setToolTip(info.description if info.available else info.reason)
                item.setEnabled(info.available)
                model.appendRow(item)
            self._select(self.engine_combo, current)
        finally:
            self._updating = False
        self._update_engine_widgets()

    def set_available_devices(self, devices: list[str]) -> None:
        model: QStandardItemModel = self.device_combo.model()
        for row in range(model.rowCount()):
            item = model.item(row)
            key = item.data(Qt.ItemDataRole.UserRole)
            exists = key == "auto" or key in devices
            item.setEnabled(exists)
            item.setToolTip("" if exists else f"{DEVICE_LABELS[key]} is not available on this computer")

    def engine_info(self, name: str | None = None) -> EngineInfo | None:
        return self._engines.get(name or self.current_engine())

    def current_engine(self) -> str:
        return str(self.engine_combo.currentData(Qt.ItemDataRole.UserRole) or "")

    def current_device(self) -> str:
        return str(self.device_combo.currentData(Qt.ItemDataRole.UserRole) or "auto")

    def set_device(self, device: str) -> None:
        self._updating = True
        try:
            self._select(self.device_combo, device)
        finally:
            self._updating = False

    @staticmethod
    def _select(combo: QComboBox, key: str) -> None:
        for i in range(combo.count()):
            if combo.itemData(i, Qt.ItemDataRole.UserRole) == key:
                combo.setCurrentIndex(i)
                return

    def _engine_chosen(self, _index: int) -> None:
        self._update_engine_widgets()
        self._emit("engine", self.current_engine())

    def _device_chosen(self, _index: int) -> None:
        if not self._updating:
            self.device_changed.emit(self.current_device())

    def _update_engine_widgets(self) -> None:
        info = self.engine_info()
        uses_prompt = bool(info and info.uses_prompt)
        uses_steps = bool(info and info.uses_steps)
        for widget in (self.prompt_edit, self.prompt_label, self.negative_edit, self.negative_label):
            widget.setEnabled(uses_prompt)
        for widget in (self.steps_spin, self.steps_label, self.guidance_spin, self.guidance_label):
            widget.setVisible(uses_steps)
        options = info.options if info else ()
        for widget in (self.vividness_spin, self.vividness_label):
            widget.setVisible("vividness" in options)
        for widget in (self.freedom_spin, self.freedom_label):
            widget.setVisible("freedom" in options)
        for widget in (self.guide_spin, self.guide_label):
            widget.setVisible("conditioning_scale" in options)
        self.fast_check.setVisible(uses_steps)
        self.fast_check.setEnabled("fast" in options or self.fast_check.isChecked())
        self.fast_check.setToolTip(FAST_TIP if "fast" in options else NO_FAST_TIP)
        several = info is None or info.max_variants > 1
        self.variants_spin.setEnabled(several)
        self.variants_spin.setToolTip(
            "How many different results each run makes" if several
            else "This engine always gives the same result: one variant per run")
        live_ok = bool(info and info.live_preview)
        self.live_check.setEnabled(live_ok)
        if not live_ok and self.live_check.isChecked():
            self.live_check.setChecked(False)
        if info is None:
            self.engine_note.setText("Looking for engines…")
        else:
            short = info.description.split(": ")[0].strip().rstrip(".")
            if info.needs_hints:
                short = f"{short}. Add colour hints first." if short else "Add colour hints first."
            self.engine_note.setText(short)
            self.engine_note.setToolTip(info.description)
        self.engine_note.setVisible(bool(self.engine_note.text()))
        self.rows_changed.emit()

    # -- values ------------------------------------------------------------------------
    def set_value(self, name: str, value: Any) -> None:
        """Show ``value`` without emitting ``edited`` (undo, project load, "Use these settings")."""
        self._updating = True
        try:
            if name == "prompt":
                if self.prompt_edit.toPlainText() != value:
                    self.prompt_edit.setPlainText(str(value))
                    self.prompt_edit.moveCursor(QTextCursor.MoveOperation.End)
            elif name == "negative_prompt":
                if self.negative_edit.text() != value:
                    self.negative_edit.setText(str(value))
            elif name == "engine":
                self._select(self.engine_combo, str(value))
            elif name == "num_variants":
                self.variants_spin.setValue(int(value))
            elif name == "seed":
                self.seed_spin.setValue(int(value))
            elif name == "random_seed":
                self.random_check.setChecked(bool(value))
                self.seed_spin.setEnabled(not bool(value))
            elif name == "steps":
                self.steps_spin.setValue(int(value))
            elif name == "guidance_scale":
                self.guidance_spin.setValue(float(value))
            elif name == "live":
                self.live_check.setChecked(bool(value))
            elif name == "vividness":
                self.vividness_spin.setValue(VIVIDNESS_AUTO if value is None else float(value))
            elif name == "freedom":
                self.freedom_spin.setValue(FREEDOM_AUTO if value is None else float(value))
            elif name == "fast":
                self.fast_check.setChecked(bool(value))
                self._show_fast(bool(value))
            elif name == "conditioning_scale":
                self.guide_spin.setValue(1.0 if value is None else float(value))
        finally:
            self._updating = False
        if name == "engine":
            self._update_engine_widgets()

    def values(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt_edit.toPlainText(),
            "negative_prompt": self.negative_edit.text(),
            "engine": self.current_engine(),
            "num_variants": self.variants_spin.value(),
            "seed": self.seed_spin.value(),
            "random_seed": self.random_check.isChecked(),
            "steps": self.steps_spin.value(),
            "guidance_scale": self.guidance_spin.value(),
            "vividness": (None if self.vividness_spin.value() < 0
                          else self.vividness_spin.value()),
            "freedom": None if self.freedom_spin.value() < 0 else self.freedom_spin.value(),
            "fast": self.fast_check.isChecked(),
            "conditioning_scale": self.guide_spin.value(),
        }

    def sizeHint(self) -> QSize:  # noqa: N802
        """Tall enough for every shown row and the buttons, without the scrollbar."""
        spacing = max(self.layout().spacing(), 0)  # between the fields and the buttons
        return QSize(super().sizeHint().width(), self._fields.sizeHint().height()
                     + spacing + self._buttons.sizeHint().height())

    def roll_seed(self) -> None:
        self.seed_spin.setValue(random_seed())

    def _random_toggled(self, on: bool) -> None:
        self.seed_spin.setEnabled(not on)
        self._emit("random_seed", on)

    def _fast_toggled(self, on: bool) -> None:
        self._show_fast(on)
        self._emit("fast", bool(on))

    def _show_fast(self, on: bool) -> None:
        """With Fast, the LoRA's own steps and guidance run: the spin boxes say so."""
        for widget in (self.steps_spin, self.guidance_spin):
            widget.setEnabled(not on)
            widget.setToolTip("Fast sampling uses the LoRA's own steps and guidance" if on else "")

    def _live_toggled(self, on: bool) -> None:
        if not self._updating:
            self.live_toggled.emit(on)

    def _emit(self, name: str, value: Any) -> None:
        if not self._updating:
            self.edited.emit(name, value)

    def set_running(self, running: bool) -> None:
        self.colorize_button.setText("Colorizing…" if running else "Colorize")
        self.colorize_button.setEnabled(not running)
