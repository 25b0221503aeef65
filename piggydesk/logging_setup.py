"""Logging for every PiggyDesk program: the one place that attaches handlers to the root logger.

* The app and the CLI log to ``piggydesk.log`` in ``core.paths.log_dir()`` (rotated at 2 MB,
  three old files kept), which is where an error line or dialog points the user; the CLI keeps
  the terminal for results and one-line errors unless ``--verbose`` adds a console handler.
* A training run logs to its own file in its output folder (appending, so a resumed run keeps
  one log, never rotated) and to the terminal.

Modules themselves only ever do ``logger = logging.getLogger(__name__)``.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path

from piggydesk.core import paths

LOG_NAME = "piggydesk.log"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CONSOLE_FORMAT = "%(levelname)s %(name)s: %(message)s"
_TAG = "_piggydesk_handler"  # marks handlers attached here: "file" or "console"


def log_file() -> Path:
    return paths.log_dir() / LOG_NAME


def _ours(kind: str) -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if getattr(h, _TAG, None) == kind]


def setup_logging(
    path: str | Path | None = None, *, console: bool = False, verbose: bool = False
) -> Path | None:
    """Log INFO and above to a file (and to stderr with ``console``); return the file.

    ``path`` None: the user's rotated ``piggydesk.log``; otherwise that file, appended to.
    ``verbose`` also logs DEBUG. Safe to call again: a call for another file replaces the
    earlier file handler (tests run several training scripts in one process). Returns
    ``None`` when the file cannot be opened, in which case logging to a file stays off
    rather than failing the program.
    """
    root = logging.getLogger()
    wanted = Path(path) if path is not None else None
    current = _ours("file")
    log_path: Path | None = Path(current[0].baseFilename) if current else None
    if not current or (wanted is not None and log_path != Path(os.path.abspath(wanted))):
        close_logging("file")
        log_path = None
        try:
            if wanted is None:
                handler: logging.Handler = logging.handlers.RotatingFileHandler(
                    log_file(), maxBytes=2_000_000, backupCount=3, encoding="utf-8"
                )
            else:
                wanted.parent.mkdir(parents=True, exist_ok=True)
                handler = logging.FileHandler(wanted, encoding="utf-8")
        except OSError:
            pass
        else:
            handler.setFormatter(logging.Formatter(FORMAT))
            setattr(handler, _TAG, "file")
            root.addHandler(handler)
            log_path = Path(handler.baseFilename)  # type: ignore[attr-defined]
    if console and not _ours("console"):
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(logging.Formatter(CONSOLE_FORMAT))
        setattr(stream, _TAG, "console")
        root.addHandler(stream)
    level = logging.DEBUG if verbose else logging.INFO
    if root.level > level or root.level == logging.NOTSET:
        root.setLevel(level)
    logging.captureWarnings(True)  # library warnings go to the log, not the terminal
    return log_path


def close_logging(kind: str | None = None) -> None:
    """Detach and close the handlers ``setup_logging`` attached (``"file"``, ``"console"``, all)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        tag = getattr(handler, _TAG, None)
        if tag is not None and (kind is None or tag == kind):
            root.removeHandler(handler)
            handler.close()
