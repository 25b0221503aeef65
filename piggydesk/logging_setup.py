"""Logging for the command line: everything goes to a log file in the user's log folder.

The CLI keeps the terminal for results and one-line errors; tracebacks, engine timings and
library warnings go to ``piggydesk.log`` in ``core.paths.log_dir()`` (rotated at 2 MB, three
old files kept), which is where an error line points the user.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

from piggydesk.core import paths

LOG_NAME = "piggydesk.log"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_file() -> Path:
    return paths.log_dir() / LOG_NAME


def setup_logging(verbose: bool = False) -> Path | None:
    """Send INFO and above to the log file (and to stderr when ``verbose``); return the file.

    Safe to call more than once. Returns ``None`` when the log folder cannot be written, in
    which case logging stays off rather than failing the command.
    """
    root = logging.getLogger()
    path: Path | None = None
    existing = [h for h in root.handlers if isinstance(h, logging.handlers.RotatingFileHandler)]
    if existing:
        path = Path(existing[0].baseFilename)
    else:
        try:
            path = log_file()
            handler = logging.handlers.RotatingFileHandler(
                path, maxBytes=2_000_000, backupCount=3, encoding="utf-8"
            )
        except OSError:
            path = None
        else:
            handler.setFormatter(logging.Formatter(FORMAT))
            root.addHandler(handler)
    if verbose and not any(getattr(h, "_piggydesk_console", False) for h in root.handlers):
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        console._piggydesk_console = True  # type: ignore[attr-defined]
        root.addHandler(console)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    logging.captureWarnings(True)  # library warnings go to the log, not the terminal
    return path
