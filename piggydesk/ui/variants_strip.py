"""The variants strip: the thumbnails of a run's variants, the run history, "Use these settings".

Each run of the engine appears in the history combo (newest first); its variants appear as
thumbnails. Clicking a thumbnail asks to choose that variant (an undoable command: the chosen
variant is what the canvas shows and what Export writes); "Use these settings" asks to restore
the engine, seed, prompt and hints that produced it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from piggydesk.core.run_settings import RunSettings
from piggydesk.ui.image_convert import thumbnail

logger = logging.getLogger(__name__)

THUMB = 80


@dataclass(frozen=True)
class RunView:
    """What the strip needs to show one run."""

    label: str
    images: tuple[np.ndarray, ...]
    settings: tuple[RunSettings, ...]
    uses_steps: bool = False  # the engine that made it reads steps and guidance (EngineInfo)


def describe_settings(s: RunSettings, uses_steps: bool = False) -> str:
    lines = [f"Engine: {s.engine}", f"Seed: {s.seed}", f"Hints: {len(s.hints)}"]
    if s.prompt:
        lines.append(f"Prompt: {s.prompt}")
    if s.negative_prompt:
        lines.append(f"Avoid: {s.negative_prompt}")
    if s.mode:
        lines.append(f"Mode: {s.mode}")
    if uses_steps:
        lines.append(f"Steps: {s.steps}, guidance {s.guidance_scale:g}")
    return "\n".join(lines)


class VariantsStrip(QWidget):
    variant_chosen = Signal(int, int)  # run index, variant index
    use_settings_requested = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("variantsStrip")
        self._runs: list[RunView] = []
        self._chosen: tuple[int, int] = (-1, -1)
        self._thumb_cache: dict[int, tuple[np.ndarray, QIcon]] = {}
        self._updating = False

        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        side_widget = QWidget()
        side_widget.setFixedWidth(190)
        side = QVBoxLayout(side_widget)
        side.setContentsMargins(0, 0, 0, 0)
        side.addWidget(QLabel("Run"))
        self.run_combo = QComboBox()
        self.run_combo.setObjectName("runCombo")
        self.run_combo.setToolTip("Earlier runs stay here (and in the project file)")
        side.addWidget(self.run_combo)
        self.use_button = QPushButton("Use these settings")
        self.use_button.setObjectName("useSettingsButton")
        self.use_button.setToolTip("Restore the engine, seed, prompt and hints of the chosen variant")
        side.addWidget(self.use_button)
        side.addStretch(1)
        layout.addWidget(side_widget)

        self.list = QListWidget()
        self.list.setObjectName("variantList")
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setFlow(QListView.Flow.LeftToRight)
        self.list.setWrapping(False)
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setGridSize(QSize(THUMB + 36, THUMB + 26))
        self.list.setMovement(QListView.Movement.Static)
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setFixedHeight(THUMB + 36)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        layout.addWidget(self.list, 1)
        self.empty_label = QLabel("Results appear here after you press Colorize.")
        self.empty_label.setEnabled(False)
        layout.addWidget(self.empty_label, 1)
        # as tall empty as with results: the first results do not shrink the photo's view
        margins = layout.contentsMargins()
        self.setMinimumHeight(self.list.minimumHeight() + margins.top() + margins.bottom())

        self.run_combo.currentIndexChanged.connect(self._run_selected)
        self.list.itemClicked.connect(self._item_clicked)
        self.use_button.clicked.connect(self._use_clicked)
        self._refresh_empty()

    def set_runs(self, runs: Sequence[RunView], chosen: tuple[int, int]) -> None:
        self._runs = list(runs)
        self._chosen = chosen
        self._updating = True
        try:
            self.run_combo.clear()
            for i, run in reversed(list(enumerate(self._runs))):
                self.run_combo.addItem(run.label, i)
            shown = chosen[0] if 0 <= chosen[0] < len(self._runs) else len(self._runs) - 1
            self._select_run_in_combo(shown)
            self._show_run(shown)
        finally:
            self._updating = False
        self._refresh_empty()

    def shown_run(self) -> int:
        data = self.run_combo.currentData()
        return -1 if data is None else int(data)

    def _select_run_in_combo(self, run_index: int) -> None:
        for i in range(self.run_combo.count()):
            if self.run_combo.itemData(i) == run_index:
                self.run_combo.setCurrentIndex(i)
                return

    def _icon(self, image: np.ndarray) -> QIcon:
        key = id(image)
        cached = self._thumb_cache.get(key)
        if cached is not None and cached[0] is image:
            return cached[1]
        pixmap = thumbnail(image, THUMB, self.devicePixelRatioF())
        icon = QIcon(pixmap)
        # the chosen thumbnail shows its true colours: the selection is the highlighted
        # caption, not a blue tint over the picture (which is what is being judged)
        icon.addPixmap(pixmap, QIcon.Mode.Selected)
        self._thumb_cache[key] = (image, icon)
        if len(self._thumb_cache) > 200:
            self._thumb_cache.pop(next(iter(self._thumb_cache)))
        return icon

    def _show_run(self, run_index: int) -> None:
        self.list.clear()
        if not 0 <= run_index < len(self._runs):
            return
        run = self._runs[run_index]
        for v, (image, settings) in enumerate(zip(run.images, run.settings)):
            item = QListWidgetItem(self._icon(image), f"#{v + 1} · {settings.seed}")
            item.setData(Qt.ItemDataRole.UserRole, (run_index, v))
            item.setToolTip(describe_settings(settings, run.uses_steps))
            self.list.addItem(item)
            if (run_index, v) == self._chosen:
                item.setSelected(True)
                self.list.setCurrentItem(item)

    def _refresh_empty(self) -> None:
        has = bool(self._runs)
        self.empty_label.setVisible(not has)
        self.list.setVisible(has)
        self.use_button.setEnabled(has and self._chosen[0] >= 0)
        self.run_combo.setEnabled(has)

    def _run_selected(self, _index: int) -> None:
        if self._updating:
            return
        self._show_run(self.shown_run())

    def _item_clicked(self, item: QListWidgetItem) -> None:
        run_index, variant = item.data(Qt.ItemDataRole.UserRole)
        if (run_index, variant) != self._chosen:
            self.variant_chosen.emit(run_index, variant)

    def _use_clicked(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            run_index, variant = item.data(Qt.ItemDataRole.UserRole)
        else:
            run_index, variant = self._chosen
        if run_index >= 0:
            self.use_settings_requested.emit(run_index, variant)

    def items(self) -> list[QListWidgetItem]:
        return [self.list.item(i) for i in range(self.list.count())]
