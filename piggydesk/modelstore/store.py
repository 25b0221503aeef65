"""Installed models on disk: one folder per model plus an ``installed.json`` record.

Layout under :func:`piggydesk.core.paths.models_dir` (``PIGGYDESK_MODELS_DIR`` overrides)::

    installed.json          what is installed: id, kind, folder, source, every file's size+sha256
    verified.json           checked files: size, mtime_ns and sha256 of each (see below)
    <id>/                   a complete, verified diffusers folder (or a symlink for --link imports)
    .downloads/<id>/        staging for a download in progress: finished files and ``.part`` files

A model appears in ``installed.json`` and in ``<id>/`` only when every file is present and
verified: downloads land in staging and the whole folder is moved into place with one rename,
so an interrupted, cancelled or failed download never leaves a half-installed model. A file
whose sha256 matches a file of an installed model is hard-linked (or copied) instead of
downloaded again.

The store also decides *which* model the piggyback engine runs (:meth:`ModelStore.candidates`,
one ranking rule for the app, the CLI and the tests) and keeps the results of checking files
(:meth:`ModelStore.cached_sha256`): a file whose size and modification time (ns) are those it
had when it was hashed is not hashed again, so loading an unchanged 4 GB bundle does not
re-read it; a changed file is hashed again and fails its check. Files verified at install
are recorded there at once. "Verify" in the models dialog (:meth:`ModelStore.verify`) always
re-reads every byte.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from filelock import FileLock, Timeout

from piggydesk.core.atomic import atomic_write_json
from piggydesk.core.checksum import sha256_file
from piggydesk.core.paths import models_dir
from piggydesk.core.progress import CancelToken
from piggydesk.modelstore.catalog import Catalog, CatalogEntry, format_size, load_catalog
from piggydesk.modelstore.download import (
    PART_SUFFIX,
    DownloadListener,
    DownloadSettings,
    ProgressTracker,
    download_file,
    make_client,
)
from piggydesk.modelstore.errors import (
    DownloadCancelled,
    ModelStoreError,
    NotEnoughSpaceError,
    UnknownModelError,
)

logger = logging.getLogger(__name__)

RECORD_NAME = "installed.json"
HASH_CACHE_NAME = "verified.json"
HASH_CACHE_MAX_BYTES = 8 << 20  # a few hundred entries need ~100 kB; a bigger file is ignored
INDEX_MAX_BYTES = 1 << 20  # model_index.json is a few hundred bytes
STAGING_NAME = ".downloads"
STAGING_RECORD = ".verified.json"
RECORD_VERSION = 1
SPACE_MARGIN = 64 * 1024 * 1024  # keep this much free beyond the download itself


@dataclass(frozen=True)
class FileRecord:
    size: int
    sha256: str
    checksum: str = "catalog"  # "catalog": pinned hash; "first_download" / "import": recorded here


@dataclass(frozen=True)
class InstalledModel:
    id: str
    name: str
    kind: str  # "base" | "bundle"
    folder: str  # folder name under the models directory
    source: str  # "catalog" | "import"
    installed_at: str
    files: dict[str, FileRecord] = field(default_factory=dict)
    license: str = ""
    origin: str = ""  # catalogue source or the imported folder
    linked: bool = False

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files.values())

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "folder": self.folder,
            "source": self.source,
            "installed_at": self.installed_at,
            "license": self.license,
            "origin": self.origin,
            "linked": self.linked,
            "files": {
                path: {"size": rec.size, "sha256": rec.sha256, "checksum": rec.checksum}
                for path, rec in sorted(self.files.items())
            },
        }

    @classmethod
    def from_json(cls, data: dict) -> InstalledModel:
        files = {
            str(path): FileRecord(int(rec["size"]), str(rec["sha256"]), str(rec.get("checksum", "")))
            for path, rec in dict(data.get("files", {})).items()
        }
        return cls(
            id=str(data["id"]),
            name=str(data.get("name", data["id"])),
            kind=str(data.get("kind", "base")),
            folder=str(data.get("folder", data["id"])),
            source=str(data.get("source", "catalog")),
            installed_at=str(data.get("installed_at", "")),
            files=files,
            license=str(data.get("license", "")),
            origin=str(data.get("origin", "")),
            linked=bool(data.get("linked", False)),
        )


@dataclass(frozen=True)
class VerifyReport:
    model_id: str
    ok: bool
    checked: int
    problems: tuple[str, ...] = ()


def _components(folder: Path) -> set[str]:
    """The components ``model_index.json`` lists with a class (``[null, null]`` = absent)."""
    index = folder / "model_index.json"
    try:
        if index.stat().st_size > INDEX_MAX_BYTES:
            return set()
        data = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    if not isinstance(data, dict):
        return set()
    return {
        name for name, entry in data.items()
        if isinstance(entry, list) and len(entry) == 2 and bool(entry[1])
    }


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


class ModelStore:
    """The installed models and the operations on them (download, verify, remove, lookup)."""

    def __init__(
        self,
        root: str | Path | None = None,
        catalog: Catalog | None = None,
        *,
        progress_interval: float = 0.1,
    ) -> None:
        self.root = Path(root) if root is not None else models_dir()
        self.progress_interval = progress_interval
        self.root.mkdir(parents=True, exist_ok=True)
        self._catalog = catalog
        self._lock = threading.RLock()

    # ----------------------------------------------------------------- records
    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = load_catalog()
        return self._catalog

    @property
    def record_path(self) -> Path:
        return self.root / RECORD_NAME

    def installed(self) -> dict[str, InstalledModel]:
        """Installed models by id (an unreadable record is treated as empty, and logged)."""
        with self._lock:
            try:
                data = json.loads(self.record_path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                return {}
            except (OSError, ValueError) as exc:
                logger.error("cannot read %s: %s", self.record_path, exc)
                return {}
            models = {}
            for raw in data.get("models", []) if isinstance(data, dict) else []:
                try:
                    model = InstalledModel.from_json(raw)
                except (KeyError, TypeError, ValueError) as exc:
                    logger.error("skipping a malformed record in %s: %s", self.record_path, exc)
                    continue
                models[model.id] = model
            return models

    def _save(self, models: dict[str, InstalledModel]) -> None:
        data = {"version": RECORD_VERSION, "models": [m.to_json() for m in models.values()]}
        atomic_write_json(self.record_path, data)

    def register(self, model: InstalledModel) -> None:
        with self._lock:
            models = self.installed()
            models[model.id] = model
            self._save(models)
            self._remember_verified(model)
        logger.info("installed model %s in %s", model.id, self.path(model.id))

    def is_installed(self, model_id: str) -> bool:
        return model_id in self.installed()

    def get(self, model_id: str) -> InstalledModel:
        model = self.installed().get(model_id)
        if model is None:
            raise UnknownModelError(f"No installed model is called '{model_id}'.")
        return model

    def path(self, model_id: str) -> Path:
        """The folder of an installed model (the link itself for linked imports)."""
        return self.root / self.get(model_id).folder

    def staging_dir(self, model_id: str) -> Path:
        return self.root / STAGING_NAME / model_id

    def _download_lock(self, model_id: str) -> FileLock:
        """Held while a model downloads, so a second window or command cannot interleave."""
        path = self.root / STAGING_NAME / f"{model_id}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(str(path), timeout=0)

    def partial_bytes(self, model_id: str) -> int:
        """Bytes already downloaded for a model that is not installed yet (for 'resume')."""
        staging = self.staging_dir(model_id)
        if not staging.is_dir():
            return 0
        return sum(p.stat().st_size for p in staging.rglob("*") if p.is_file() and
                   not p.name.endswith(".json"))

    def discard_download(self, model_id: str) -> None:
        """Forget a paused download (its partial files)."""
        staging = self.staging_dir(model_id)
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
            logger.info("discarded partial download of %s", model_id)

    def unique_id(self, wanted: str) -> str:
        taken = set(self.installed()) | set(self.catalog.ids())
        candidate = wanted
        n = 2
        while candidate in taken or (self.root / candidate).exists():
            candidate = f"{wanted}-{n}"
            n += 1
        return candidate

    # ---------------------------------------------------------------- choosing
    def candidates(self) -> list[Path]:
        """Model folders the piggyback engine can load, best first: the one ranking rule.

        Installed models whose folder holds a ``model_index.json``, and folders put in the
        models folder by hand (the folder itself or one level down). Ranked by what they can
        do: the paper's trained guider first, then a ControlNet guider, then a lightness-aware
        decoder; then installed models before hand-placed folders, the newest install first;
        then by name.
        """
        found: dict[Path, str] = {}  # folder -> installed_at ("" when not installed here)
        for model in self.installed().values():
            folder = self.root / model.folder
            if (folder / "model_index.json").is_file():
                found[folder] = model.installed_at or "0"
        children = sorted(self.root.iterdir()) if self.root.is_dir() else []
        for child in children:
            if child.name.startswith(".") or not child.is_dir() or child in found:
                continue
            for candidate in (child, *sorted(p for p in child.iterdir() if p.is_dir())):
                if (candidate / "model_index.json").is_file():
                    found.setdefault(candidate, "")
                    break

        def capability(folder: Path) -> tuple[bool, bool, bool]:
            parts = _components(folder)
            return "guider" in parts, "controlnet" in parts, "gray_encoder" in parts

        ranked = sorted(found, key=lambda folder: folder.name)
        ranked.sort(key=lambda folder: found[folder], reverse=True)  # newest install first
        ranked.sort(key=capability, reverse=True)  # stable: capability decides first
        return ranked

    def preferred_model_path(self) -> Path | None:
        """The model the piggyback engine should load (the first of :meth:`candidates`)."""
        found = self.candidates()
        return found[0] if found else None

    # ------------------------------------------------------------ hash cache
    @property
    def hash_cache_path(self) -> Path:
        return self.root / HASH_CACHE_NAME

    def _read_hash_cache(self) -> dict[str, dict]:
        try:
            if self.hash_cache_path.stat().st_size > HASH_CACHE_MAX_BYTES:
                logger.warning("ignoring %s: larger than expected", self.hash_cache_path)
                return {}
            data = json.loads(self.hash_cache_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            logger.warning("ignoring unreadable %s: %s", self.hash_cache_path, exc)
            return {}
        files = data.get("files") if isinstance(data, dict) else None
        return {
            str(k): v for k, v in (files or {}).items()
            if isinstance(v, dict) and isinstance(v.get("sha256"), str)
        } if isinstance(files, dict) else {}

    def _update_hash_cache(self, entries: dict[str, dict]) -> None:
        with self._lock:
            cache = self._read_hash_cache()
            cache.update(entries)
            cache = {k: v for k, v in cache.items() if os.path.isfile(k)}  # forget deleted files
            try:
                atomic_write_json(self.hash_cache_path, {"version": 1, "files": cache})
            except OSError as exc:  # a read-only models folder: checks still work, uncached
                logger.warning("cannot write %s: %s", self.hash_cache_path, exc)

    @staticmethod
    def _stamp(path: Path) -> tuple[str, int, int]:
        stat = path.stat()
        return str(path.resolve()), stat.st_size, stat.st_mtime_ns

    def cached_sha256(self, path: str | Path, cancel: CancelToken | None = None) -> str:
        """The sha256 of ``path``, hashed only when its size or mtime changed since last time.

        Raises ``OSError`` when the file cannot be read, ``Cancelled`` when ``cancel`` is set.
        """
        path = Path(path)
        key, size, mtime_ns = self._stamp(path)
        entry = self._read_hash_cache().get(key)
        if entry is not None and entry.get("size") == size and entry.get("mtime_ns") == mtime_ns:
            return str(entry["sha256"])
        digest = sha256_file(path, cancel)
        if self._stamp(path) == (key, size, mtime_ns):  # not changed while we read it
            self._update_hash_cache(
                {key: {"size": size, "mtime_ns": mtime_ns, "sha256": digest}}
            )
        return digest

    def _remember_verified(self, model: InstalledModel) -> None:
        """Record the files of a just-verified install, so the first load does not re-hash."""
        folder = self.root / model.folder
        entries = {}
        for rel, record in model.files.items():
            try:
                key, size, mtime_ns = self._stamp(folder / rel)
            except OSError:
                continue
            if size == record.size and record.sha256:
                entries[key] = {"size": size, "mtime_ns": mtime_ns, "sha256": record.sha256}
        if entries:
            self._update_hash_cache(entries)

    # --------------------------------------------------------------- download
    def _reusable_source(self, sha256: str | None, size: int) -> tuple[Path, bool] | None:
        """An installed file with this sha256 and size, and whether it may be hard-linked.

        Files inside a linked import belong to the user (who may edit them in place), so
        those are copied rather than hard-linked; store-owned files are preferred.
        """
        if not sha256:
            return None
        found: list[tuple[Path, bool]] = []
        for model in self.installed().values():
            for rel, rec in model.files.items():
                if rec.sha256 == sha256 and rec.size == size:
                    candidate = self.root / model.folder / rel
                    if candidate.is_file() and candidate.stat().st_size == size:
                        found.append((candidate, not model.linked))
        found.sort(key=lambda item: not item[1])
        return found[0] if found else None

    @staticmethod
    def _link_or_copy(src: Path, dest: Path, allow_link: bool = True) -> str:
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            dest.unlink()
        if allow_link:
            try:
                os.link(src, dest)
                return "linked"
            except OSError:
                pass
        shutil.copy2(src, dest)
        return "copied"

    def check_free_space(self, entry: CatalogEntry, needed: int) -> None:
        free = shutil.disk_usage(self.root).free
        if free < needed + SPACE_MARGIN:
            raise NotEnoughSpaceError(
                f"Not enough free disk space for {entry.name}: it needs "
                f"{format_size(needed + SPACE_MARGIN)} but only {format_size(free)} is free in "
                f"{self.root}. Free some space or set PIGGYDESK_MODELS_DIR to a larger disk."
            )

    def download(
        self,
        model_id: str,
        *,
        progress: DownloadListener | None = None,
        cancel: CancelToken | None = None,
        settings: DownloadSettings | None = None,
        client: httpx.Client | None = None,
    ) -> InstalledModel:
        """Download, verify and install a catalogue model; resumes a paused download.

        Raises ``NotEnoughSpaceError`` before anything is fetched, ``DownloadCancelled`` when
        cancelled (partial files kept), ``DownloadError``/``ChecksumError`` on failure (nothing
        installed).
        """
        entry = self.catalog.get(model_id)
        existing = self.installed().get(model_id)
        if existing is not None and (self.root / existing.folder).exists():
            logger.info("%s is already installed", model_id)
            return existing
        lock = self._download_lock(model_id)
        try:
            lock.acquire()
        except Timeout:
            raise ModelStoreError(
                f"{entry.name} is already being downloaded by another PiggyDesk window or "
                "command; wait for it to finish."
            ) from None
        try:
            return self._download_locked(entry, progress, cancel, settings, client)
        finally:
            lock.release()

    def _download_locked(
        self,
        entry: CatalogEntry,
        progress: DownloadListener | None,
        cancel: CancelToken | None,
        settings: DownloadSettings | None,
        client: httpx.Client | None,
    ) -> InstalledModel:
        model_id = entry.id
        existing = self.installed().get(model_id)
        if existing is not None and (self.root / existing.folder).exists():
            return existing  # installed by another process while we waited
        cancel = cancel or CancelToken()
        settings = settings or DownloadSettings()
        staging = self.staging_dir(model_id)
        staging.mkdir(parents=True, exist_ok=True)
        staged_record = staging / STAGING_RECORD
        try:
            staged: dict[str, dict] = json.loads(staged_record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            staged = {}

        # 1. Plan: what is finished, what can be reused, what must be fetched.
        done_files: dict[str, FileRecord] = {}
        reuse: dict[str, tuple[Path, bool]] = {}
        needed = 0
        for f in entry.files:
            target = staging / f.path
            rec = staged.get(f.path)
            if (rec and target.is_file() and target.stat().st_size == rec.get("size")
                    and (f.sha256 is None or rec.get("sha256") == f.sha256)):
                done_files[f.path] = FileRecord(int(rec["size"]), str(rec["sha256"]),
                                                str(rec.get("checksum", "catalog")))
                continue
            source = self._reusable_source(f.sha256, f.size)
            if source is not None:
                reuse[f.path] = source
                needed += 0 if source[1] else f.size  # a copy needs room, a hard link not
                continue
            part = target.with_name(target.name + PART_SUFFIX)
            have = part.stat().st_size if part.is_file() else 0
            needed += max(0, f.size - have)

        # 2. Refuse up front when the disk is too small.
        self.check_free_space(entry, needed)

        # 3. Fetch.
        tracker = ProgressTracker(
            model_id, entry.total_size, len(entry.files), progress, interval=self.progress_interval
        )
        http = client or make_client(settings)
        try:
            for index, f in enumerate(entry.files, start=1):
                if cancel.is_set():
                    raise DownloadCancelled(f"Download of {entry.name} paused.")
                tracker.start_file(index, f.path, f.size)
                target = staging / f.path
                if f.path in done_files:
                    tracker.skip(done_files[f.path].size)
                    continue
                if f.path in reuse:
                    source, may_link = reuse[f.path]
                    how = self._link_or_copy(source, target, may_link)
                    logger.info("%s: %s %s from %s", model_id, how, f.path, source)
                    record = FileRecord(target.stat().st_size, str(f.sha256), "catalog")
                    tracker.skip(record.size)
                else:
                    digest = download_file(
                        f.url,
                        target,
                        expected_size=f.size,
                        size_exact=f.size_exact,
                        sha256=f.sha256,
                        settings=settings,
                        cancel=cancel,
                        tracker=tracker,
                        client=http,
                        allowed_hosts=self.catalog.redirect_hosts,
                    )
                    record = FileRecord(
                        target.stat().st_size, digest,
                        "catalog" if f.sha256 else "first_download",
                    )
                    if not f.sha256:
                        logger.info("%s: recorded sha256 %s on first download", f.path, digest)
                done_files[f.path] = record
                staged[f.path] = {"size": record.size, "sha256": record.sha256,
                                  "checksum": record.checksum}
                atomic_write_json(staged_record, staged)
            tracker.emit(force=True)
        finally:
            if client is None:
                http.close()

        # 4. Install: one rename of the complete folder, then the record.
        with self._lock:
            final = self.root / model_id
            if final.exists() or final.is_symlink():
                raise ModelStoreError(
                    f"Cannot install {entry.name}: {final} already exists. Remove it first."
                )
            staged_record.unlink(missing_ok=True)
            for leftover in staging.rglob("*" + PART_SUFFIX + "*"):
                leftover.unlink(missing_ok=True)
            os.replace(staging, final)
            model = InstalledModel(
                id=model_id,
                name=entry.name,
                kind=entry.kind,
                folder=model_id,
                source="catalog",
                installed_at=now_iso(),
                files=done_files,
                license=entry.license,
                origin=entry.source,
            )
            self.register(model)
        return model

    # ----------------------------------------------------------- verify/remove
    def verify(
        self,
        model_id: str | None = None,
        *,
        cancel: CancelToken | None = None,
        on_file: Callable[[str, int, int], None] | None = None,
    ) -> list[VerifyReport]:
        """Re-hash installed files against the catalogue (or the hashes recorded at install)."""
        models = self.installed()
        if model_id is not None:
            if model_id not in models:
                raise UnknownModelError(f"No installed model is called '{model_id}'.")
            models = {model_id: models[model_id]}
        reports = []
        for model in models.values():
            entry = self.catalog.find(model.id) if model.source == "catalog" else None
            pinned = {f.path: f.sha256 for f in entry.files} if entry else {}
            folder = self.root / model.folder
            problems: list[str] = []
            if not folder.exists():
                what = "the linked folder" if model.linked else "its folder"
                problems.append(f"{what} {folder} is missing")
            else:
                total = len(model.files)
                for i, (rel, rec) in enumerate(sorted(model.files.items()), start=1):
                    if on_file is not None:
                        on_file(f"{model.id}/{rel}", i, total)
                    path = folder / rel
                    if not path.is_file():
                        problems.append(f"{rel} is missing")
                        continue
                    if path.stat().st_size != rec.size:
                        problems.append(f"{rel} has {path.stat().st_size} bytes, expected {rec.size}")
                        continue
                    expected = pinned.get(rel) or rec.sha256
                    actual = sha256_file(path, cancel)  # a requested check reads every byte
                    key, size, mtime_ns = self._stamp(path)
                    self._update_hash_cache(
                        {key: {"size": size, "mtime_ns": mtime_ns, "sha256": actual}}
                    )
                    if actual != expected:
                        problems.append(f"{rel} is corrupted (sha256 mismatch)")
            report = VerifyReport(model.id, not problems, len(model.files), tuple(problems))
            logger.info("verify %s: %s", model.id, "ok" if report.ok else "; ".join(problems))
            reports.append(report)
        return reports

    def remove(self, model_id: str) -> None:
        """Uninstall a model (a linked import loses only its link, never the user's folder)."""
        with self._lock:
            models = self.installed()
            model = models.pop(model_id, None)
            if model is None:
                raise UnknownModelError(f"No installed model is called '{model_id}'.")
            self._save(models)
            folder = self.root / model.folder
            try:
                if folder.is_symlink() or model.linked:
                    if os.name == "nt" and folder.is_dir():
                        os.rmdir(folder)  # a directory link on Windows; the target stays
                    else:
                        folder.unlink(missing_ok=True)
                elif folder.exists():
                    shutil.rmtree(folder)
            except OSError as exc:
                raise ModelStoreError(
                    f"{model.name} was uninstalled but {folder} could not be deleted ({exc})."
                ) from None
        self.discard_download(model_id)
        logger.info("removed model %s", model_id)
