"""Import a model the user already has: a diffusers Stable Diffusion 1.x folder or a PiggyDesk bundle.

The folder is validated before anything is copied: ``model_index.json`` must be there, the
SD 1.x components (unet, vae, text_encoder, tokenizer, scheduler) must each have their config
and, for the networks, ``.safetensors`` weights with a readable header (pickled ``.bin`` /
``.ckpt`` weights are refused: loading them could run code). A bundle (it has
``piggydesk.json``) must also have every extra component its ``model_index.json`` lists, and
files whose sha256 the bundle declares must match. The model is then copied (pickles and other
formats left behind) or, with ``link=True``, symlinked, and every file's size and sha256 is
recorded so ``verify`` can re-check it later.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from piggydesk.core.checksum import sha256_file
from piggydesk.core.progress import CancelToken
from piggydesk.modelstore.errors import InvalidModelFolderError, ModelStoreError
from piggydesk.modelstore.store import FileRecord, InstalledModel, ModelStore, now_iso

logger = logging.getLogger(__name__)

REQUIRED_COMPONENTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
WEIGHTED_COMPONENTS = ("unet", "vae", "text_encoder")
IGNORED_COMPONENTS = {"safety_checker", "feature_extractor", "image_encoder"}
PICKLE_SUFFIXES = (".bin", ".ckpt", ".pt", ".pth", ".pkl")
SKIPPED_ON_COPY = ("*.bin", "*.ckpt", "*.pt", "*.pth", "*.pkl", "*.msgpack", "*.h5", "*.onnx",
                   "*.onnx_data", ".git", ".cache", "*.part", "*.part.json")
BUNDLE_MANIFEST = "piggydesk.json"
MAX_HEADER = 100 * 1024 * 1024


@dataclass(frozen=True)
class FolderInfo:
    """What a valid model folder contains."""

    path: Path
    kind: str  # "base" | "bundle"
    name: str
    components: tuple[str, ...]
    declared_sha256: dict[str, str]


def _fail(path: Path, why: str) -> InvalidModelFolderError:
    return InvalidModelFolderError(f"{path} cannot be imported: {why}.")


def _read_json(path: Path, folder: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _fail(folder, f"{path.relative_to(folder)} is missing") from None
    except (OSError, ValueError):
        raise _fail(folder, f"{path.relative_to(folder)} is not valid JSON") from None
    if not isinstance(data, dict):
        raise _fail(folder, f"{path.relative_to(folder)} is not a JSON object")
    return data


def check_safetensors(path: Path) -> None:
    """Raise ``ValueError`` unless ``path`` starts with a well-formed safetensors header."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        raw = fh.read(8)
        if len(raw) != 8:
            raise ValueError("too short")
        (length,) = struct.unpack("<Q", raw)
        if length <= 1 or length > min(size - 8, MAX_HEADER):
            raise ValueError("bad header length")
        header = json.loads(fh.read(length).decode("utf-8"))
    if not isinstance(header, dict):
        raise ValueError("header is not a JSON object")


def _check_weights(folder: Path, component: str) -> None:
    comp = folder / component
    weights = sorted(comp.glob("*.safetensors"))
    if not weights:
        pickles = [p.name for p in comp.iterdir() if p.suffix in PICKLE_SUFFIXES]
        if pickles:
            raise _fail(
                folder,
                f"'{component}' only has pickled weights ({', '.join(pickles)}); PiggyDesk loads "
                "only .safetensors files. Convert the model to safetensors first",
            )
        raise _fail(folder, f"'{component}' has no .safetensors weights")
    for weight in weights:
        try:
            check_safetensors(weight)
        except (OSError, ValueError, UnicodeDecodeError):
            raise _fail(
                folder, f"{component}/{weight.name} is not a valid safetensors file (truncated?)"
            ) from None


def _declared_hashes(manifest: dict) -> dict[str, str]:
    """sha256 declared by a bundle's piggydesk.json (a path->hash map or a list of files)."""
    raw = manifest.get("sha256", manifest.get("files", {}))
    result: dict[str, str] = {}
    if isinstance(raw, dict):
        for path, value in raw.items():
            digest = value.get("sha256") if isinstance(value, dict) else value
            if isinstance(digest, str):
                result[str(path)] = digest.lower()
    elif isinstance(raw, list):
        for item in raw:
            if isinstance(item, dict) and isinstance(item.get("sha256"), str) and "path" in item:
                result[str(item["path"])] = item["sha256"].lower()
    return result


def inspect_model_folder(path: str | Path) -> FolderInfo:
    """Validate a folder offered for import; raise ``InvalidModelFolderError`` naming the problem."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise InvalidModelFolderError(f"{folder} is not a folder.")
    if not (folder / "model_index.json").is_file():
        raise _fail(
            folder,
            "model_index.json is missing. Choose the folder that contains model_index.json "
            "(a diffusers Stable Diffusion 1.x model or a PiggyDesk bundle)",
        )
    index = _read_json(folder / "model_index.json", folder)
    class_name = str(index.get("_class_name", ""))
    if "XL" in class_name or "text_encoder_2" in index:
        raise _fail(folder, "it is a Stable Diffusion XL model; PiggyDesk needs an SD 1.x model")
    missing = [c for c in REQUIRED_COMPONENTS if not (folder / c).is_dir()]
    if missing:
        raise _fail(folder, f"the component folder(s) {', '.join(missing)} are missing")
    for component in WEIGHTED_COMPONENTS:
        if not (folder / component / "config.json").is_file():
            raise _fail(folder, f"{component}/config.json is missing")
        _check_weights(folder, component)
    tokenizer = folder / "tokenizer"
    for name in ("vocab.json", "merges.txt"):
        if not (tokenizer / name).is_file():
            raise _fail(folder, f"tokenizer/{name} is missing")
    if not (folder / "scheduler" / "scheduler_config.json").is_file():
        raise _fail(folder, "scheduler/scheduler_config.json is missing")
    unet_config = _read_json(folder / "unet" / "config.json", folder)
    if unet_config.get("cross_attention_dim") in (1024, 2048):
        raise _fail(
            folder,
            "it is a Stable Diffusion 2.x/XL model (cross-attention width "
            f"{unet_config['cross_attention_dim']}); PiggyDesk needs an SD 1.x model",
        )

    kind, name, declared = "base", folder.name, {}
    components = [c for c in REQUIRED_COMPONENTS]
    if (folder / BUNDLE_MANIFEST).is_file():
        kind = "bundle"
        manifest = _read_json(folder / BUNDLE_MANIFEST, folder)
        name = str(manifest.get("name") or folder.name)
        declared = _declared_hashes(manifest)
        for component, spec in index.items():
            if component.startswith("_") or component in IGNORED_COMPONENTS:
                continue
            if component in REQUIRED_COMPONENTS or not isinstance(spec, list) or spec[0] is None:
                continue
            comp = folder / component
            if not comp.is_dir():
                raise _fail(folder, f"the bundle component '{component}' is missing")
            if any(comp.glob("*.safetensors")) or any(
                p.suffix in PICKLE_SUFFIXES for p in comp.iterdir()
            ):
                _check_weights(folder, component)
            components.append(component)
        for rel in declared:
            if not (folder / rel).is_file():
                raise _fail(folder, f"{rel}, listed in {BUNDLE_MANIFEST}, is missing")
    return FolderInfo(folder, kind, name, tuple(components), declared)


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._")
    return (slug or "model")[:48]


def _hash_tree(
    folder: Path,
    cancel: CancelToken,
    on_file: Callable[[str, int, int], None] | None,
) -> dict[str, FileRecord]:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    records = {}
    for i, path in enumerate(files, start=1):
        rel = path.relative_to(folder).as_posix()
        if on_file is not None:
            on_file(rel, i, len(files))
        records[rel] = FileRecord(path.stat().st_size, sha256_file(path, cancel), "import")
    return records


def import_model(
    store: ModelStore,
    path: str | Path,
    *,
    link: bool = False,
    model_id: str | None = None,
    cancel: CancelToken | None = None,
    on_file: Callable[[str, int, int], None] | None = None,
) -> InstalledModel:
    """Validate ``path`` and install it into ``store`` (copy, or symlink with ``link=True``)."""
    cancel = cancel or CancelToken()
    info = inspect_model_folder(path)
    source = info.path.resolve()
    new_id = store.unique_id(_slug(model_id or info.name))
    final = store.root / new_id
    if link:
        records = _hash_tree(source, cancel, on_file)
        try:
            os.symlink(source, final, target_is_directory=True)
        except OSError as exc:
            raise ModelStoreError(
                f"Could not link {source} into {store.root} ({exc.strerror or exc}); "
                "import it without --link to copy it instead."
            ) from None
    else:
        staging = store.staging_dir("import-" + new_id)
        if staging.exists():
            shutil.rmtree(staging)
        staging.parent.mkdir(parents=True, exist_ok=True)
        try:
            total = sum(p.stat().st_size for p in source.rglob("*") if p.is_file())
            free = shutil.disk_usage(store.root).free
            if free < total:
                raise ModelStoreError(
                    f"Not enough free disk space to copy {info.name} ({total} bytes needed, "
                    f"{free} free). Use --link to use the folder where it is."
                )
            shutil.copytree(source, staging, ignore=shutil.ignore_patterns(*SKIPPED_ON_COPY))
            records = _hash_tree(staging, cancel, on_file)
            os.replace(staging, final)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise ModelStoreError(f"Could not copy {source}: {exc.strerror or exc}.") from None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    for rel, digest in info.declared_sha256.items():
        rec = records.get(rel)
        if rec is None or rec.sha256 != digest:
            if link:
                final.unlink()
            else:
                shutil.rmtree(final, ignore_errors=True)
            raise InvalidModelFolderError(
                f"{source} cannot be imported: {rel} does not match the sha256 in "
                f"{BUNDLE_MANIFEST} (the bundle is corrupted or was modified)."
            )
    model = InstalledModel(
        id=new_id,
        name=info.name,
        kind=info.kind,
        folder=new_id,
        source="import",
        installed_at=now_iso(),
        files=records,
        license="",
        origin=str(source),
        linked=link,
    )
    store.register(model)
    logger.info("imported %s from %s (%s)", new_id, source, "linked" if link else "copied")
    return model
