"""The Export dialog: PNG or TIFF, 8 or 16 bit, full resolution or a chosen size.

The file name is suggested from the source (``photo-colorized.png``) in the last export
folder; an existing file is never overwritten without asking. Writing goes through
``core.export.export_image`` (atomic, keeps the source's ICC profile and EXIF), in a background
thread while the window keeps answering (``ui.background``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from piggydesk.core.errors import ExportError, PhotoError
from piggydesk.ui.background import run_in_background
from piggydesk.ui.settings import AppSettings

logger = logging.getLogger(__name__)

FORMATS = {"png": ("PNG", ".png"), "tiff": ("TIFF", ".tif")}


def suggested_name(source: Path | None, extension: str = ".png") -> str:
    stem = source.stem if source is not None else "photo"
    return f"{stem}-colorized{extension}"


def fit_size(height: int, width: int, long_side: int) -> tuple[int, int]:
    """``(h, w)`` with the long side ``long_side`` and the aspect ratio kept."""
    scale = long_side / max(height, width)
    return max(1, int(round(height * scale))), max(1, int(round(width * scale)))


class ExportDialog(QDialog):
    def __init__(self, rgb: np.ndarray, photo: Any, settings: AppSettings,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.setObjectName("exportDialog")
        self._rgb = rgb
        self._photo = photo
        self._settings = settings
        self.written: Path | None = None
        h, w = rgb.shape[:2]
        source = getattr(photo, "path", None)

        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.format_combo = QComboBox()
        for key, (label, _ext) in FORMATS.items():
            self.format_combo.addItem(label, key)
        self.depth_combo = QComboBox()
        self.depth_combo.addItem("8 bit", 8)
        self.depth_combo.addItem("16 bit", 16)
        form.addRow("Format", self.format_combo)
        form.addRow("Bit depth", self.depth_combo)

        self.full_radio = QRadioButton(f"Full resolution ({w} × {h})")
        self.full_radio.setChecked(True)
        self.custom_radio = QRadioButton("Long side")
        self.size_spin = QSpinBox()
        self.size_spin.setRange(16, 30000)
        self.size_spin.setValue(max(h, w))
        self.size_spin.setSuffix(" px")
        self.size_spin.setEnabled(False)
        self.size_label = QLabel()
        size_row = QHBoxLayout()
        size_row.addWidget(self.custom_radio)
        size_row.addWidget(self.size_spin)
        size_row.addWidget(self.size_label, 1)
        form.addRow("Size", self.full_radio)
        form.addRow("", size_row)

        self.path_edit = QLineEdit()
        self.path_edit.setObjectName("exportPath")
        browse = QPushButton("Browse…")
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(browse)
        form.addRow("File", path_row)
        layout.addLayout(form)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setText("Export")
        layout.addWidget(self.buttons)

        fmt = settings.get("export_format")
        self.format_combo.setCurrentIndex(max(0, self.format_combo.findData(fmt)))
        depth = settings.get("export_bit_depth")
        if getattr(photo, "bit_depth", 8) == 16:
            depth = 16
        self.depth_combo.setCurrentIndex(max(0, self.depth_combo.findData(depth)))
        folder = settings.get("last_export_dir") or (str(source.parent) if source else str(Path.home()))
        self.path_edit.setText(str(Path(folder) / suggested_name(source, self._extension())))

        self.format_combo.currentIndexChanged.connect(self._format_changed)
        self.custom_radio.toggled.connect(self.size_spin.setEnabled)
        self.custom_radio.toggled.connect(lambda _on: self._update_size_label())
        self.size_spin.valueChanged.connect(lambda _v: self._update_size_label())
        browse.clicked.connect(self._browse)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self._update_size_label()

    def _extension(self) -> str:
        return FORMATS[self.format_combo.currentData()][1]

    def _format_changed(self, _index: int) -> None:
        path = Path(self.path_edit.text())
        self.path_edit.setText(str(path.with_suffix(self._extension())))

    def output_size(self) -> tuple[int, int] | None:
        """``(h, w)`` to export at, ``None`` for full resolution."""
        if not self.custom_radio.isChecked():
            return None
        h, w = self._rgb.shape[:2]
        size = fit_size(h, w, self.size_spin.value())
        return None if size == (h, w) else size

    def _update_size_label(self) -> None:
        size = self.output_size()
        self.size_label.setText("" if size is None else f"= {size[1]} × {size[0]}")

    def _browse(self) -> None:
        fmt = self.format_combo.currentText()
        path, _ = QFileDialog.getSaveFileName(
            self, "Export as", self.path_edit.text(),
            f"{fmt} (*{self._extension()})",
            options=QFileDialog.Option.DontConfirmOverwrite,
        )
        if path:
            self.path_edit.setText(path)

    def target_path(self) -> Path:
        path = Path(self.path_edit.text().strip()).expanduser()
        valid = (".tif", ".tiff") if self.format_combo.currentData() == "tiff" else (".png",)
        if path.suffix.lower() not in valid:
            path = path.with_name(path.name + self._extension())
        return path

    def accept(self) -> None:
        from piggydesk.core.export import export_image

        if not self.path_edit.text().strip():
            QMessageBox.warning(self, "Export", "Choose a file name.")
            return
        path = self.target_path()
        overwrite = False
        if path.exists():
            answer = QMessageBox.question(
                self, "Replace file?", f"{path.name} already exists in {path.parent}. Replace it?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
            overwrite = True
        bit_depth = int(self.depth_combo.currentData())
        try:
            self.written = run_in_background(
                self, f"Exporting {path.name}…", export_image,
                self._rgb,
                path,
                bit_depth=bit_depth,
                overwrite=overwrite,
                compression="deflate" if path.suffix.lower() in (".tif", ".tiff") else None,
                icc_profile=getattr(self._photo, "icc_profile", None),
                exif=getattr(self._photo, "exif", None),
                source_path=getattr(self._photo, "path", None),
                size=self.output_size(),
            )
        except (ExportError, PhotoError) as exc:
            QMessageBox.warning(self, "Could not export", str(exc))
            return
        self._settings.set("last_export_dir", str(path.parent))
        self._settings.set("export_format", self.format_combo.currentData())
        self._settings.set("export_bit_depth", bit_depth)
        logger.info("exported %s", self.written)
        super().accept()
