"""The one PyInstaller build that every ``frozen`` test shares, started early in the background.

The build (``installer/build.py --no-archive`` into ``build/frozen-test``, about 1 GB) takes
minutes and is mostly one process, as are most tests; on a machine with two or more cores
the two run side by side. So ``conftest.py`` moves the frozen tests to the end of the run
and, once collection has chosen at least one of them, calls :func:`start`; the
``frozen_app`` fixture in ``test_frozen.py`` calls :func:`wait` (which starts the build
itself if nothing did). The build's output goes to ``build/frozen-test/build.log``.
``PIGGYDESK_TEST_BUILD_EARLY=0`` turns the early start off (the build then runs when the first
frozen test needs it, after the other tests), to compare the two on a given machine.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = ROOT / "build" / "frozen-test"
DIST = BUILD_DIR / "dist"
LOG = BUILD_DIR / "build.log"

_process: subprocess.Popen | None = None
_started_at = 0.0


def wanted() -> bool:
    """Whether a build is needed at all: Linux, no prebuilt app given, PyInstaller present."""
    return (
        sys.platform.startswith("linux")
        and not os.environ.get("PIGGYDESK_FROZEN_DIST")
        and importlib.util.find_spec("PyInstaller") is not None
    )


def start_early() -> bool:
    """Whether to start the build at collection (default) rather than at the first use."""
    return wanted() and os.environ.get("PIGGYDESK_TEST_BUILD_EARLY", "1") != "0"


def start() -> None:
    """Start the build in the background (once)."""
    global _process, _started_at
    if _process is not None:
        return
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    with LOG.open("w", encoding="utf-8") as log:
        _process = subprocess.Popen(
            [sys.executable, str(ROOT / "installer" / "build.py"), "--no-archive",
             "--dist", str(DIST), "--work", str(BUILD_DIR / "work")],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    _started_at = time.perf_counter()


def wait() -> tuple[int, str, float]:
    """Wait for the build (starting it if needed): exit code, the log's tail, and how long
    this call waited in seconds."""
    start()
    assert _process is not None
    waited = time.perf_counter()
    code = _process.wait()
    tail = LOG.read_text(encoding="utf-8", errors="replace")[-6000:] if LOG.exists() else ""
    return code, tail, time.perf_counter() - waited


def stop() -> None:
    """End a build that is still running when the session ends early (``-x``, Ctrl+C)."""
    if _process is not None and _process.poll() is None:
        _process.terminate()
        try:
            _process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            _process.kill()
