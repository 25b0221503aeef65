"""Command-line start-up: seconds from starting ``piggydesk COMMAND`` to its first output, and to
its exit, for the informational commands and a colorize with each CPU engine.

    python benchmarks/bench_cli_startup.py --repeats 5

Each run is a fresh process (``python -m piggydesk ...``) with an empty ``PIGGYDESK_HOME``;
"first output" is the first byte on stdout or stderr. The medians and ranges go to
``benchmarks/RESULTS.md`` by hand, with the machine's load. What each command may import is a
test (``tests/test_cli_startup.py``); this only says how long it takes.
"""

from __future__ import annotations

import argparse
import os
import selectors
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "resources" / "samples"


def commands(out: Path) -> dict[str, list[str]]:
    photo = str(SAMPLES / "astronaut-gray.jpg")
    return {
        "--version": ["--version"],
        "--help": ["--help"],
        "models list": ["models", "list"],
        "colorize, classic engine (512 px, 81 hints)": [
            "colorize", photo, "-o", str(out / "classic.png"), "--overwrite", "--engine",
            "classic", "--hints", str(SAMPLES / "astronaut-hints.json")],
        "colorize, instant engine (512 px)": [
            "colorize", photo, "-o", str(out / "instant.png"), "--overwrite", "--engine",
            "instant", "--device", "cpu"],
    }


def run_once(args: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "piggydesk", *args], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = None
    selector = selectors.DefaultSelector()
    for stream in (process.stdout, process.stderr):
        selector.register(stream, selectors.EVENT_READ)
    open_streams = 2
    while open_streams:
        for key, _ in selector.select():
            data = os.read(key.fileobj.fileno(), 65536)
            if not data:
                selector.unregister(key.fileobj)
                open_streams -= 1
            elif first is None:
                first = time.perf_counter() - started
    code = process.wait()
    total = time.perf_counter() - started
    return (first if first is not None else total), total, code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        env = dict(os.environ, PIGGYDESK_HOME=str(out / "home"))
        print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print("| command | first output, median [min-max] | exit, median |")
        print("| --- | --- | --- |")
        for name, argv in commands(out).items():
            run_once(argv, env)  # warm-up (file cache)
            firsts, totals = [], []
            for _ in range(args.repeats):
                first, total, code = run_once(argv, env)
                if code != 0:
                    raise SystemExit(f"{name}: exit status {code}")
                firsts.append(first)
                totals.append(total)
            print(f"| `piggydesk {' '.join(argv[:2]) if argv[0] != 'colorize' else name}` | "
                  f"{statistics.median(firsts):.2f} s [{min(firsts):.2f}-{max(firsts):.2f}] | "
                  f"{statistics.median(totals):.2f} s |", flush=True)
        print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
