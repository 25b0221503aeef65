"""How promptly the GUI thread answers while quitting during a run and while saving and opening
a big project (not a test; run by hand).

A 5 ms ``QTimer`` ticks in the GUI thread; the largest gap between ticks while the window
quits, saves or opens is how long the window could not repaint or react. The run is a fake
engine whose step ignores the cancel token for ``--stuck`` seconds (like a decode without a
cancel check), so quitting has to give up waiting after ``MainWindow.quit_wait_s``. The
project holds a ``--megapixels`` photo with two runs of two variants.

Usage: ``QT_QPA_PLATFORM=offscreen python benchmarks/bench_gui_latency.py [--megapixels 12]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402
from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication, QMessageBox  # noqa: E402

from piggydesk.engines.base import EngineInfo, Variant  # noqa: E402
from piggydesk.ui.main_window import MainWindow  # noqa: E402
from piggydesk.ui.worker import ModelWorker  # noqa: E402


class Ticks:
    def __init__(self) -> None:
        self.times: list[float] = []
        self.timer = QTimer()
        self.timer.setInterval(5)
        self.timer.timeout.connect(lambda: self.times.append(time.monotonic()))

    def __enter__(self) -> Ticks:
        self.start = time.monotonic()
        self.timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self.timer.stop()
        self.end = time.monotonic()

    def report(self) -> dict:
        stamps = [self.start, *self.times, self.end]
        return {"seconds": round(self.end - self.start, 3),
                "largest_gap_ms": round(1000 * max(b - a for a, b in zip(stamps, stamps[1:])), 1)}


class Engine:
    name = "test"

    def __init__(self, stuck_s: float) -> None:
        self.stuck_s = stuck_s
        self.stick = False  # the next run's step ignores cancel (the run quit is measured on)
        self.started = threading.Event()

    def colorize(self, request, progress=None, cancel=None):
        if self.stick:
            self.started.set()
            time.sleep(self.stuck_s)
            return []
        h, w = request.image_size
        rng = np.random.default_rng(request.seed)
        return [Variant(rng.random((h, w, 3), dtype=np.float32),
                        request.settings.for_variant(self.name, i))
                for i in range(request.num_variants)]

    def unload(self) -> None:
        pass


def wait(signal, timeout_ms: int = 600000) -> None:
    loop = QEventLoop()
    signal.connect(loop.quit)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megapixels", type=float, default=12.0)
    parser.add_argument("--stuck", type=float, default=8.0, help="seconds the step ignores cancel")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="piggydesk-bench-")
    os.environ["PIGGYDESK_HOME"] = home
    app = QApplication.instance() or QApplication([])
    QMessageBox.question = staticmethod(lambda *a, **k: QMessageBox.StandardButton.Discard)
    engine = Engine(args.stuck)
    info = EngineInfo("test", "Test", "fake engine", available=True)
    worker = ModelWorker(engine_factory=lambda *a: engine, prober=lambda: ([info], ["cpu"]),
                         describe_device=lambda p: "CPU")
    window = MainWindow(worker=worker, check_recovery=False)
    window.show()
    wait(window.runs.engines_changed)
    width = int((args.megapixels * 1e6 * 4 / 3) ** 0.5)
    height = int(width * 3 / 4)
    photo = Path(home) / "scan.png"
    gray = np.tile(np.linspace(0, 65535, width, dtype=np.uint16), (height, 1))
    Image.fromarray(gray).save(photo)
    results: dict = {"megapixels": round(width * height / 1e6, 1), "cpus": os.cpu_count(),
                     "load": os.getloadavg()}
    with Ticks() as t:
        window.open_path(photo)
    results["open_photo"] = t.report()
    window.edit_setting("random_seed", False)
    window.edit_setting("num_variants", 2)
    for _ in range(2):
        window.colorize()
        wait(window.run_finished)
    project = Path(home) / "work.piggy"
    with Ticks() as t:
        window._save_to(project)
    results["save_project"] = t.report()
    with Ticks() as t:
        window.open_path(project)
    results["open_project"] = t.report()
    engine.stick = True
    window.colorize()
    while not engine.started.is_set():
        app.processEvents()
    window.undo_stack.setClean()
    with Ticks() as t:
        window.close()
    results["quit_during_stuck_step"] = {**t.report(), "quit_wait_s": window.quit_wait_s}
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    os._exit(0)  # the stuck step is still sleeping in the worker thread


if __name__ == "__main__":
    raise SystemExit(main())
