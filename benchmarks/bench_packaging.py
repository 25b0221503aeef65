"""Benchmark of the frozen (PyInstaller) app on this machine (not a test; run by hand).

Given a built one-folder app (``python installer/build.py --no-archive``), measures

- the bundle's size and its biggest parts;
- the start-up time to the first window: ``PiggyDesk --smoke-test`` offscreen, from just
  before the process is started to the moment the main window is shown (the smoke report's
  ``window_shown_at``), and on to the first colorized result;
- the frozen ``piggydesk-cli self-test`` (start, load torch and the default engine, colorize
  the bundled sample, check it), wall-clock;
- the same GUI start-up from the source tree (``python -m piggydesk.ui.app --smoke-test``),
  for comparison.

Usage: ``python benchmarks/bench_packaging.py [APP_DIR] [--repeats 5] [--json FILE]``
(APP_DIR defaults to ``dist/PiggyDesk``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "installer"))

from build import biggest_parts, folder_size  # noqa: E402

logger = logging.getLogger("bench_packaging")


def _env(home: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PIGGYDESK_RESOURCES"}
    env.update(PIGGYDESK_HOME=home, QT_QPA_PLATFORM="offscreen", HF_HUB_OFFLINE="1")
    return env


def gui_start(command: list[str]) -> dict[str, float]:
    """One smoke run: seconds to the first window and to the first result."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "smoke.json"
        started = time.time()
        proc = subprocess.run([*command, "--smoke-test", "--smoke-report", str(report)],
                              env=_env(tmp), capture_output=True, text=True, check=False)
        ended = time.time()
        if proc.returncode != 0:
            raise RuntimeError(f"smoke test failed: {proc.stderr[-2000:]}")
        data = json.loads(report.read_text())
    return {
        "first_window_s": data["window_shown_at"] - started,
        "first_result_s": data["colorized_at"] - started,
        "exit_s": ended - started,
        "engine": data["engine"],
    }


def self_test(cli: Path) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        proc = subprocess.run([str(cli), "self-test"], env=_env(tmp), capture_output=True,
                              text=True, check=False)
        seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"self-test failed: {proc.stderr[-2000:]}")
    return seconds


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s [{min(values):.2f}-{max(values):.2f}]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("app_dir", nargs="?", type=Path, default=ROOT / "dist" / "PiggyDesk")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    app = args.app_dir.resolve()
    results: dict[str, object] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_average_before": os.getloadavg(),
        "bundle_mb": round(folder_size(app) / 2**20, 1),
        "biggest_parts_mb": {k: round(v / 2**20, 1) for k, v in biggest_parts(app, 15)},
    }
    frozen_runs = [gui_start([str(app / "PiggyDesk")]) for _ in range(args.repeats)]
    source_runs = [gui_start([sys.executable, "-m", "piggydesk.ui.app"])
                   for _ in range(args.repeats)]
    self_tests = [self_test(app / "piggydesk-cli") for _ in range(args.repeats)]
    results.update(
        engine=frozen_runs[0]["engine"],
        frozen_first_window=summary([r["first_window_s"] for r in frozen_runs]),
        frozen_first_result=summary([r["first_result_s"] for r in frozen_runs]),
        frozen_first_window_first_run_s=round(frozen_runs[0]["first_window_s"], 2),
        source_first_window=summary([r["first_window_s"] for r in source_runs]),
        frozen_self_test=summary(self_tests),
        load_average_after=os.getloadavg(),
    )
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
