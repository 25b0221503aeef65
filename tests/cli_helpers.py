"""The command line as the CLI tests run it: ``python -m piggydesk`` in a subprocess, and its
one error line."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BATCH_PROGRESS_LINE = re.compile(r"\d+/\d+ .+: (failed after )?\d+\.\d s")


def piggydesk(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m piggydesk ARGS`` and capture its output as text."""
    return subprocess.run(
        [sys.executable, "-m", "piggydesk", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
    )


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """The one error line on stderr (batch's per-photo progress lines aside)."""
    lines = [ln for ln in result.stderr.strip().splitlines()
             if not BATCH_PROGRESS_LINE.fullmatch(ln)]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]
