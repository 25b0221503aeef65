"""The application's settings, declared once (name, default, type, description) and stored
through ``QSettings``.

Each ``Setting`` knows how to read and write itself; ``AppSettings`` is an observable QObject
(``changed(name, value)``) so widgets bind to it instead of keeping their own copy. The store
is ``QSettings`` with PiggyDesk's organisation and application name; when ``PIGGYDESK_HOME`` is
set (tests, portable installs) it is an INI file under ``core.paths.config_dir()`` instead, so
tests never touch the user's settings. ``SETTINGS_VERSION`` lets later releases migrate. The
run settings' defaults (variants, steps, guidance, working size) are
``core.run_settings.RunSettings``'s, not declared again here.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QByteArray, QObject, QSettings, Signal

from piggydesk.core import paths
from piggydesk.core.run_settings import DEFAULTS as RUN_DEFAULTS
from piggydesk.core.run_settings import MAX_VARIANTS

logger = logging.getLogger(__name__)

ORGANISATION = paths.APP_AUTHOR
APPLICATION = paths.APP_NAME
SETTINGS_VERSION = 1


@dataclass(frozen=True)
class Setting:
    """One persisted value. ``kind`` is the Python type (``bytes`` for Qt geometry blobs)."""

    name: str
    default: Any
    kind: type
    description: str = ""
    user_editable: bool = False  # shown in Preferences
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()

    def coerce(self, value: Any) -> Any:
        """Turn what QSettings gives back (often a string) into ``kind``; fall back to default."""
        if value is None:
            return self.default
        try:
            if self.kind is bool:
                if isinstance(value, str):
                    return value.strip().lower() in ("1", "true", "yes", "on")
                return bool(value)
            if self.kind in (int, float):
                number = self.kind(value)
                if self.minimum is not None and number < self.minimum:
                    return self.default
                if self.maximum is not None and number > self.maximum:
                    return self.default
                return number
            if self.kind is str:
                text = str(value)
                if self.choices and text not in self.choices:
                    return self.default
                return text
            if self.kind is list:
                if isinstance(value, str):
                    loaded = json.loads(value)
                    return list(loaded) if isinstance(loaded, list) else self.default
                return list(value)
            if self.kind is bytes:
                if isinstance(value, QByteArray):
                    return bytes(value.data())
                return bytes(value)
        except (TypeError, ValueError, json.JSONDecodeError):
            logger.warning("setting %s: ignoring unreadable value %r", self.name, value)
            return self.default
        return value

    def encode(self, value: Any) -> Any:
        if self.kind is list:
            return json.dumps(list(value))
        if self.kind is bytes:
            return QByteArray(bytes(value))
        return value


SETTINGS: tuple[Setting, ...] = (
    Setting("engine", "", str, "Engine used for the next run (empty: the best available)."),
    Setting("device", "auto", str, "Compute device.", choices=("auto", "cuda", "mps", "cpu")),
    Setting("num_variants", RUN_DEFAULTS.num_variants, int, "Variants per run.", True, 1,
            MAX_VARIANTS),
    Setting("steps", RUN_DEFAULTS.steps, int, "Diffusion steps.", False, 1, 200),
    Setting("guidance_scale", RUN_DEFAULTS.guidance_scale, float, "Diffusion guidance scale.",
            False, 0.0, 30.0),
    Setting("random_seed", True, bool, "Use a new random seed for each run."),
    Setting("live", False, bool, "Refresh the result after each hint edit (engines that offer it)."),
    Setting("live_delay_ms", 350, int, "Live mode: wait this long after an edit (ms).", True, 50, 5000),
    Setting("hint_radius", 2.0, float, "Radius of new hints (working-size pixels).", True, 0.5, 30.0),
    Setting("working_size", RUN_DEFAULTS.working_size, int,
            "Long side the engines work at (pixels).", True, 128, 2048),
    Setting("autosave_interval_s", 60, int, "Autosave every this many seconds.", True, 10, 3600),
    Setting("show_hints", True, bool, "Draw hint rings on the photo."),
    Setting("recent_files", [], list, "Recently opened photos and projects."),
    Setting("recent_colors", [], list, "Recently used hint colours (#rrggbb)."),
    Setting("last_open_dir", "", str, "Folder of the last opened file."),
    Setting("last_export_dir", "", str, "Folder of the last export."),
    Setting("last_batch_in", "", str, "Batch input folder."),
    Setting("last_batch_out", "", str, "Batch output folder."),
    Setting("batch_skip_existing", False, bool, "Batch: skip photos already colorized."),
    Setting("batch_auto_dust", False, bool, "Batch: remove dust and scratches first."),
    Setting("batch_levels", False, bool, "Batch: automatic levels first."),
    Setting("batch_local_contrast", False, bool, "Batch: local contrast first."),
    Setting("export_bit_depth", 8, int, "Bit depth of exports.", False, 8, 16),
    Setting("export_format", "png", str, "Export format.", choices=("png", "tiff")),
    Setting("window_geometry", b"", bytes, "Main window geometry."),
    Setting("window_state", b"", bytes, "Main window docks and toolbars."),
    Setting("current_color", "#c0503c", str, "Colour for new hints."),
)
BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
MAX_RECENT = 10


def _make_store() -> QSettings:
    if os.environ.get("PIGGYDESK_HOME"):
        path = paths.config_dir() / "piggydesk.ini"
        return QSettings(str(path), QSettings.Format.IniFormat)
    return QSettings(
        QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANISATION, APPLICATION
    )


class AppSettings(QObject):
    """Typed access to ``SETTINGS``; emits ``changed(name, value)`` only when a value changes."""

    changed = Signal(str, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._store = _make_store()
        self._migrate()

    def _migrate(self) -> None:
        version = int(self._store.value("settings_version", 0) or 0)
        if version < SETTINGS_VERSION:
            logger.info("settings: migrating from version %d to %d", version, SETTINGS_VERSION)
            self._store.setValue("settings_version", SETTINGS_VERSION)

    @property
    def file_name(self) -> str:
        return self._store.fileName()

    def get(self, name: str) -> Any:
        setting = BY_NAME[name]
        return setting.coerce(self._store.value(name, None))

    def set(self, name: str, value: Any) -> None:
        setting = BY_NAME[name]
        value = setting.coerce(value)
        if self.get(name) == value and self._store.contains(name):
            return
        self._store.setValue(name, setting.encode(value))
        self.changed.emit(name, value)

    def reset(self, name: str) -> None:
        self._store.remove(name)
        self.changed.emit(name, BY_NAME[name].default)

    def sync(self) -> None:
        self._store.sync()

    def add_recent_file(self, path: str) -> list[str]:
        files = [p for p in self.get("recent_files") if p != path]
        files.insert(0, path)
        self.set("recent_files", files[:MAX_RECENT])
        return self.get("recent_files")

    def add_recent_color(self, hex_color: str) -> list[str]:
        colors = [c for c in self.get("recent_colors") if c.lower() != hex_color.lower()]
        colors.insert(0, hex_color.lower())
        self.set("recent_colors", colors[:12])
        return self.get("recent_colors")
