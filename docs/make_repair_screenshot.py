"""Screenshot of the repair tools: ``docs/repair-tools.png``.

The real app (a ``MainWindow`` with its real worker thread) opens a scanned-looking print made
from the bundled cat sample (enlarged, faded, sepia, tilted 3 degrees, with seeded dust,
hairline scratches and a torn corner: ``core.repair.synthetic``), then, as a person would with
the Repair dock: straightens it along a guide line, lets PiggyDesk find the dust and
scratches (the red marks), brushes one more mark, sets levels and removes the sepia cast,
and picks the brush again so its outline shows. ``--colorize`` also writes
``docs/repair-tools-colorized.png`` after a run of the default engine on the repaired photo.

    QT_QPA_PLATFORM=offscreen python docs/make_repair_screenshot.py [--colorize]

The app runs with a temporary ``PIGGYDESK_HOME``; nothing of the person's own is touched.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

SAMPLE = ROOT / "resources" / "samples" / "chelsea-gray.jpg"
TILT = 3.0


def _pump(app, seconds: float = 0.3) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def make_scan(path: Path) -> None:
    from piggydesk.core.color import lab_to_rgb
    from piggydesk.core.imaging import load_photo
    from piggydesk.core.repair.synthetic import add_defects

    lightness = load_photo(SAMPLE).lightness
    big = np.clip(cv2.resize(lightness, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC), 0, 100)
    damage = add_defects(big * 0.55 + 30, seed=3, specks=120)
    lab = np.dstack([damage.lightness, np.full_like(big, 3.0), np.full_like(big, 14.0)])
    rgb = lab_to_rgb(lab)
    h, w = big.shape
    turn = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), TILT, 1.0)
    rgb = cv2.warpAffine(rgb, turn, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    cv2.imwrite(str(path), (np.clip(rgb[..., ::-1], 0, 1) * 255).round().astype(np.uint8))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DOCS)
    parser.add_argument("--colorize", action="store_true")
    args = parser.parse_args(argv)
    home = tempfile.mkdtemp(prefix="piggydesk-repair-shot-")
    os.environ["PIGGYDESK_HOME"] = home
    try:
        from piggydesk.ui.app import create_application
        from piggydesk.ui.main_window import MainWindow

        app = create_application([])
        scan = Path(home) / "old-print-scan.jpg"
        make_scan(scan)
        window = MainWindow(check_recovery=False)
        window.resize(1440, 900)
        window.show()
        window.runs.set_live(False)
        deadline = time.monotonic() + 300
        while not window.runs.engines and time.monotonic() < deadline:
            _pump(app, 0.1)
        if not window.open_path(scan):
            raise SystemExit(f"make_repair_screenshot: could not open {scan}")
        repair = window.repair
        h, w = window.canvas.image_size()
        # the print's top edge runs at TILT degrees: a guide line along it levels the photo
        slope = np.tan(np.radians(TILT))
        repair.straighten_along(100.0, 300.0, 700.0, 300.0 - 600.0 * slope)
        repair.find_defects()
        repair.panel.brush_size.setValue(5)
        repair.paint([(520.0, 470.0), (560.0, 480.0), (600.0, 478.0)], erase=False)
        repair.panel.levels.setValue(80)
        repair.panel.cast.setValue(100)
        repair.set_tool("brush")
        repair.panel.set_tool("brush")
        _pump(app, 1.0)
        out = args.out / "repair-tools.png"
        window.grab().save(str(out))
        print(out)
        if args.colorize:
            finished = []
            window.run_finished.connect(finished.append)
            repair.panel.show_mask.setChecked(False)
            window.colorize()
            deadline = time.monotonic() + 600
            while not finished and time.monotonic() < deadline:
                _pump(app, 0.1)
            _pump(app, 1.0)
            out = args.out / "repair-tools-colorized.png"
            window.grab().save(str(out))
            print(out)
        window.undo_stack.setClean()
        window.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
