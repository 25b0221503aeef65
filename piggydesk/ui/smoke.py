"""GUI smoke test for the installed/frozen app: ``PiggyDesk --smoke-test [PHOTO]``.

Opens the real main window, loads a bundled sample photo (or ``PHOTO``) with its sample
colour hints, colorizes it with the default engine (instant when its weights are there), checks that a coloured result of the
photo's size came back, and quits with exit code 0 shortly after; any failure (no sample, no
engine, a failed run, nothing after ``--smoke-timeout`` seconds) quits with exit code 1 and a
sentence on stderr. ``--smoke-report FILE`` writes a JSON report with wall-clock timestamps
(``window_shown_at``, ``colorized_at``) so a caller can measure the time to the first window.

It never touches the person's settings or autosaves: unless ``PIGGYDESK_HOME`` is set, it
runs with a temporary one. Used by ``tests/test_frozen.py`` and the release workflow.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from piggydesk.core import paths
from piggydesk.core.hints import Hint, load_hints_file
from piggydesk.engines.registry import DEFAULT_ENGINE

logger = logging.getLogger(__name__)

SMOKE_FLAG = "--smoke-test"
SAMPLE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
QUIT_DELAY_MS = 500
DIALOG_POLL_MS = 200
MIN_CHROMA = 1.0 / 255.0  # mean |R-G|+|G-B| above this: the result is not grey


def wants_smoke_test(argv: Sequence[str]) -> bool:
    return SMOKE_FLAG in argv


def parse_smoke_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="PiggyDesk --smoke-test", add_help=False)
    parser.add_argument(SMOKE_FLAG, action="store_true")
    parser.add_argument("--smoke-report", type=Path, default=None)
    parser.add_argument("--smoke-timeout", type=float, default=600.0)
    parser.add_argument("photo", nargs="?", type=Path, default=None)
    args, _unknown = parser.parse_known_args(list(argv))
    return args


def bundled_sample() -> Path | None:
    """The first sample photo shipped in ``resources/samples`` (None when there is none)."""
    folder = paths.resources_dir() / "samples"
    if not folder.is_dir():
        return None
    photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in SAMPLE_SUFFIXES)
    grey = [p for p in photos if p.stem.endswith(("-gray", "-grey"))]
    return (grey or photos or [None])[0]


def sample_hints(photo: Path) -> list[Hint]:
    """The colour hints shipped with a sample (``astronaut-gray.jpg`` ->
    ``astronaut-hints.json``), so engines that need hints have some; [] when there are none."""
    stem = photo.stem.removesuffix("-gray").removesuffix("-grey")
    path = photo.with_name(f"{stem}-hints.json")
    return list(load_hints_file(path)) if path.is_file() else []


class SmokeTest:
    """Drives a ``MainWindow`` through open -> colorize -> quit, recording what happened."""

    def __init__(self, app: QApplication, photo: Path | None, report: Path | None,
                 timeout_s: float) -> None:
        # Imported here: the main window pulls in the whole UI, which the caller may not need.
        from piggydesk.ui.main_window import MainWindow
        from piggydesk.ui.worker import JobKind, MessageKind, ModelWorker

        self._kinds = (JobKind, MessageKind)
        self.app = app
        self.report_path = report
        self.report: dict[str, object] = {"ok": False, "started_at": time.time()}
        self.exit_code: int | None = None
        self.photo = photo or bundled_sample()
        # Our slot is connected before the window's, so we see messages first.
        self.worker = ModelWorker()
        self.worker.message.connect(self._on_message)
        self.window = MainWindow(worker=self.worker, check_recovery=False)
        self.window.run_finished.connect(self._on_finished)
        self._job: int | None = None
        self._started_run = 0.0
        self._watchdog = QTimer()
        self._watchdog.setSingleShot(True)
        self._watchdog.timeout.connect(
            lambda: self.fail(f"nothing happened within {timeout_s:.0f} s")
        )
        self._watchdog.start(int(timeout_s * 1000))
        # Nothing in the smoke run should ask a question: a dialog means something went wrong
        # (it would otherwise wait for a click that never comes).
        self._dialog_guard = QTimer()
        self._dialog_guard.timeout.connect(self._close_dialogs)
        self._dialog_guard.start(DIALOG_POLL_MS)

    def start(self) -> None:
        self.window.show()
        QTimer.singleShot(0, self._shown)

    def _shown(self) -> None:
        self.report["window_shown_at"] = time.time()
        self._write_report()
        logger.info("smoke test: window shown")
        if self.photo is None:
            self.fail("no sample photo found in resources/samples")

    def _on_message(self, msg) -> None:
        job_kind, message_kind = self._kinds
        if msg.job_kind is job_kind.PROBE and msg.kind is message_kind.FINISHED:
            # Let the window handle the engine list first, then run.
            QTimer.singleShot(0, self._open_and_colorize)
        elif msg.job_kind is job_kind.PROBE and msg.kind is message_kind.FAILED:
            self.fail(f"could not list the engines: {msg.error}")
        elif (msg.job_kind is job_kind.COLORIZE and msg.job_id == self._job
              and msg.kind in (message_kind.FAILED, message_kind.CANCELLED)):
            self.fail(f"colorizing failed: {msg.error or msg.kind.name.lower()}")

    def _open_and_colorize(self) -> None:
        if self.exit_code is not None or self.photo is None:
            return
        engines = {e.name: e for e in self.window.runs.engines}
        default = engines.get(DEFAULT_ENGINE)
        if default is not None and default.available:
            if self.window.model.value("engine") != DEFAULT_ENGINE:
                self.window.edit_setting("engine", DEFAULT_ENGINE)
        if not self.window.open_path(self.photo):
            self.fail(f"could not open {self.photo}")
            return
        hints = sample_hints(self.photo)
        if hints:
            from piggydesk.ui.undo import DocumentCommand

            model = self.window.model
            self.window.push(DocumentCommand(
                model, "Add sample hints", [model.cmd_add_hint(hint) for hint in hints]
            ))
        self.report["hints"] = len(hints)
        self.report["photo"] = str(self.photo)
        self.report["engine"] = self.window.model.value("engine")
        self._started_run = time.time()
        self._job = self.window.colorize()
        if self._job is None:
            self.fail("the window did not start a colorize run (no engine available?)")

    def _on_finished(self, msg) -> None:
        if msg.job_id != self._job:
            return
        result = self.window.current_result()
        photo = self.window.model.photo
        if result is None or photo is None:
            self.fail("the run finished but the window shows no result")
            return
        result = np.asarray(result, dtype=np.float32)
        if result.shape[:2] != tuple(photo.size) or result.ndim != 3:
            self.fail(f"result has shape {result.shape}, the photo is {photo.size}")
            return
        chroma = float(np.mean(np.abs(result[..., 0] - result[..., 1])
                               + np.abs(result[..., 1] - result[..., 2])))
        if chroma < MIN_CHROMA:
            self.fail("the result is still grey")
            return
        now = time.time()
        self.report.update(ok=True, colorized_at=now, colorize_seconds=now - self._started_run,
                           mean_chroma=chroma, result_shape=list(result.shape))
        logger.info("smoke test passed in %.1f s", now - float(self.report["started_at"]))
        self.finish(0)

    def fail(self, reason: str) -> None:
        if self.exit_code is not None:
            return
        self.report["error"] = reason
        sys.stderr.write(f"PiggyDesk smoke test failed: {reason}\n")
        logger.error("smoke test failed: %s", reason)
        self.finish(1)

    def finish(self, code: int) -> None:
        if self.exit_code is not None:
            return
        self.exit_code = code
        self.report["exit_code"] = code
        self._watchdog.stop()
        self._write_report()
        QTimer.singleShot(QUIT_DELAY_MS, self._quit_now)  # let the result be painted first

    def _close_dialogs(self) -> None:
        modal = self.app.activeModalWidget()
        if modal is None:
            return
        text = getattr(modal, "text", lambda: "")() or modal.windowTitle()
        logger.info("smoke test: closing dialog %r", text)
        modal.close()
        self.fail(f"a dialog appeared: {' '.join(str(text).split())}")

    def _quit_now(self) -> None:
        if self.app.activeModalWidget() is not None:  # still unwinding a dialog's loop
            QTimer.singleShot(DIALOG_POLL_MS, self._quit_now)
            return
        self._dialog_guard.stop()
        self.worker.shutdown()
        # Leave nothing behind in a long-lived QApplication (tests): the window's children,
        # its application-wide key filter included, go with it.
        self.window.hide()
        self.window.deleteLater()
        self.worker.deleteLater()
        self.app.exit(self.exit_code or 0)

    def _write_report(self) -> None:
        if self.report_path is None:
            return
        try:
            self.report_path.write_text(json.dumps(self.report, indent=2))
        except OSError as exc:
            logger.warning("cannot write the smoke report: %s", exc)


def run_smoke_test(app: QApplication, argv: Sequence[str]) -> int:
    """Run the smoke test in ``app``'s event loop; returns the process exit code."""
    args = parse_smoke_args(argv)
    with tempfile.TemporaryDirectory(prefix="piggydesk-smoke-") as home:
        if not os.environ.get("PIGGYDESK_HOME"):
            os.environ["PIGGYDESK_HOME"] = home
        smoke = SmokeTest(app, args.photo, args.smoke_report, args.smoke_timeout)
        smoke.start()
        app.exec()
        if smoke.exit_code is None:  # the loop ended some other way (window closed)
            smoke.worker.shutdown()
            return 1
        return smoke.exit_code
