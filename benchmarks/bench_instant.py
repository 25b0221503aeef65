"""Benchmark the instant engine on this machine (not a test; numbers go to RESULTS.md).

    python benchmarks/bench_instant.py [--repeats 9] [--threads 2] [--json out.json]

Measures, after one warm-up run each: the network alone at 256 and 512 px; ``colorize`` on a
512-px photo (working size 512: resize, network, chroma upsampling, recombination); a re-run
after moving one hint (the live-editing case); ``suggest_colors`` after a run; three variants;
and a 12-megapixel photo from its loaded lightness to the full-resolution result. Reports
median, min and max wall seconds and the CPU seconds of the median run, plus the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from piggydesk.core.hints import Hint
from piggydesk.core.imaging import load_photo
from piggydesk.core.paths import resources_dir
from piggydesk.engines.base import ColorizeRequest
from piggydesk.engines.instant import create


def timed(func, repeats: int) -> dict:
    func()  # warm-up
    walls, cpus = [], []
    for _ in range(repeats):
        c = time.process_time()
        t = time.perf_counter()
        func()
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    order = np.argsort(walls)
    return {
        "median_s": statistics.median(walls),
        "min_s": min(walls),
        "max_s": max(walls),
        "cpu_median_s": float(cpus[int(order[len(order) // 2])]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model-path", default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    engine = create("cpu", args.model_path)
    photo = load_photo(resources_dir() / "samples" / "astronaut-gray.jpg")
    L = photo.lightness
    results: dict = {"load_average_before": os.getloadavg(), "threads": args.threads,
                     "net_long_side": engine.net_long_side}

    net = engine.net
    for side in (256, 512):
        x = torch.rand(1, 1, side, side) * 100
        z2, z1 = torch.zeros(1, 2, side, side), torch.zeros(1, 1, side, side)

        def run_net(x=x, z2=z2, z1=z1):
            with torch.inference_mode():
                net(x, z2, z1)

        results[f"network_{side}px"] = timed(run_net, args.repeats)

    def auto():
        engine._results.clear()  # no cache: the first run on a photo
        engine._prepared.clear()
        engine.colorize(ColorizeRequest(lightness=L))

    results["colorize_512px_auto"] = timed(auto, args.repeats)

    rng = np.random.default_rng(0)
    hints = [Hint(x=float(x), y=float(y), color=(200, 120, 60)) for x, y in
             rng.integers(20, 490, size=(5, 2))]

    def rerun_after_hint_move():
        moved = list(hints)
        moved[0] = moved[0].moved_to(float(rng.integers(20, 490)), float(rng.integers(20, 490)))
        engine.colorize(ColorizeRequest(lightness=L, hints=tuple(moved)))

    results["colorize_512px_hint_edit"] = timed(rerun_after_hint_move, args.repeats)
    request = ColorizeRequest(lightness=L, hints=tuple(hints))
    engine.colorize(request)
    results["suggest_colors"] = timed(lambda: engine.suggest_colors(request, 256, 256, 8),
                                      args.repeats)
    def variants():
        engine._results.clear()
        engine.colorize(ColorizeRequest(lightness=L, num_variants=3, seed=1))

    results["colorize_512px_3_variants"] = timed(variants, max(3, args.repeats // 3))
    big = cv2.resize(L, (4000, 3000), interpolation=cv2.INTER_CUBIC)
    big = np.clip(big + np.random.default_rng(1).normal(0, 1.0, big.shape), 0, 100)
    big = big.astype(np.float32)

    def twelve_mp():
        engine._results.clear()
        engine._prepared.clear()
        engine.colorize(ColorizeRequest(lightness=big))

    results["colorize_12mp_auto"] = timed(twelve_mp, max(3, args.repeats // 3))
    results["load_average_after"] = os.getloadavg()
    for name, value in results.items():
        if isinstance(value, dict):
            print(f"{name:28s} median {value['median_s']:.3f} s  "
                  f"[{value['min_s']:.3f}-{value['max_s']:.3f}]  cpu {value['cpu_median_s']:.3f} s")
        else:
            print(f"{name:28s} {value}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
