"""Helpers for the double-clickable (PyInstaller) build of PiggyDesk, and the desktop app's
launcher from source too (``piggydesk-gui``, which ``make run`` starts, calls :func:`launch`).

The frozen app is one folder: an executable next to ``_internal/`` (``sys._MEIPASS``), which
holds the Python modules, the libraries and PiggyDesk's ``resources/``. This module is what
the executable runs first (``installer/launcher.py`` calls :func:`launch`). It

- points ``core.paths.resources_dir()`` at the bundled ``resources/`` (``PIGGYDESK_RESOURCES``);
- gives a windowed Windows build somewhere to write when ``sys.stdout``/``sys.stderr`` are
  ``None`` (tqdm and logging would otherwise crash on the first progress bar);
- sends the command line to the CLI (``piggydesk self-test``, ``piggydesk colorize ...``) or
  to the GUI (no arguments, photos to open, ``--smoke-test``);
- turns a failure at start into a crash report in the user's log directory and a readable
  dialog (``piggydesk.ui.startup_error``) instead of a console traceback.

It imports neither Qt nor torch at module level: the GUI and the CLI are imported lazily, so
the same launcher serves both and the CLI never loads Qt.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from piggydesk.core import paths, process_env

logger = logging.getLogger(__name__)

CRASH_LOG_NAME = "startup-error.log"
SMOKE_FLAG = "--smoke-test"
CLI_FLAGS = ("-h", "--help", "--version", "-V")
NO_DIALOG_ENV = "PIGGYDESK_NO_ERROR_DIALOG"


def is_frozen() -> bool:
    """True inside the PyInstaller build."""
    return bool(getattr(sys, "frozen", False)) and hasattr(sys, "_MEIPASS")


def bundle_dir() -> Path:
    """The folder that holds the bundled files: ``sys._MEIPASS`` when frozen, else the repo."""
    if is_frozen():
        return Path(sys._MEIPASS)  # type: ignore[attr-defined]
    return Path(__file__).resolve().parent.parent


def resource_path(*parts: str) -> Path:
    """A file under the shipped ``resources/`` folder, frozen or not."""
    if is_frozen() and not os.environ.get("PIGGYDESK_RESOURCES"):
        return bundle_dir().joinpath("resources", *parts)
    return paths.resources_dir().joinpath(*parts)


def configure_environment() -> None:
    """Prepare the process before any app module is imported (safe to call more than once)."""
    if is_frozen():
        os.environ.setdefault("PIGGYDESK_RESOURCES", str(bundle_dir() / "resources"))
    process_env.prepare()
    # A windowed Windows executable has no console: stdout/stderr are None there.
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115


def wants_cli(argv: Sequence[str], executable: str | None = None) -> bool:
    """Whether this command line is for the CLI rather than the GUI.

    The console executable (``piggydesk-cli``, or a link of that name) always runs the CLI. The windowed one runs the
    CLI when the first argument is a subcommand (a word that is not an existing file, such as
    ``self-test``) or ``--help``/``--version``; no argument, photo paths and GUI flags open
    the window.
    """
    # argv[0], not sys.executable: on Linux piggydesk-cli is a symbolic link to PiggyDesk.
    name = Path(executable or (sys.argv[0] if sys.argv and sys.argv[0] else sys.executable))
    name = name.stem.lower()
    if name.endswith("-cli"):
        return True
    if not argv:
        return False
    first = argv[0]
    if first in CLI_FLAGS:
        return True
    if first.startswith("-"):
        return False
    return not Path(first).exists()


def crash_report(exc: BaseException) -> Path | None:
    """Write the traceback of a failed start to the user's log directory; return its path."""
    return write_startup_log("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))


def write_startup_log(text: str) -> Path | None:
    """Append ``text`` (a traceback, or Qt's last words before it aborts) to
    ``startup-error.log`` in the user's log directory; return its path."""
    try:
        from piggydesk import __version__

        path = paths.log_dir() / CRASH_LOG_NAME
        stamp = _dt.datetime.now().isoformat(timespec="seconds")
        with path.open("a", encoding="utf-8") as fh:
            fh.write(f"--- {stamp} PiggyDesk {__version__} ({sys.platform}, frozen={is_frozen()})\n")
            fh.write(text if text.endswith("\n") else text + "\n")
        return path
    except OSError:
        return None


def friendly_message(exc: BaseException) -> str:
    """One sentence a person can act on, for the error dialog's main text."""
    if isinstance(exc, ModuleNotFoundError):
        return (
            f"A part of PiggyDesk is missing ({exc.name}). Please reinstall PiggyDesk; "
            "if this keeps happening, send the log file below to the developers."
        )
    if isinstance(exc, MemoryError):
        return "The computer ran out of memory while PiggyDesk was starting."
    if isinstance(exc, OSError):
        return f"PiggyDesk could not read or write a file it needs: {exc}"
    text = str(exc).strip()
    return text or f"An unexpected {type(exc).__name__} stopped PiggyDesk from starting."


def _dialogs_allowed(argv: Sequence[str]) -> bool:
    if SMOKE_FLAG in argv or os.environ.get(NO_DIALOG_ENV):
        return False
    return os.environ.get("QT_QPA_PLATFORM", "") not in ("offscreen", "minimal")


def _native_message_box(title: str, text: str) -> bool:
    """Windows' own message box (no Qt needed): used when Qt itself failed to load."""
    if sys.platform != "win32":
        return False
    try:
        import ctypes

        ctypes.windll.user32.MessageBoxW(None, text, title, 0x10)  # MB_ICONERROR
        return True
    except (AttributeError, OSError):
        return False


def report_startup_error(
    exc: BaseException, argv: Sequence[str] = (), *, dialog: bool = True
) -> None:
    """Tell the person that PiggyDesk could not start: log file, stderr, and a dialog."""
    log_path = crash_report(exc)
    message = friendly_message(exc)
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    logger.error("PiggyDesk could not start: %s", message, exc_info=exc)
    where = f"\nDetails were written to {log_path}" if log_path else ""
    sys.stderr.write(f"PiggyDesk could not start: {message}{where}\n")
    if dialog and _dialogs_allowed(argv):
        _show_dialog(message, details, log_path)


def _show_dialog(message: str, details: str, log_path: Path | None) -> None:
    try:
        from piggydesk.ui.startup_error import show_startup_error

        show_startup_error(message, details, log_path)
    except Exception:  # Qt may be what failed: fall back to the OS dialog
        where = f"\nDetails were written to {log_path}" if log_path else ""
        _native_message_box("PiggyDesk could not start", f"{message}{where}")


def _run_cli(argv: list[str]) -> int:
    from piggydesk import cli

    return int(cli.main(argv) or 0)


def _run_gui(argv: list[str]) -> int:
    from piggydesk.ui import app

    return int(app.main(argv) or 0)


def launch(argv: Sequence[str] | None = None, executable: str | None = None) -> int:
    """The frozen executable's entry point: route to the CLI or the GUI; never a traceback."""
    args = list(sys.argv[1:] if argv is None else argv)
    configure_environment()
    cli = wants_cli(args, executable)
    try:
        return _run_cli(args) if cli else _run_gui(args)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the last line of defence: a dialog, not a traceback
        report_startup_error(exc, args, dialog=not cli)
        return 1
