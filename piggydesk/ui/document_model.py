"""The observable document: core's ``Document`` plus the Qt signals widgets bind to.

The model owns one ``core.document.Document`` (photo, hints, prompt, settings, runs, chosen
variant) and the UI-only selection. Edits never change the document directly: the ``cmd_*``
factories build core's Qt-free commands, ``undo.DocumentCommand`` applies them through
``apply``/``revert``, and the model then emits only the signals whose state really changed
(it compares cheap snapshots: hints and settings are frozen dataclasses, runs are compared by
identity). Values are read by name (``value("seed")``): the document's ``RunSettings`` fields
and options, plus its ``random_seed`` switch.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from piggydesk.core import document as core_doc
from piggydesk.core.hints import Hint
from piggydesk.core.imaging import Photo
from piggydesk.core.run_settings import DEFAULTS, RunSettings
from piggydesk.engines.base import Variant

logger = logging.getLogger(__name__)

PROJECT_SUFFIX = core_doc.PROJECT_SUFFIX
ATTRIBUTE_VALUES: dict[str, Any] = {  # Document attributes
    "prompt": DEFAULTS.prompt,
    "negative_prompt": DEFAULTS.negative_prompt,
    "seed": DEFAULTS.seed,
    "random_seed": True,
}
SETTING_VALUES: dict[str, Any] = {  # fields of Document.settings that start from app defaults
    name: getattr(DEFAULTS, name) for name in ("engine", "num_variants", "steps", "guidance_scale")
}
OPTION_VALUES: dict[str, Any] = {  # engine options (RunSettings.options); None: the engine's
    "vividness": None,
    "freedom": None,
    "fast": False,
    "conditioning_scale": 1.0,
}
VALUE_DEFAULTS: dict[str, Any] = {**ATTRIBUTE_VALUES, **SETTING_VALUES, **OPTION_VALUES}
_ATTRIBUTE_COMMANDS = {
    "prompt": core_doc.SetPrompt,
    "negative_prompt": core_doc.SetNegativePrompt,
    "seed": core_doc.SetSeed,
    "random_seed": core_doc.SetRandomSeed,
}


class DocumentModel(QObject):
    photo_changed = Signal()
    hints_changed = Signal()
    selection_changed = Signal(int)
    value_changed = Signal(str, object)
    runs_changed = Signal()  # runs added/removed or the chosen variant changed
    path_changed = Signal()

    VALUE_NAMES = tuple(VALUE_DEFAULTS)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.doc: core_doc.Document | None = None
        self._defaults: dict[str, Any] = dict(VALUE_DEFAULTS)  # shown while no photo is open
        self._selected = -1
        self._batch_depth = 0
        self._snapshot = self._state()
        # True while an undo or redo waits for its working photo (``undo.DocumentCommand``'s
        # ``prepare``): the undo stack is mid-operation, so nothing may push onto it
        self.replaying = False

    # -- reading -----------------------------------------------------------------------
    @property
    def photo(self) -> Photo | None:
        """The working photo: the source after geometry, repair and tone (core.repair)."""
        return None if self.doc is None else self.doc.working_photo

    @property
    def project_path(self) -> Path | None:
        return None if self.doc is None else self.doc.project_path

    @property
    def selected(self) -> int:
        return self._selected

    def hints(self) -> list[Hint]:
        return [] if self.doc is None else list(self.doc.hints)

    def value(self, name: str) -> Any:
        if self.doc is None:
            return self._defaults.get(name)
        if name in ATTRIBUTE_VALUES:
            return getattr(self.doc, name)
        return self.doc.settings.get(name, self._defaults.get(name))

    def run_settings(self) -> RunSettings:
        """What the next run uses: the document's settings with its hints."""
        assert self.doc is not None
        return self.doc.run_settings()

    def runs(self) -> list[core_doc.Run]:
        return [] if self.doc is None else list(self.doc.runs)

    @staticmethod
    def run_variants(run: core_doc.Run) -> list[core_doc.ResultVariant]:
        """A run's variants (``rgb``, ``settings`` as ``RunSettings``, ``message``...)."""
        return list(run.variants)

    def chosen(self) -> tuple[int, int]:
        if self.doc is None or self.doc.chosen is None:
            return (-1, -1)
        return tuple(self.doc.chosen)  # type: ignore[return-value]

    def chosen_rgb(self) -> np.ndarray | None:
        if self.doc is None:
            return None
        variant = self.doc.chosen_variant
        return None if variant is None else variant.rgb

    def variant_settings(self, run_index: int, variant: int) -> RunSettings | None:
        runs = self.runs()
        if 0 <= run_index < len(runs):
            variants = self.run_variants(runs[run_index])
            if 0 <= variant < len(variants):
                return variants[variant].settings
        return None

    def lightness_at(self, x: float, y: float, radius: int = 2) -> float:
        """Mean L* of the photo around (x, y) (image pixels)."""
        if self.photo is None:
            return 50.0
        L = self.photo.lightness
        h, w = L.shape
        xi, yi = int(round(x)), int(round(y))
        patch = L[max(yi - radius, 0) : min(yi + radius + 1, h),
                  max(xi - radius, 0) : min(xi + radius + 1, w)]
        return float(patch.mean()) if patch.size else 50.0

    def display_name(self) -> str:
        if self.doc is None:
            return ""
        if self.doc.project_path is not None:
            return self.doc.project_path.name
        return self.doc.name

    def suggested_project_path(self) -> Path:
        if self.doc is None:
            return Path.home() / f"photo{PROJECT_SUFFIX}"
        if self.doc.project_path is not None:
            return self.doc.project_path
        if self.doc.source_path is not None:
            source = Path(self.doc.source_path)
            return source.with_name(source.stem + PROJECT_SUFFIX)
        return Path.home() / f"{Path(self.doc.name).stem}{PROJECT_SUFFIX}"

    # -- selection (UI state, not undoable) ---------------------------------------------
    def set_selected(self, index: int) -> None:
        index = index if 0 <= index < len(self.hints()) else -1
        if index != self._selected:
            self._selected = index
            self.selection_changed.emit(index)

    # -- whole-document changes ----------------------------------------------------------
    # ``read_*`` only read files (no Qt, safe in any thread); ``adopt`` makes the result the
    # document, in the GUI thread. ``open_photo``/``load_project``/``recover`` do both.
    @staticmethod
    def read_photo(path: str | Path) -> core_doc.Document:
        return core_doc.Document.open_photo(path)  # raises PhotoError with a readable sentence

    @staticmethod
    def read_project(path: str | Path) -> core_doc.Document:
        return core_doc.load_project(path)  # raises ProjectError

    @staticmethod
    def read_autosave(path: str | Path) -> core_doc.Document:
        """An autosave: its content, but no project path (Save asks for a name)."""
        doc = core_doc.load_project(path)
        doc.project_path = None
        return doc

    def adopt(self, doc: core_doc.Document, *, new_photo: bool = False) -> None:
        """Make ``doc`` the document; a new photo's settings start from the app's defaults."""
        if new_photo:
            doc.settings = doc.settings.with_values(
                **{name: self._defaults[name] for name in SETTING_VALUES}
            )
            doc.seed = int(self._defaults["seed"])
            doc.random_seed = bool(self._defaults["random_seed"])
        self._replace(doc)

    def open_photo(self, path: str | Path) -> None:
        self.adopt(self.read_photo(path), new_photo=True)

    def load_project(self, path: str | Path) -> None:
        self.adopt(self.read_project(path))

    def recover(self, path: str | Path) -> None:
        self.adopt(self.read_autosave(path))

    def save_project(self, path: str | Path) -> None:
        if self.doc is None:
            return
        core_doc.save_project(self.doc, path)
        self.path_changed.emit()

    def saved_as(self, path: str | Path) -> None:
        """A snapshot of this document was written to ``path`` (``write_snapshot``)."""
        if self.doc is not None:
            self.doc.project_path = Path(path)
            self.path_changed.emit()

    def snapshot(self) -> Any:
        """A copy safe to save from another thread (the big arrays are shared, not copied)."""
        assert self.doc is not None
        doc = copy.copy(self.doc)
        doc.hints = list(self.doc.hints)
        doc.runs = list(self.doc.runs)  # settings are frozen: shared safely
        return doc

    @staticmethod
    def write_snapshot(snapshot: Any, path: str | Path) -> None:
        core_doc.save_project(snapshot, path)

    def _replace(self, doc: core_doc.Document) -> None:
        self.doc = doc
        self._selected = -1
        self._snapshot = self._state()
        self.photo_changed.emit()
        self.hints_changed.emit()
        self.selection_changed.emit(-1)
        for name in VALUE_DEFAULTS:
            self.value_changed.emit(name, self.value(name))
        self.runs_changed.emit()
        self.path_changed.emit()

    def set_value_silently(self, name: str, value: Any) -> None:
        """Set a default or a correction (no undo entry), e.g. from the app's preferences."""
        self._defaults[name] = value
        if self.doc is not None:
            if name in ATTRIBUTE_VALUES:
                setattr(self.doc, name, value)
            else:
                self.doc.settings = self.doc.settings.with_values(**{name: value})
        self._notify()

    # -- commands ----------------------------------------------------------------------
    def cmd_add_hint(self, hint: Hint) -> Any:
        return core_doc.AddHint(hint)

    def cmd_move_hint(self, index: int, x: float, y: float) -> Any:
        return core_doc.MoveHint(index, x, y)

    def cmd_resize_hint(self, index: int, radius: float) -> Any:
        return core_doc.ResizeHint(index, radius)

    def cmd_recolour_hint(self, index: int, color: tuple[int, int, int]) -> Any:
        return core_doc.RecolourHint(index, color)

    def cmd_remove_hint(self, index: int) -> Any:
        return core_doc.RemoveHint(index)

    def cmd_clear_hints(self) -> Any:
        return core_doc.ClearHints()

    def cmd_set_value(self, name: str, value: Any) -> Any:
        if name in _ATTRIBUTE_COMMANDS:
            return _ATTRIBUTE_COMMANDS[name](value)
        return core_doc.SetSetting(name, value)

    def cmd_use_settings(self, run_index: int, variant: int) -> list[Any]:
        """Restore a variant's hints (moved onto the present crop and turn), prompts, seed and
        engine settings, and fix the seed; empty if there is no such variant."""
        settings = self.variant_settings(run_index, variant)
        if settings is None:
            return []
        geometry = self.runs()[run_index].geometry
        return [core_doc.UseSettings(settings, geometry), core_doc.SetRandomSeed(False)]

    def geometry(self) -> Any:
        """The document's present crop and turn (what a run made now is made under)."""
        return self.doc.repair.geometry if self.doc is not None else None

    def cmd_add_run(self, variants: list[Variant], geometry: Any = None) -> Any:
        return core_doc.AddRun(core_doc.Run.from_engine(variants, geometry=geometry))

    def cmd_choose_variant(self, run_index: int, variant: int) -> Any:
        return core_doc.ChooseVariant(run_index, variant)

    def apply(self, command: Any) -> None:
        assert self.doc is not None
        command.do(self.doc)
        self._notify()

    def revert(self, command: Any) -> None:
        assert self.doc is not None
        command.undo(self.doc)
        self._notify()

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Apply several commands and emit the signals once, at the end."""
        self._batch_depth += 1
        try:
            yield
        finally:
            self._batch_depth -= 1
            self._notify()

    # -- change detection ----------------------------------------------------------------
    def _state(self) -> tuple:
        return (
            tuple(self.hints()),
            {name: self.value(name) for name in VALUE_DEFAULTS},
            tuple(id(r) for r in self.runs()),
            self.chosen(),
            self._repair_key(),
        )

    def _repair_key(self) -> object:
        """Changes whenever the repair settings or the defect mask do."""
        if self.doc is None:
            return None
        mask = self.doc.defect_mask
        version = None if mask is None else (id(mask), getattr(mask, "_version", 0))
        return (self.doc.repair, version)

    def _notify(self) -> None:
        if self._batch_depth:
            return
        old_hints, old_values, old_runs, old_chosen, old_repair = self._snapshot
        self._snapshot = new = self._state()
        hints, values, runs, chosen, repair = new
        if repair != old_repair:
            self.photo_changed.emit()  # the working photo changed: later steps re-run
        if hints != old_hints:
            if self._selected >= len(hints):
                self._selected = -1
                self.selection_changed.emit(-1)
            self.hints_changed.emit()
        for name, value in values.items():
            if old_values.get(name) != value:
                self.value_changed.emit(name, value)
        if runs != old_runs or chosen != old_chosen:
            self.runs_changed.emit()
