"""Screenshots of the main window at the sizes people use, for the README and for checking the
layout by eye: ``docs/window-1280x820.png`` (the default window size) and
``docs/window-1920x1080.png``, plus ``...-before-run.png`` of each (a photo open, nothing run
yet: the status bar already names the device the run will use), and
``docs/window-automatic-WxH.png``: a held-out outdoor photo (``rc-car-gray.jpg``, never
trained on) coloured automatically, without a single hint.

Each is the real app (a ``MainWindow`` with its real worker thread and engine): the bundled
astronaut sample opened, its sample hints added, three variants coloured by the default
engine (instant), the second variant chosen. Run it again whenever the window or the shipped
weights change::

    QT_QPA_PLATFORM=offscreen python docs/make_screenshots.py            # both sizes
    QT_QPA_PLATFORM=offscreen python docs/make_screenshots.py --size 1280x820

The README shows ``docs/window-1280x820.png``. Nothing of the person's own settings is
touched: the app runs with a temporary ``PIGGYDESK_HOME``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
SAMPLE = ROOT / "resources" / "samples" / "astronaut-gray.jpg"
# A photo the instant engine never saw in training (held out), coloured with no hints at all
UNSEEN_SAMPLE = ROOT / "resources" / "samples" / "rc-car-gray.jpg"


def _wait(app, condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"make_screenshots: timed out waiting for {what}")
        app.processEvents()
        time.sleep(0.02)


def _settle(app, seconds: float = 0.5) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def _open(app, width: int, height: int, photo: Path):
    """A real main window of this size, shown, with ``photo`` opened."""
    from piggydesk.ui.main_window import MainWindow

    window = MainWindow(check_recovery=False)
    window.resize(width, height)
    window.show()
    _wait(app, lambda: bool(window.runs.engines), 300, "the engine list")
    if not window.open_path(photo):
        raise SystemExit(f"make_screenshots: could not open {photo}")
    return window


def _colorize(app, window) -> None:
    finished = []
    window.run_finished.connect(finished.append)
    if window.colorize() is None:
        raise SystemExit("make_screenshots: the run did not start")
    _wait(app, lambda: bool(finished), 600, "the colorized result")
    _settle(app)


def _close(app, window) -> None:
    window.undo_stack.setClean()
    window.close()
    window.deleteLater()
    _settle(app, 0.2)


def shoot(app, width: int, height: int, out_dir: Path, variants: int = 3) -> list[Path]:
    from piggydesk.ui.smoke import sample_hints
    from piggydesk.ui.undo import DocumentCommand

    window = _open(app, width, height, SAMPLE)
    model = window.model
    hints = sample_hints(SAMPLE)
    window.push(DocumentCommand(model, "Add sample hints", [model.cmd_add_hint(h) for h in hints]))
    window.edit_setting("num_variants", variants)
    _settle(app)
    written = []
    before = out_dir / f"window-{width}x{height}-before-run.png"
    window.grab().save(str(before))
    written.append(before)
    _colorize(app, window)
    if variants > 1:
        window.choose_variant(len(model.runs()) - 1, 1)
        _settle(app)
    after = out_dir / f"window-{width}x{height}.png"
    window.grab().save(str(after))
    written.append(after)
    _close(app, window)
    return written


def shoot_automatic(app, width: int, height: int, out_dir: Path) -> Path:
    """The held-out toy-car photo opened and coloured once by the default engine, no hints:
    what a person sees first (``docs/window-automatic-WxH.png``)."""
    window = _open(app, width, height, UNSEEN_SAMPLE)
    window.edit_setting("num_variants", 1)
    _settle(app)
    _colorize(app, window)
    out = out_dir / f"window-automatic-{width}x{height}.png"
    window.grab().save(str(out))
    _close(app, window)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", action="append", default=None, metavar="WxH",
                        help="window size (repeatable; default 1280x820 and 1920x1080)")
    parser.add_argument("--out", type=Path, default=DOCS)
    args = parser.parse_args(argv)
    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in (args.size or
                                                                   ["1280x820", "1920x1080"])]
    home = tempfile.mkdtemp(prefix="piggydesk-screenshots-")
    os.environ["PIGGYDESK_HOME"] = home
    try:
        from piggydesk.ui.app import create_application

        app = create_application([])
        for width, height in sizes:
            for path in shoot(app, width, height, args.out):
                print(path)
            print(shoot_automatic(app, width, height, args.out))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
