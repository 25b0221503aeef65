"""End-to-end benchmark of the piggyback engine as the app runs it (not a test; run by hand).

Where ``bench_piggyback.py`` times the parts, this times what a user waits for, through the
real engine (``engines.piggyback.create`` on a full-size bundle on disk, verified, loaded in
the engine's CPU dtype): load time, then several variants in a row (the first call of a
compiled engine includes the compile), peak resident memory, and each variant's chroma saved
so that eager and compiled runs can be compared. One subprocess per configuration.

Usage::

    python benchmarks/bench_piggyback_engine.py assemble --workdir ~/runs/bench
    python benchmarks/bench_piggyback_engine.py run --workdir ~/runs/bench [--bundle NAME] \\
        --compile off on --size 256 --steps 20 --calls 2 [--out bench_engine.json]

The work happens at the bundle's native size (512 for SD 1.5; a copy of the bundle whose
UNet config says ``sample_size: 32`` gives the 256-px case), whatever ``--size`` the photo has.

The bundle is full-size SD 1.5 with random weights (speed does not depend on the values).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.measure import current_rss_gib, peak_rss_gib  # noqa: E402


def worker(
    workdir: Path, bundle: str, compile_mode: str, size: int, steps: int, calls: int
) -> dict:
    import numpy as np

    os.environ["PIGGYDESK_COMPILE"] = compile_mode
    from piggydesk.engines.base import ColorizeRequest
    from piggydesk.engines.piggyback import create

    t = time.perf_counter()
    engine = create("cpu", workdir / bundle)
    result = {
        "bundle": bundle,
        "native_size": engine.native_size,
        "compile": compile_mode,
        "compiled": bool(engine.pipe.compiled),
        "dtype": str(engine.pipe.unet.dtype),
        "load_s": time.perf_counter() - t,
        "rss_after_load_gib": current_rss_gib(),
        "peak_after_load_gib": peak_rss_gib(),
        "size": size,
        "steps": steps,
        "calls_s": [],
    }
    light = np.linspace(10, 90, size * size, dtype=np.float32).reshape(size, size)
    for _ in range(calls):
        t = time.perf_counter()
        variants = engine.colorize(ColorizeRequest(lightness=light, steps=steps, seed=7))
        result["calls_s"].append(time.perf_counter() - t)
    np.save(workdir / f"rgb_{bundle}_{compile_mode}_{steps}.npy", variants[0].rgb)
    result["peak_rss_gib"] = peak_rss_gib()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("assemble", "run", "worker"))
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--bundle", default="bundle", help="bundle folder name in --workdir")
    parser.add_argument("--compile", nargs="+", default=["off", "on"])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--calls", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "bench_piggyback_engine.json"))
    args = parser.parse_args()
    workdir = Path(args.workdir).expanduser()
    if args.command == "assemble":
        from benchmarks.bench_piggyback import run_assemble

        workdir.mkdir(parents=True, exist_ok=True)
        print(json.dumps(run_assemble(workdir)))
        return 0
    if args.command == "worker":
        res = worker(workdir, args.bundle, args.compile[0], args.size, args.steps, args.calls)
        print("RESULT " + json.dumps(res), flush=True)
        return 0
    report = {"date": time.strftime("%Y-%m-%d %H:%M"), "load_before": os.getloadavg(), "runs": []}
    for mode in args.compile:
        cmd = [sys.executable, __file__, "worker", "--workdir", str(workdir), "--compile", mode,
               "--bundle", args.bundle,
               "--size", str(args.size), "--steps", str(args.steps), "--calls", str(args.calls)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
        if not lines:
            print(f"{mode}: failed\n" + proc.stderr[-3000:], file=sys.stderr)
            continue
        run = json.loads(lines[-1][7:])
        report["runs"].append(run)
        print(json.dumps(run), flush=True)
    import numpy as np

    ref = workdir / f"rgb_{args.bundle}_off_{args.steps}.npy"
    for run in report["runs"]:
        other = workdir / f"rgb_{args.bundle}_{run['compile']}_{args.steps}.npy"
        if ref.is_file() and other.is_file() and run["compile"] != "off":
            a, b = np.load(ref), np.load(other)
            run["max_rgb_diff_vs_eager"] = float(np.abs(a - b).max())
            run["mean_rgb_diff_vs_eager"] = float(np.abs(a - b).mean())
    report["load_after"] = os.getloadavg()
    Path(args.out).write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
