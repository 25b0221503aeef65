"""One photo being worked on: its hints, prompts, settings and results, and the project file.

A ``Document`` holds the source photo, the colour hints (a list the hint commands edit), the
settings of the next run (``core.run_settings.RunSettings``: engine, seed, prompt, negative
prompt, steps, guidance, working size, variants, engine options; its ``hints`` field stays
empty because the document's hints are ``hints``), whether each run rolls a new seed, the runs
made so far (each run a list of ``ResultVariant``: full-size RGB plus the ``RunSettings`` that
produced it) and the chosen variant. ``run_settings()`` is what the next run uses;
``request_kwargs()`` gives what ``engines.base.ColorizeRequest(**kwargs)`` takes.

Edits are plain command objects (``AddHint``, ``MoveHint``, ... ``ChooseVariant``) with
``do(doc)``, ``undo(doc)`` and a ``text`` for the Edit menu; the GUI wraps them in its undo
stack. ``undo`` restores exactly the state before ``do``.

Project files (``.piggy``) are zip archives:

* ``manifest.json``: format name and version, the source's original path and file name,
  hints, prompts, seed, settings, the runs (their variants' settings, messages and image
  names, and the crop and turn each run was made under) and the chosen variant;
* ``source/<name>``: a byte-exact copy of the source photo, so a project opens even if the
  original was moved (a photo without a file is stored as a 16-bit PNG);
* ``runs/<run>/<variant>.png``: every variant as a 16-bit PNG, so nothing is lost.

Saving writes a temporary file and renames it, so a crash never leaves a broken project.
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import logging
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

import cv2
import numpy as np

from piggydesk import __version__
from piggydesk.core.atomic import open_atomic
from piggydesk.core.bounds import check_member, check_memory, parse_json, png_header, read_member
from piggydesk.core.errors import PhotoError, ProjectError
from piggydesk.core.export import encode_png
from piggydesk.core.hints import Hint
from piggydesk.core.imaging import (
    MAX_PIXELS,
    Photo,
    load_photo_bytes,
    read_photo_file,
)
from piggydesk.core.pixels import CompactImage
from piggydesk.core.repair.document import (
    move_hints,
    read_repair,
    repair_state,
    working_photo,
    write_repair,
)
from piggydesk.core.repair.geometry import Geometry
from piggydesk.core.repair.pipeline import RepairSettings
from piggydesk.core.run_settings import RunSettings

logger = logging.getLogger(__name__)

PROJECT_SUFFIX = ".piggy"
FORMAT_NAME = "piggydesk-project"
FORMAT_VERSION = 2
"""The newest project format this PiggyDesk reads (it reads every older one too).

1: photo, hints, settings, runs. 2: also the repair (``repair`` settings and the
``defect_mask`` member, ``core.repair.document``), which a version-1 reader would silently
drop (and then show cropped results over the uncropped photo). A project is written with the
lowest version that holds what it contains, so one without repair still opens in a
PiggyDesk that reads only version 1, and one with repair is refused there with a sentence.
"""
REPAIR_FORMAT_VERSION = 2

TOP_LEVEL_SETTINGS = ("hints", "prompt", "negative_prompt", "seed", "variant_index")
"""``RunSettings`` fields the manifest keeps beside ``settings`` (where format 1 had them)."""


class ResultVariant:
    """One result: a full-size sRGB image and the settings that made it.

    The pixels are kept compact (``core.pixels.CompactImage``: 16-bit, in memory up to a
    budget shared by all results, else in a scratch file), so runs and the undo stack do not
    grow memory without bound. ``rgb`` gives the full-resolution float32 ``(H, W, 3)`` image
    (read-only, made on demand, equal to what the engine returned within half a 16-bit
    level); ``preview`` a small float32 copy for thumbnails.
    """

    def __init__(
        self,
        rgb: np.ndarray | CompactImage,
        settings: RunSettings | Mapping[str, Any] | None = None,
        message: str = "",
        seconds: float = 0.0,
    ) -> None:
        self.image = rgb if isinstance(rgb, CompactImage) else CompactImage(rgb)
        if settings is None:
            settings = RunSettings()
        elif not isinstance(settings, RunSettings):  # a manifest's plain dict
            settings = RunSettings.from_dict(settings)
        self.settings: RunSettings = settings
        self.message = message
        self.seconds = seconds

    @property
    def rgb(self) -> np.ndarray:
        return self.image.rgb()

    @property
    def preview(self) -> np.ndarray:
        return self.image.preview

    @property
    def size(self) -> tuple[int, int]:
        return self.image.shape[0], self.image.shape[1]

    @classmethod
    def from_engine(cls, variant: _EngineVariant) -> ResultVariant:
        """From an ``engines.base.Variant`` (duck-typed: core does not import engines).

        A ``ResultVariant`` comes back as it is (the worker thread already made it compact).
        """
        if isinstance(variant, ResultVariant):
            return variant
        return cls(
            rgb=variant.rgb,
            settings=RunSettings.from_dict(variant.settings),
            message=str(getattr(variant, "message", "")),
            seconds=float(getattr(variant, "seconds", 0.0)),
        )


class _EngineVariant(Protocol):
    rgb: np.ndarray
    settings: Any


@dataclass(eq=False)
class Run:
    """The variants one press of "Colorize" produced.

    ``geometry`` is the repair geometry (crop, turn, straighten) the run was made under: its
    variants' hints are in the pixels of that working photo, so "Use these settings" after a
    later crop or turn moves them onto the same content. ``None`` until ``AddRun`` records the
    document's geometry, and for runs of projects saved before it was recorded.
    """

    variants: list[ResultVariant]
    engine: str = ""
    created: str = field(default_factory=lambda: _dt.datetime.now().isoformat(timespec="seconds"))
    geometry: Geometry | None = None

    @classmethod
    def from_engine(
        cls, variants: Iterable[_EngineVariant], engine: str = "", geometry: Geometry | None = None
    ) -> Run:
        results = [ResultVariant.from_engine(v) for v in variants]
        if not engine and results:
            engine = results[0].settings.engine
        return cls(variants=results, engine=engine, geometry=geometry)


@dataclass(eq=False)
class Document:
    """The state of one photo being colorized (see the module docstring)."""

    photo: Photo
    source_path: Path | None = None
    source_bytes: bytes | None = None
    source_name: str = ""
    hints: list[Hint] = field(default_factory=list)
    settings: RunSettings = field(default_factory=RunSettings)
    random_seed: bool = True  # each run rolls a new seed (the GUI's "Random" box)
    runs: list[Run] = field(default_factory=list)
    chosen: tuple[int, int] | None = None
    project_path: Path | None = None
    repair: RepairSettings = field(default_factory=RepairSettings)
    defect_mask: np.ndarray | None = None  # bool, the source's size (core.repair.document)

    @classmethod
    def open_photo(cls, path: str | Path) -> Document:
        """A new document for the photo at ``path`` (``PhotoError`` if it can't be read)."""
        path = Path(path)
        data = read_photo_file(path)  # header, file type and size checked before the body
        photo = load_photo_bytes(data, name=path.name, path=path)
        return cls(photo=photo, source_path=path, source_bytes=data, source_name=path.name)

    # prompt, negative prompt and seed live in ``settings``; these read and write them there
    @property
    def prompt(self) -> str:
        return self.settings.prompt

    @prompt.setter
    def prompt(self, value: str) -> None:
        self.settings = self.settings.with_values(prompt=str(value))

    @property
    def negative_prompt(self) -> str:
        return self.settings.negative_prompt

    @negative_prompt.setter
    def negative_prompt(self, value: str) -> None:
        self.settings = self.settings.with_values(negative_prompt=str(value))

    @property
    def seed(self) -> int:
        return self.settings.seed

    @seed.setter
    def seed(self, value: int) -> None:
        self.settings = self.settings.with_values(seed=int(value))

    @property
    def working_photo(self) -> Photo:
        """The photo after geometry, repair and tone: what is shown, hinted and colorized."""
        return working_photo(self)

    @property
    def image_size(self) -> tuple[int, int]:
        return self.photo.size

    @property
    def name(self) -> str:
        return self.source_name or (self.source_path.name if self.source_path else "photo")

    @property
    def chosen_variant(self) -> ResultVariant | None:
        if self.chosen is None:
            return None
        run, variant = self.chosen
        try:
            return self.runs[run].variants[variant]
        except IndexError:
            return None

    @property
    def chosen_fits(self) -> bool:
        """Whether the chosen variant lies over the present working photo pixel for pixel:
        made under the present crop and turn (a flip or a half turn keeps the size, so the
        size alone cannot tell), or, for a run that did not record its geometry, of its size.
        """
        variant = self.chosen_variant
        if variant is None:
            return False
        geometry = self.runs[self.chosen[0]].geometry if self.chosen else None
        if geometry is not None:
            return geometry == self.repair.geometry
        return variant.size == self.working_photo.size

    def run_settings(self, **overrides: Any) -> RunSettings:
        """The settings of the next run: ``settings`` with the document's hints."""
        return self.settings.with_values(hints=tuple(self.hints), **overrides)

    def request_kwargs(self, **overrides: Any) -> dict[str, Any]:
        """Keyword arguments for ``engines.base.ColorizeRequest`` from this document."""
        return {"lightness": self.working_photo.lightness, "settings": self.run_settings(**overrides)}

    def state(self) -> dict[str, Any]:
        """Everything but pixels, as plain data (what the manifest stores; handy in tests)."""
        return {
            "source_path": str(self.source_path) if self.source_path else None,
            "source_name": self.name,
            "hints": [h.to_dict() for h in self.hints],
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "seed": int(self.seed),
            "random_seed": bool(self.random_seed),
            "settings": copy.deepcopy(self.settings.to_dict(exclude=TOP_LEVEL_SETTINGS)),
            "runs": [
                {
                    "engine": run.engine,
                    "created": run.created,
                    **({"geometry": run.geometry.to_dict()} if run.geometry is not None else {}),
                    "variants": [
                        {
                            "settings": copy.deepcopy(v.settings.to_dict()),
                            "message": v.message,
                            "seconds": float(v.seconds),
                        }
                        for v in run.variants
                    ],
                }
                for run in self.runs
            ],
            "chosen": list(self.chosen) if self.chosen is not None else None,
            **repair_state(self),
        }


# ----------------------------------------------------------------------------- commands


class Command:
    """A Qt-free edit: ``do(doc)`` applies it, ``undo(doc)`` restores the earlier state."""

    text: str = "Edit"

    def do(self, doc: Document) -> None:
        raise NotImplementedError

    def undo(self, doc: Document) -> None:
        raise NotImplementedError


def _check_hint_index(doc: Document, index: int) -> None:
    if not 0 <= index < len(doc.hints):
        raise IndexError(f"there is no hint number {index}")


class AddHint(Command):
    text = "Add colour hint"

    def __init__(self, hint: Hint, index: int | None = None) -> None:
        self.hint = hint
        self.index = index
        self._at = -1

    def do(self, doc: Document) -> None:
        self._at = len(doc.hints) if self.index is None else min(self.index, len(doc.hints))
        doc.hints.insert(self._at, self.hint)

    def undo(self, doc: Document) -> None:
        del doc.hints[self._at]


class _ReplaceHint(Command):
    def __init__(self, index: int) -> None:
        self.index = index
        self._old: Hint | None = None

    def _new(self, old: Hint) -> Hint:
        raise NotImplementedError

    def do(self, doc: Document) -> None:
        _check_hint_index(doc, self.index)
        self._old = doc.hints[self.index]
        doc.hints[self.index] = self._new(self._old)

    def undo(self, doc: Document) -> None:
        assert self._old is not None, "undo before do"
        doc.hints[self.index] = self._old


class MoveHint(_ReplaceHint):
    text = "Move colour hint"

    def __init__(self, index: int, x: float, y: float) -> None:
        super().__init__(index)
        self.x, self.y = float(x), float(y)

    def _new(self, old: Hint) -> Hint:
        return old.moved_to(self.x, self.y)


class RecolourHint(_ReplaceHint):
    text = "Change hint colour"

    def __init__(self, index: int, color: tuple[int, int, int]) -> None:
        super().__init__(index)
        self.color = tuple(int(c) for c in color)

    def _new(self, old: Hint) -> Hint:
        return old.recoloured(self.color)


class ResizeHint(_ReplaceHint):
    text = "Resize colour hint"

    def __init__(self, index: int, radius: float) -> None:
        super().__init__(index)
        self.radius = max(float(radius), 0.0)

    def _new(self, old: Hint) -> Hint:
        return old.resized(self.radius)


class RemoveHint(Command):
    text = "Remove colour hint"

    def __init__(self, index: int) -> None:
        self.index = index
        self._old: Hint | None = None

    def do(self, doc: Document) -> None:
        _check_hint_index(doc, self.index)
        self._old = doc.hints.pop(self.index)

    def undo(self, doc: Document) -> None:
        assert self._old is not None, "undo before do"
        doc.hints.insert(self.index, self._old)


class ClearHints(Command):
    text = "Clear colour hints"

    def __init__(self) -> None:
        self._old: list[Hint] = []

    def do(self, doc: Document) -> None:
        self._old = list(doc.hints)
        doc.hints.clear()

    def undo(self, doc: Document) -> None:
        doc.hints[:] = self._old


class _SetAttribute(Command):
    attribute = ""

    def __init__(self, value: Any) -> None:
        self.value = value
        self._old: Any = None

    def do(self, doc: Document) -> None:
        self._old = getattr(doc, self.attribute)
        setattr(doc, self.attribute, self.value)

    def undo(self, doc: Document) -> None:
        setattr(doc, self.attribute, self._old)


class SetPrompt(_SetAttribute):
    text = "Edit prompt"
    attribute = "prompt"

    def __init__(self, value: str) -> None:
        super().__init__(str(value))


class SetNegativePrompt(_SetAttribute):
    text = "Edit negative prompt"
    attribute = "negative_prompt"

    def __init__(self, value: str) -> None:
        super().__init__(str(value))


class SetSeed(_SetAttribute):
    text = "Change seed"
    attribute = "seed"

    def __init__(self, value: int) -> None:
        super().__init__(int(value))


class SetRandomSeed(_SetAttribute):
    text = "Toggle random seed"
    attribute = "random_seed"

    def __init__(self, value: bool) -> None:
        super().__init__(bool(value))


class SetSetting(Command):
    """Set one run setting (``"engine"``, ``"steps"``...) or engine option (``"strength"``)."""

    def __init__(self, key: str, value: Any) -> None:
        self.key = key
        self.value = value
        self.text = f"Change {key.replace('_', ' ')}"
        self._old: RunSettings | None = None

    def do(self, doc: Document) -> None:
        self._old = doc.settings
        doc.settings = doc.settings.with_values(**{self.key: self.value})

    def undo(self, doc: Document) -> None:
        assert self._old is not None, "undo before do"
        doc.settings = self._old


class AddRun(Command):
    """Add a run's variants and (by default) choose its first variant."""

    text = "Colorize"

    def __init__(self, run: Run, choose: bool = True) -> None:
        self.run = run
        self.choose = choose
        self._old_chosen: tuple[int, int] | None = None

    def do(self, doc: Document) -> None:
        self._old_chosen = doc.chosen
        if self.run.geometry is None:  # made under the document's present crop and turn
            self.run.geometry = doc.repair.geometry
        doc.runs.append(self.run)
        if self.choose and self.run.variants:
            doc.chosen = (len(doc.runs) - 1, 0)

    def undo(self, doc: Document) -> None:
        doc.runs.pop()
        doc.chosen = self._old_chosen


class RemoveRun(Command):
    text = "Remove results"

    def __init__(self, index: int) -> None:
        self.index = index
        self._run: Run | None = None
        self._old_chosen: tuple[int, int] | None = None

    def do(self, doc: Document) -> None:
        if not 0 <= self.index < len(doc.runs):
            raise IndexError(f"there is no run number {self.index}")
        self._old_chosen = doc.chosen
        self._run = doc.runs.pop(self.index)
        if doc.chosen is not None:
            run, variant = doc.chosen
            if run == self.index:
                doc.chosen = None
            elif run > self.index:
                doc.chosen = (run - 1, variant)

    def undo(self, doc: Document) -> None:
        assert self._run is not None, "undo before do"
        doc.runs.insert(self.index, self._run)
        doc.chosen = self._old_chosen


class ChooseVariant(Command):
    text = "Choose variant"

    def __init__(self, run_index: int, variant_index: int) -> None:
        self.target = (int(run_index), int(variant_index))
        self._old: tuple[int, int] | None = None

    def do(self, doc: Document) -> None:
        run, variant = self.target
        if not (0 <= run < len(doc.runs) and 0 <= variant < len(doc.runs[run].variants)):
            raise IndexError(f"there is no variant {variant} in run {run}")
        self._old = doc.chosen
        doc.chosen = self.target

    def undo(self, doc: Document) -> None:
        doc.chosen = self._old


class UseSettings(Command):
    """ "Use these settings": restore the hints, prompts, seed and engine of a variant.

    ``geometry`` is the one the variant's run was made under (``Run.geometry``); when the
    document has been cropped or turned since, the hints move onto the same content of the
    present working photo, and those the present crop cuts away are left out (``dropped``).
    """

    text = "Use these settings"

    RESTORED = ("engine", "seed", "prompt", "negative_prompt", "steps", "guidance_scale",
                "working_size")
    NOT_RESTORED_OPTIONS = ("mode",)  # how the engine ran, not something to ask for

    def __init__(
        self, settings: RunSettings | Mapping[str, Any], geometry: Geometry | None = None
    ) -> None:
        self.settings = RunSettings.from_dict(settings)
        self.geometry = geometry
        self.dropped = 0
        self._old: tuple[list[Hint], RunSettings] | None = None

    def do(self, doc: Document) -> None:
        self._old = (list(doc.hints), doc.settings)
        s = self.settings
        hints = list(s.hints)
        if self.geometry is not None and self.geometry != doc.repair.geometry:
            hints = move_hints(hints, self.geometry, doc.repair.geometry, doc.photo.size)
        self.dropped = len(s.hints) - len(hints)
        doc.hints[:] = hints
        options = {k: v for k, v in s.options.items() if k not in self.NOT_RESTORED_OPTIONS}
        doc.settings = doc.settings.with_values(
            **{name: getattr(s, name) for name in self.RESTORED}, **options
        )

    def undo(self, doc: Document) -> None:
        assert self._old is not None, "undo before do"
        hints, doc.settings = self._old
        doc.hints[:] = hints


# ----------------------------------------------------------------------------- project files


def save_project(doc: Document, path: str | Path) -> Path:
    """Write ``doc`` to the ``.piggy`` file ``path`` (atomically); return the path."""
    path = Path(path)
    if not path.parent.is_dir():
        raise ProjectError(f"The folder {path.parent} does not exist.")
    manifest = doc.state()
    version = REPAIR_FORMAT_VERSION if _uses_repair(manifest) else 1
    manifest.update({"format": FORMAT_NAME, "version": version, "app_version": __version__})
    name = PurePosixPath(doc.name.replace("\\", "/")).name or "photo"
    if doc.source_bytes:
        source_member, source_data = f"source/{name}", doc.source_bytes
    else:
        source_member = "source/photo.png"
        source_data = encode_png(doc.photo.rgb, 16 if doc.photo.bit_depth == 16 else 8, note=None)
    manifest["source_file"] = source_member
    for run_index, run_state in enumerate(manifest["runs"]):
        for var_index, var_state in enumerate(run_state["variants"]):
            var_state["image"] = f"runs/{run_index:03d}/variant-{var_index:02d}.png"
    try:
        manifest_text = json.dumps(manifest, indent=2, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ProjectError(
            f"The project could not be saved: a setting is not storable ({exc})."
        ) from None
    try:
        with open_atomic(path, overwrite=True) as handle:
            with zipfile.ZipFile(handle, "w") as archive:
                archive.writestr("manifest.json", manifest_text, zipfile.ZIP_DEFLATED)
                archive.writestr(source_member, source_data, zipfile.ZIP_STORED)
                write_repair(archive, doc, manifest)
                for run, run_state in zip(doc.runs, manifest["runs"]):
                    for variant, var_state in zip(run.variants, run_state["variants"]):
                        png = encode_png(variant.rgb, 16, note=None)
                        archive.writestr(var_state["image"], png, zipfile.ZIP_STORED)
    except OSError as exc:
        raise ProjectError(
            f"The project {path.name} could not be saved: {exc.strerror or exc}."
        ) from None
    doc.project_path = path
    logger.info("Saved project %s (%d runs)", path, len(doc.runs))
    return path


def _uses_repair(manifest: Mapping[str, Any]) -> bool:
    """Whether the manifest holds repair entries that change the photo (format version 2)."""
    settings = manifest.get("repair")
    changes = isinstance(settings, dict) and not RepairSettings.from_dict(settings).is_identity
    return changes or bool(manifest.get("defect_mask"))


def load_project(path: str | Path) -> Document:
    """Read a ``.piggy`` project; ``ProjectError`` with a readable sentence if we can't."""
    path = Path(path)
    if not path.is_file():
        raise ProjectError(f"The project file {path} does not exist.")
    try:
        with zipfile.ZipFile(path) as archive:
            _check_archive(archive, path)
            manifest = _read_manifest(archive, path)
            doc = _document_from_manifest(archive, manifest, path)
    except zipfile.BadZipFile:
        raise ProjectError(f"{path.name} is not a PiggyDesk project (or it is damaged).") from None
    except OSError as exc:
        raise ProjectError(f"{path.name} could not be read: {exc.strerror or exc}.") from None
    except (RecursionError, OverflowError, NotImplementedError, EOFError) as exc:
        # the last net: whatever a damaged archive makes the decoders raise is one sentence
        raise ProjectError(f"{path.name} is damaged and cannot be opened ({exc}).") from None
    doc.project_path = path
    return doc


# What a project may hold (see core.bounds): every member's declared size is checked before it
# is read, and every image's header before it is decoded.
MAX_MANIFEST_BYTES = 4 << 20
MAX_MEMBERS = 2_000
MAX_SOURCE_BYTES = MAX_PIXELS * 8 + (16 << 20)  # a 150 MP 16-bit RGBA TIFF, uncompressed
MAX_RESULTS = 1_000
_RANGES: dict[str, tuple[float, float]] = {
    "seed": (0, 2**32 - 1),
    "num_variants": (1, 64),
    "steps": (1, 1000),
    "guidance_scale": (0.0, 100.0),
    "working_size": (16, 8192),
    "variant_index": (0, MAX_RESULTS),
}
"""Plausible values of the numeric settings a manifest may hold (anything else is refused)."""


def _check_archive(archive: zipfile.ZipFile, path: Path) -> None:
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ProjectError(f"{path.name} is refused: it holds {len(infos)} files.")
    for info in infos:
        limit = MAX_MANIFEST_BYTES if info.filename == "manifest.json" else MAX_SOURCE_BYTES
        check_member(info, limit, path.name, ProjectError)


def _read_manifest(archive: zipfile.ZipFile, path: Path) -> dict[str, Any]:
    if "manifest.json" not in archive.namelist():
        raise ProjectError(f"{path.name} is not a PiggyDesk project (no manifest).")
    data = read_member(archive, "manifest.json", MAX_MANIFEST_BYTES, path.name, ProjectError)
    manifest = parse_json(data, f"The manifest of {path.name}", MAX_MANIFEST_BYTES, ProjectError)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise ProjectError(f"{path.name} is not a PiggyDesk project.")
    version = manifest.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ProjectError(f"{path.name} is damaged: its format version {version!r} is not valid.")
    if version > FORMAT_VERSION:
        raise ProjectError(
            f"{path.name} was saved by a newer PiggyDesk (project format {version}); "
            "please update PiggyDesk to open it."
        )
    _check_values(manifest, path)
    return manifest


def _check_values(manifest: dict[str, Any], path: Path) -> None:
    """Refuse wrong types and implausible numbers before anything is built from them."""

    def fail(what: str) -> ProjectError:
        return ProjectError(f"{path.name} is damaged: {what}.")

    def check_settings(values: Any, where: str) -> None:
        if values is None:
            return
        if not isinstance(values, dict):
            raise fail(f"the {where} are not a set of named values")
        for key, (low, high) in _RANGES.items():
            if key not in values:
                continue
            value = values[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise fail(f"the {key.replace('_', ' ')} in the {where} is not a number")
            if not low <= value <= high:
                raise fail(
                    f"the {key.replace('_', ' ')} in the {where} is {value:g}, outside "
                    f"{low:g} to {high:g}"
                )
            if isinstance(low, int) and value != int(value):
                raise fail(f"the {key.replace('_', ' ')} in the {where} is not a whole number")

    check_settings(manifest, "project")
    check_settings(manifest.get("settings"), "project settings")
    for key in ("source_file", "source_name"):
        if not isinstance(manifest.get(key, ""), str):
            raise fail(f"its {key.replace('_', ' ')} is not text")
    if not isinstance(manifest.get("source_path") or "", str):
        raise fail("its source path is not text")
    hints = manifest.get("hints", [])
    if not isinstance(hints, list):
        raise fail("its hints are not a list")
    runs = manifest.get("runs", [])
    if not isinstance(runs, list) or not all(
        isinstance(r, dict) and isinstance(r.get("variants"), list) for r in runs
    ):
        raise fail("its list of results is not valid")
    count = sum(len(r["variants"]) for r in runs)
    if count > MAX_RESULTS:
        raise fail(f"it lists {count} results (at most {MAX_RESULTS})")
    for run in runs:
        for variant in run["variants"]:
            if not isinstance(variant, dict) or not isinstance(variant.get("image"), str):
                raise fail("a result has no image")
            check_settings(variant.get("settings"), "settings of a result")
            if not isinstance(variant.get("seconds", 0.0), (int, float)):
                raise fail("the time of a result is not a number")
    chosen = manifest.get("chosen")
    if chosen is not None and not (
        isinstance(chosen, list) and len(chosen) == 2
        and all(isinstance(i, int) and not isinstance(i, bool) for i in chosen)
        and 0 <= chosen[0] < len(runs) and 0 <= chosen[1] < len(runs[chosen[0]]["variants"])
    ):
        raise fail("the chosen result does not exist")


def _run_geometry(stored: Any, path: Path) -> Geometry | None:
    """A run's recorded geometry (``None`` when the project predates it)."""
    if stored is None:
        return None
    try:
        if not isinstance(stored, dict):
            raise TypeError("not a set of named values")
        return Geometry.from_dict(stored)
    except (TypeError, ValueError) as exc:
        raise ProjectError(
            f"{path.name} is damaged: the crop and turn of a result are not valid ({exc})."
        ) from None


def _check_result_image(
    archive: zipfile.ZipFile, member: str, photo: Photo, path: Path
) -> None:
    """A result image must be a PNG of the photo's size: checked on its header, not decoded."""
    height, width = photo.size
    limit = int(height * (width * 6 + 1) * 1.01) + (1 << 20)  # 16-bit RGB rows + deflate slack
    try:
        info = archive.getinfo(member)
    except KeyError:
        raise ProjectError(f"{path.name} is damaged: it has no {member}.") from None
    check_member(info, limit, path.name, ProjectError)
    with archive.open(info) as handle:
        header = png_header(handle.read(32))
    if header is None:
        raise ProjectError(f"{path.name} is damaged: the result {member} is not a PNG image.")
    # a result has the working photo's size: the photo's, or smaller (cropped, straightened)
    if header[0] * header[1] > width * height or header[2] not in (8, 16):
        raise ProjectError(
            f"{path.name} is damaged: the result {member} is {header[0]}x{header[1]} pixels, "
            f"more than the photo's {width}x{height}."
        )
    check_memory(height * width * 18, f"Opening {path.name}")  # float32 result + 16-bit decode


def _document_from_manifest(
    archive: zipfile.ZipFile, manifest: dict[str, Any], path: Path
) -> Document:
    try:
        source_path = Path(manifest["source_path"]) if manifest.get("source_path") else None
        source_name = str(manifest.get("source_name", ""))
        source_data = read_member(
            archive, str(manifest["source_file"]), MAX_SOURCE_BYTES, path.name, ProjectError
        )
        try:
            photo = load_photo_bytes(source_data, name=source_name, path=source_path)
        except PhotoError as exc:
            raise ProjectError(f"The photo inside {path.name} cannot be read: {exc}") from None
        if str(manifest["source_file"]).endswith("/photo.png") and not source_path:
            source_bytes = None  # a photo that never had a file: keep it that way
        else:
            source_bytes = source_data
        runs = []
        for run_state in manifest.get("runs", []):
            for v in run_state["variants"]:
                _check_result_image(archive, v["image"], photo, path)
            variants = [
                ResultVariant(
                    rgb=_read_png(archive, v["image"]),
                    settings=dict(v.get("settings", {})),
                    message=str(v.get("message", "")),
                    seconds=float(v.get("seconds", 0.0)),
                )
                for v in run_state["variants"]
            ]
            runs.append(
                Run(
                    variants=variants,
                    engine=str(run_state.get("engine", "")),
                    created=str(run_state.get("created", "")),
                    geometry=_run_geometry(run_state.get("geometry"), path),
                )
            )
        chosen = manifest.get("chosen")
        settings, random_seed = _settings_from_manifest(manifest)
        repair, defect_mask = read_repair(archive, manifest, photo, path.name)
        return Document(
            photo=photo,
            source_path=source_path,
            source_bytes=source_bytes,
            source_name=source_name,
            hints=[Hint.from_dict(h) for h in manifest.get("hints", [])],
            settings=settings,
            random_seed=random_seed,
            runs=runs,
            chosen=(int(chosen[0]), int(chosen[1])) if chosen else None,
            repair=repair,
            defect_mask=defect_mask,
        )
    except ProjectError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, PhotoError) as exc:
        raise ProjectError(f"{path.name} is damaged: {exc}") from None


def _settings_from_manifest(manifest: dict[str, Any]) -> tuple[RunSettings, bool]:
    """The next run's settings and the random-seed switch, from this or an older manifest.

    Format-1 manifests written before ``RunSettings`` kept ``random_seed`` (a GUI switch)
    inside ``settings``; it moves out, and everything else ``RunSettings.from_dict`` reads
    tolerantly.
    """
    stored = manifest.get("settings")
    stored = dict(stored) if isinstance(stored, Mapping) else {}
    random_seed = stored.pop("random_seed", manifest.get("random_seed", True))
    for name in ("prompt", "negative_prompt", "seed"):
        if name in manifest:
            stored[name] = manifest[name]
    stored.pop("hints", None)  # the document's hints are its own list
    return RunSettings.from_dict(stored), bool(random_seed)


def _read_png(archive: zipfile.ZipFile, member: str) -> np.ndarray:
    data = archive.read(member)
    array = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None or array.ndim != 3:
        raise ValueError(f"the image {member} cannot be read")
    array = np.ascontiguousarray(array[..., 2::-1])
    scale = 65535.0 if array.dtype == np.uint16 else 255.0
    return array.astype(np.float32) / np.float32(scale)
