"""``piggydesk models ...``: the command-line face of the model store.

``add_models_parser(subparsers)`` registers ``models list | download ID | import PATH [--link] |
verify [ID] | remove ID [--yes] | path | assemble --base SD_DIR [--guider DIR | --controlnet DIR]
[--decoder DIR] -o BUNDLE``. Every handler is ``func(args) -> int``; failures are raised as
:class:`~piggydesk.modelstore.errors.ModelStoreError` (one readable line, printed by the CLI).
Output goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from piggydesk.core.progress import CancelToken
from piggydesk.modelstore.catalog import format_size
from piggydesk.modelstore.download import DownloadProgress
from piggydesk.modelstore.errors import DownloadCancelled, ModelStoreError
from piggydesk.modelstore.importer import import_model
from piggydesk.modelstore.store import InstalledModel, ModelStore

logger = logging.getLogger(__name__)


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def format_progress(p: DownloadProgress) -> str:
    """One line: percentage, bytes, speed, time left and the current file."""
    return (
        f"{p.fraction * 100:5.1f}%  {format_size(p.done)} / {format_size(p.total)}  "
        f"{format_size(p.speed)}/s  {format_duration(p.eta)} left  "
        f"[{p.file_index}/{p.file_count}] {p.file_path}"
    )


def _store(args: argparse.Namespace) -> ModelStore:
    root = getattr(args, "models_dir", None)
    return ModelStore(root=root)


def cmd_list(args: argparse.Namespace) -> int:
    store = _store(args)
    installed = store.installed()
    rows = [("ID", "KIND", "SIZE", "STATUS", "LICENSE", "NAME")]
    for entry in store.catalog:
        if entry.id in installed:
            status = "installed"
        elif store.partial_bytes(entry.id):
            status = f"paused ({format_size(store.partial_bytes(entry.id))})"
        else:
            status = "available"
        rows.append((entry.id, entry.kind, format_size(entry.total_size, entry.size_is_exact),
                     status, entry.license, entry.name))
    for model in installed.values():
        if store.catalog.find(model.id) is None:
            status = "imported (linked)" if model.linked else "imported"
            rows.append((model.id, model.kind, format_size(model.size), status,
                         model.license or "-", model.name))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1])
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    store = _store(args)
    entry = store.catalog.get(args.id)
    if store.is_installed(entry.id):
        print(f"{entry.name} is already installed in {store.path(entry.id)}.")
        return 0
    cancel = CancelToken()
    last = [0.0]
    interactive = sys.stderr.isatty()

    def show(p: DownloadProgress) -> None:
        now = time.monotonic()
        if now - last[0] < (0.2 if interactive else 5.0) and p.done < p.total:
            return
        last[0] = now
        line = format_progress(p)
        if interactive:
            sys.stderr.write("\r" + line[:120].ljust(120))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    print(f"Downloading {entry.name} ({format_size(entry.total_size, entry.size_is_exact)}) "
          f"into {store.root}")
    try:
        model = store.download(entry.id, progress=show, cancel=cancel)
    except KeyboardInterrupt:
        cancel.cancel()
        print("Download paused. Run the same command again to resume where it stopped.")
        return 130
    except DownloadCancelled:
        print("Download paused. Run the same command again to resume where it stopped.")
        return 130
    finally:
        if interactive:
            sys.stderr.write("\n")
    print(f"Installed {model.name} in {store.path(model.id)} ({checksum_summary(model)}).")
    return 0


def checksum_summary(model: InstalledModel) -> str:
    """How the files of a fresh download were checked: never "verified" without a sha256."""
    recorded = sorted(p for p, rec in model.files.items() if rec.checksum == "first_download")
    if not recorded:
        return "all files verified"
    checked = len(model.files) - len(recorded)
    return (
        f"{checked} files verified against the catalogue; {len(recorded)} have no published "
        f"sha256, recorded on first download: {', '.join(recorded)}"
    )


def cmd_import(args: argparse.Namespace) -> int:
    store = _store(args)
    model = import_model(store, args.path, link=args.link)
    how = "linked" if model.linked else "copied"
    print(f"Imported {model.name} as '{model.id}' ({model.kind}, {how}) in {store.path(model.id)}.")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    store = _store(args)
    reports = store.verify(args.id)
    if not reports:
        print("No models are installed.")
        return 0
    failed = 0
    for report in reports:
        if report.ok:
            print(f"{report.model_id}: OK ({report.checked} files)")
        else:
            failed += 1
            print(f"{report.model_id}: FAILED - " + "; ".join(report.problems))
    if failed:
        raise ModelStoreError(
            f"{failed} model(s) failed verification; remove and download (or import) them again."
        )
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    store = _store(args)
    model = store.get(args.id)
    if not args.yes:
        if not sys.stdin.isatty():
            raise ModelStoreError(f"Add --yes to remove {model.id} without a question.")
        answer = input(f"Remove {model.name} ({format_size(model.size)})? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing removed.")
            return 1
    store.remove(model.id)
    print(f"Removed {model.name}.")
    return 0


def cmd_path(args: argparse.Namespace) -> int:
    print(_store(args).root)
    return 0


def cmd_assemble(args: argparse.Namespace) -> int:
    try:
        from piggydesk.pipelines import bundle  # torch: only for this command
    except ModuleNotFoundError as exc:
        raise ModelStoreError(f"Bundle assembly is not available in this build ({exc}).") from None
    bundle_error = getattr(bundle, "BundleError", ())
    try:
        out = bundle.assemble_bundle(
            Path(args.base),
            Path(args.output),
            guider_dir=Path(args.guider) if args.guider else None,
            decoder_dir=Path(args.decoder) if args.decoder else None,
            controlnet_dir=Path(args.controlnet) if args.controlnet else None,
        )
    except bundle_error as exc:  # the bundle module's user-facing error: one clear line
        raise ModelStoreError(str(exc)) from None
    print(f"Assembled bundle in {out}. Import it with: piggydesk models import {out}")
    return 0


def add_models_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``models`` command group on the main CLI's subparsers."""
    models = subparsers.add_parser(
        "models",
        help="list, download, import, verify and remove diffusion models",
        description="Manage the diffusion models the piggyback engine uses.",
    )
    models.set_defaults(func=lambda args: (models.print_help(), 0)[1])
    sub = models.add_subparsers(dest="models_command", metavar="COMMAND")

    p = sub.add_parser("list", help="installed and available models with sizes")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("download", help="download a catalogue model (resumes if interrupted)")
    p.add_argument("id", help="catalogue id, see 'models list'")
    p.set_defaults(func=cmd_download)

    p = sub.add_parser("import", help="import a local diffusers SD 1.x folder or a bundle")
    p.add_argument("path", help="folder containing model_index.json")
    p.add_argument("--link", action="store_true",
                   help="link to the folder instead of copying it")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("verify", help="re-hash installed files")
    p.add_argument("id", nargs="?", default=None, help="only this model")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("remove", help="uninstall a model")
    p.add_argument("id")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("path", help="print the models folder")
    p.set_defaults(func=cmd_path)

    p = sub.add_parser("assemble", help="build a piggyback bundle from an SD 1.x base")
    p.add_argument("--base", required=True, help="diffusers SD 1.x folder")
    p.add_argument("--guider", default=None, help="trained guider folder")
    p.add_argument("--decoder", default=None, help="trained lightness-aware decoder folder")
    p.add_argument("--controlnet", default=None, metavar="DIR",
                   help="a diffusers ControlNet folder (e.g. a colorization ControlNet) to guide "
                   "the base instead of a trained guider")
    p.add_argument("-o", "--output", required=True, help="bundle folder to create")
    p.set_defaults(func=cmd_assemble)
    return models
