"""The Preferences dialog, generated from the settings registry (``settings.SETTINGS``)."""

from __future__ import annotations

import logging

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from piggydesk.ui.settings import SETTINGS, AppSettings, Setting

logger = logging.getLogger(__name__)


class PreferencesDialog(QDialog):
    def __init__(self, settings: AppSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self._settings = settings
        self.editors: dict[str, QWidget] = {}
        layout = QVBoxLayout(self)
        form = QFormLayout()
        for setting in SETTINGS:
            if not setting.user_editable:
                continue
            editor = self._editor(setting, settings.get(setting.name))
            editor.setToolTip(setting.description)
            self.editors[setting.name] = editor
            form.addRow(setting.description, editor)
        layout.addLayout(form)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.RestoreDefaults
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(
            self.restore_defaults
        )
        layout.addWidget(buttons)

    @staticmethod
    def _editor(setting: Setting, value: object) -> QWidget:
        if setting.kind is bool:
            box = QCheckBox()
            box.setChecked(bool(value))
            return box
        if setting.kind is int:
            spin = QSpinBox()
            spin.setRange(int(setting.minimum or 0), int(setting.maximum or 10**6))
            spin.setValue(int(value))
            return spin
        if setting.kind is float:
            dspin = QDoubleSpinBox()
            dspin.setRange(float(setting.minimum or 0.0), float(setting.maximum or 1e6))
            dspin.setSingleStep(0.5)
            dspin.setValue(float(value))
            return dspin
        if setting.choices:
            combo = QComboBox()
            combo.addItems(list(setting.choices))
            combo.setCurrentText(str(value))
            return combo
        edit = QLineEdit(str(value))
        return edit

    def _read(self, name: str) -> object:
        editor = self.editors[name]
        if isinstance(editor, QCheckBox):
            return editor.isChecked()
        if isinstance(editor, (QSpinBox, QDoubleSpinBox)):
            return editor.value()
        if isinstance(editor, QComboBox):
            return editor.currentText()
        return editor.text()

    def restore_defaults(self) -> None:
        by_name = {s.name: s for s in SETTINGS}
        for name, editor in self.editors.items():
            default = by_name[name].default
            if isinstance(editor, QCheckBox):
                editor.setChecked(bool(default))
            elif isinstance(editor, (QSpinBox, QDoubleSpinBox)):
                editor.setValue(default)
            elif isinstance(editor, QComboBox):
                editor.setCurrentText(str(default))
            else:
                editor.setText(str(default))

    def accept(self) -> None:
        for name in self.editors:
            self._settings.set(name, self._read(name))
        super().accept()
