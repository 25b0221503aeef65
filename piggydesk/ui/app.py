"""Start the desktop application: ``piggydesk`` (no arguments) or ``piggydesk photo.jpg``.

Sets up logging to a file in the user's log folder, the ``QApplication`` (organisation and
application names for ``QSettings``, HiDPI pixmaps), the main window, and opens the photo or
project given on the command line.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence

from PySide6.QtCore import QCoreApplication, Qt, QTimer, QtMsgType, qInstallMessageHandler
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication, QWidget

from piggydesk import frozen
from piggydesk.core import paths
from piggydesk.logging_setup import setup_logging
from piggydesk.ui.settings import APPLICATION, ORGANISATION
from piggydesk.ui.worker import abandoned_workers

logger = logging.getLogger(__name__)


def app_icon() -> QIcon:
    icon = QIcon()
    folder = paths.resources_dir() / "icons"
    for size in (16, 32, 48, 64, 128, 256, 512):
        for name in (f"piggydesk-{size}.png", f"icon_{size}.png", f"{size}.png"):
            candidate = folder / name
            if candidate.exists():
                icon.addFile(str(candidate))
                break
    return icon


QT_LIBS_HINT = (
    "Qt could not start. On Linux this is usually a missing system library: "
    "'bash installer/linux/qt-system-libs.sh check' in a source checkout names it "
    "(make run installs it), or see 'The app does not start on Linux' in the README."
)


class _StartupMessages:
    """Qt's messages while the application starts. When Qt gives up (no usable platform plugin,
    no display), it aborts the process: no Python exception is raised, so the messages seen so
    far are written to ``startup-error.log`` before that happens."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, mode: QtMsgType, context: object, message: str) -> None:
        sys.stderr.write(message + "\n")  # what Qt itself would have printed
        if mode == QtMsgType.QtFatalMsg:
            logger.critical("Qt: %s", message)
            log = frozen.write_startup_log("\n".join([*self.seen, message, QT_LIBS_HINT]))
            logging.shutdown()
            if log is not None:
                sys.stderr.write(f"PiggyDesk could not start; details in {log}\n")
        elif mode != QtMsgType.QtDebugMsg:
            self.seen.append(message)
            logger.warning("Qt: %s", message)


def create_application(argv: Sequence[str] | None = None) -> QApplication:
    app = QApplication.instance()
    if app is None:
        qInstallMessageHandler(_StartupMessages())
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
            Qt.HighDpiScaleFactorRoundingPolicy.PassThrough
        )
        app = QApplication([sys.argv[0] if sys.argv else "piggydesk", *(argv or [])])
    QCoreApplication.setOrganizationName(ORGANISATION)
    QCoreApplication.setApplicationName(APPLICATION)
    QGuiApplication.setApplicationDisplayName(APPLICATION)
    QGuiApplication.setDesktopFileName("piggydesk")
    icon = app_icon()
    if not icon.isNull():
        app.setWindowIcon(icon)
    return app  # type: ignore[return-value]


def _quit_on_interrupt(window: QWidget) -> None:
    """Ctrl+C in the terminal closes the window properly (unsaved-changes question, worker
    joined) instead of being ignored while Qt's event loop runs."""
    try:
        signal.signal(signal.SIGINT, lambda *_: QTimer.singleShot(0, window.close))
    except ValueError:  # not the main thread (embedded use): leave signals alone
        return
    heartbeat = QTimer(window)  # lets the Python interpreter run its signal handlers
    heartbeat.timeout.connect(lambda: None)
    heartbeat.start(500)


def main(argv: Sequence[str] | None = None, *, exit_if_stuck: bool = True) -> int:
    """Run the GUI; ``argv`` may hold one photo or ``.piggy`` project to open.

    ``exit_if_stuck``: when a model run could not be stopped in time on quit, end the process
    here rather than wait for it (callers that keep the process, like tests, pass False).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--smoke-test" in argv:  # packaging check: open, colorize a sample, quit (ui/smoke.py)
        from piggydesk.ui.smoke import run_smoke_test

        setup_logging()
        return run_smoke_test(create_application([]), argv)
    parser = argparse.ArgumentParser(prog="piggydesk", description="PiggyDesk desktop app")
    parser.add_argument("path", nargs="?", help="a photo or .piggy project to open")
    args, qt_args = parser.parse_known_args(argv)
    setup_logging()
    app = create_application(qt_args)
    from piggydesk.ui.main_window import MainWindow

    window = MainWindow()
    window.show()
    qInstallMessageHandler(None)  # started: Qt's own message handling from here on
    _quit_on_interrupt(window)
    if args.path:
        QTimer.singleShot(0, lambda: window.open_path(args.path))
    logger.info("PiggyDesk started")
    code = int(app.exec())
    if exit_if_stuck and abandoned_workers():
        # A run was still inside a step that cannot be interrupted when the window closed
        # (everything was saved and the worker was asked to stop): leave without joining it,
        # as Qt would abort on a thread that is still running at interpreter exit.
        logger.info("PiggyDesk quit (a model run was left to end with the process)")
        logging.shutdown()
        os._exit(code)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
