"""The model catalogue: which models PiggyDesk can download, from where, and how to check them.

The catalogue is data (``resources/models/catalog.json``), not code: each entry names its
files with a local path, a URL pinned to a repository revision, a size and a sha256. A file
whose sha256 could not be checked when the catalogue was written has ``sha256: null`` and
``verify_on_first_download: true``: its hash is recorded on the first download and checked
from then on. ``size_exact: false`` marks sizes known only approximately (used for the
free-space check and progress, never to reject a file).

``redirect_hosts`` lists the hosts a download may be redirected to besides the file's own
(the Hub's LFS and Xet storage); a redirect anywhere else is refused by the downloader.

``PIGGYDESK_CATALOG`` points the store at another catalogue file (tests, mirrors).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from piggydesk.core.paths import resources_dir
from piggydesk.modelstore.errors import CatalogError, UnknownModelError

logger = logging.getLogger(__name__)

CATALOG_ENV = "PIGGYDESK_CATALOG"
KINDS = ("base", "bundle", "controlnet", "lora")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
_HOST_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


@dataclass(frozen=True)
class CatalogFile:
    """One file of a catalogue entry.

    ``path`` is where the file goes inside the model folder (POSIX, relative); ``url`` is
    where it comes from (may carry another name, e.g. an ``.fp16.`` variant stored under the
    plain diffusers name so the folder loads without a ``variant`` argument).
    """

    path: str
    url: str
    size: int
    sha256: str | None = None
    size_exact: bool = True
    verify_on_first_download: bool = False


@dataclass(frozen=True)
class CatalogEntry:
    id: str
    name: str
    kind: str
    description: str
    license: str
    enables: str
    files: tuple[CatalogFile, ...]
    license_url: str = ""
    source: str = ""
    revision: str = ""
    native_size: int | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def size_is_exact(self) -> bool:
        return all(f.size_exact for f in self.files)

    @property
    def fully_pinned(self) -> bool:
        """True when every file has a published sha256 in the catalogue."""
        return all(f.sha256 for f in self.files)


@dataclass(frozen=True)
class Catalog:
    entries: tuple[CatalogEntry, ...]
    path: Path | None = None
    redirect_hosts: tuple[str, ...] = ()

    def __iter__(self) -> Iterator[CatalogEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def ids(self) -> list[str]:
        return [e.id for e in self.entries]

    def find(self, model_id: str) -> CatalogEntry | None:
        for entry in self.entries:
            if entry.id == model_id:
                return entry
        return None

    def get(self, model_id: str) -> CatalogEntry:
        entry = self.find(model_id)
        if entry is None:
            known = ", ".join(self.ids()) or "none"
            raise UnknownModelError(
                f"There is no model called '{model_id}' in the catalogue (available: {known})."
            )
        return entry


def default_catalog_path() -> Path:
    override = os.environ.get(CATALOG_ENV)
    if override:
        return Path(override)
    return resources_dir() / "models" / "catalog.json"


def _require(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in obj:
        raise CatalogError(f"The model catalogue is malformed: {where} has no '{key}'.")
    value = obj[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise CatalogError(f"The model catalogue is malformed: '{key}' of {where} has the wrong type.")
    return value


def _parse_file(raw: Any, where: str) -> CatalogFile:
    if not isinstance(raw, dict):
        raise CatalogError(f"The model catalogue is malformed: a file of {where} is not an object.")
    path = _require(raw, "path", str, where)
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts or "\\" in path:
        raise CatalogError(f"The model catalogue is malformed: unsafe file path '{path}' in {where}.")
    url = _require(raw, "url", str, where)
    if not url.startswith(("https://", "http://")):
        raise CatalogError(f"The model catalogue is malformed: '{url}' in {where} is not an URL.")
    size = _require(raw, "size", int, where)
    if size < 0:
        raise CatalogError(f"The model catalogue is malformed: negative size for '{path}'.")
    sha = raw.get("sha256")
    if sha is not None:
        if not isinstance(sha, str) or not _SHA_RE.match(sha.lower()):
            raise CatalogError(f"The model catalogue is malformed: bad sha256 for '{path}' in {where}.")
        sha = sha.lower()
    verify_first = bool(raw.get("verify_on_first_download", sha is None))
    if sha is None and not verify_first:
        raise CatalogError(
            f"The model catalogue is malformed: '{path}' in {where} has neither a sha256 nor "
            "verify_on_first_download."
        )
    return CatalogFile(
        path=str(pure),
        url=url,
        size=size,
        sha256=sha,
        size_exact=bool(raw.get("size_exact", True)),
        verify_on_first_download=verify_first,
    )


def _parse_entry(raw: Any, index: int) -> CatalogEntry:
    if not isinstance(raw, dict):
        raise CatalogError(f"The model catalogue is malformed: model #{index + 1} is not an object.")
    model_id = _require(raw, "id", str, f"model #{index + 1}")
    if not _ID_RE.match(model_id):
        raise CatalogError(f"The model catalogue is malformed: '{model_id}' is not a valid model id.")
    where = f"model '{model_id}'"
    kind = _require(raw, "kind", str, where)
    if kind not in KINDS:
        raise CatalogError(f"The model catalogue is malformed: {where} has unknown kind '{kind}'.")
    files_raw = _require(raw, "files", list, where)
    if not files_raw:
        raise CatalogError(f"The model catalogue is malformed: {where} lists no files.")
    files = tuple(_parse_file(f, where) for f in files_raw)
    paths = [f.path for f in files]
    if len(set(paths)) != len(paths):
        raise CatalogError(f"The model catalogue is malformed: {where} lists a file twice.")
    declared_total = raw.get("total_size")
    if declared_total is not None and declared_total != sum(f.size for f in files):
        raise CatalogError(
            f"The model catalogue is malformed: total_size of {where} is not the sum of its files."
        )
    native = raw.get("native_size")
    return CatalogEntry(
        id=model_id,
        name=_require(raw, "name", str, where),
        kind=kind,
        description=_require(raw, "description", str, where),
        license=_require(raw, "license", str, where),
        enables=_require(raw, "enables", str, where),
        files=files,
        license_url=str(raw.get("license_url", "")),
        source=str(raw.get("source", "")),
        revision=str(raw.get("revision", "")),
        native_size=int(native) if isinstance(native, int) else None,
        notes=tuple(str(n) for n in raw.get("notes", ())),
    )


def parse_catalog(data: Any, path: Path | None = None) -> Catalog:
    """Validate catalogue JSON data and turn it into a :class:`Catalog`."""
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise CatalogError("The model catalogue is malformed: it needs a 'models' list.")
    entries = tuple(_parse_entry(raw, i) for i, raw in enumerate(data["models"]))
    ids = [e.id for e in entries]
    if len(set(ids)) != len(ids):
        raise CatalogError("The model catalogue is malformed: two models share an id.")
    hosts = data.get("redirect_hosts", [])
    if not isinstance(hosts, list) or not all(
        isinstance(h, str) and _HOST_RE.match(h.lower()) for h in hosts
    ):
        raise CatalogError(
            "The model catalogue is malformed: 'redirect_hosts' must be a list of host names."
        )
    return Catalog(entries=entries, path=path, redirect_hosts=tuple(h.lower() for h in hosts))


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Read the catalogue (default: ``PIGGYDESK_CATALOG`` or the shipped one)."""
    catalog_path = Path(path) if path is not None else default_catalog_path()
    try:
        text = catalog_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogError(f"The model catalogue {catalog_path} is missing.") from None
    except OSError as exc:
        raise CatalogError(f"The model catalogue {catalog_path} could not be read: {exc}.") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogError(
            f"The model catalogue {catalog_path} is not valid JSON (line {exc.lineno})."
        ) from None
    catalog = parse_catalog(data, catalog_path)
    logger.debug("loaded %d catalogue entries from %s", len(catalog), catalog_path)
    return catalog


def format_size(num_bytes: int | float, exact: bool = True) -> str:
    """Human size with decimal units (as Hugging Face shows them), '~' when approximate."""
    value = float(num_bytes)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            text = f"{value:.0f} {unit}" if unit == "B" else f"{value:.2f} {unit}"
            return text if exact else f"~{text}"
        value /= 1000
    return f"{value:.2f} TB"
