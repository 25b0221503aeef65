"""Benchmark of the classic engine (Levin et al. 2004) on this machine (not a test; run by hand).

Times whole ``colorize`` runs (working-size resize, hint rasterisation, matrix construction,
SuperLU factorisation, the two solves, full-resolution recombination) on the bundled samples
at the default 512-px working size, and the stages of the solver separately. Reports the
median and spread of the wall-clock time and of the process CPU time (CPU time is less
disturbed by other jobs sharing the machine), and the load average when it ran.

Usage: ``python benchmarks/bench_classic.py [--repeats 7] [--size 512] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.measure import wall_and_cpu  # noqa: E402
from piggydesk.core import propagation  # noqa: E402
from piggydesk.core.hints import Hint, load_hints_file, rasterize_hints  # noqa: E402
from piggydesk.core.imaging import load_photo  # noqa: E402
from piggydesk.core.recombine import recombine, resize_lightness  # noqa: E402
from piggydesk.core.sizing import working_shape  # noqa: E402
from piggydesk.engines import classic  # noqa: E402
from piggydesk.engines.base import ColorizeRequest  # noqa: E402

logger = logging.getLogger("bench_classic")
SAMPLES = ROOT / "resources" / "samples"


def _grid_hints(photo_size: tuple[int, int], reference: Path, step: int = 56) -> list[Hint]:
    """Hints on a grid, coloured from the colour reference (as ``astronaut-hints.json``)."""
    ref = load_photo(reference).rgb
    h, w = photo_size
    hints = []
    for y in range(step // 2, h, step):
        for x in range(step // 2, w, step):
            colour = ref[max(y - 2, 0) : y + 3, max(x - 2, 0) : x + 3].reshape(-1, 3).mean(0)
            hints.append(Hint(x, y, tuple(int(round(c * 255)) for c in colour), 2))
    return hints


def _summary(values: list[float]) -> dict:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


def bench_photo(name: str, hints: list[Hint], size: int, repeats: int) -> dict:
    photo = load_photo(SAMPLES / f"{name}-gray.jpg")
    request = ColorizeRequest(lightness=photo.lightness, hints=tuple(hints), working_size=size)
    engine = classic.create()
    engine.colorize(request)  # warm-up: imports, the cached nested-dissection ordering
    walls, cpus = wall_and_cpu(lambda: engine.colorize(request), repeats)

    # The stages, for the same request.
    work = working_shape(*photo.size, size)
    lightness = resize_lightness(photo.lightness, work)
    ab, mask = rasterize_hints(hints, photo.size, work)
    fixed = mask[0] > 0.5
    order = propagation.nested_dissection_order(*work)
    y = lightness.astype(np.float64) / 100.0
    stages = {}
    stages["build matrix"], _ = wall_and_cpu(lambda: propagation.build_system(y, fixed, order), repeats)
    matrix = propagation.build_system(y, fixed, order)
    import scipy.sparse.linalg as spla

    def factorise():
        return spla.splu(
            matrix, permc_spec="NATURAL", diag_pivot_thresh=0.0, options={"SymmetricMode": True}
        )

    stages["factorise"], _ = wall_and_cpu(factorise, repeats)
    lu = factorise()
    rhs = np.ascontiguousarray(
        np.where(fixed[None], ab, 0).reshape(2, -1)[:, order].T, dtype=np.float32
    )
    stages["solve a, b"], _ = wall_and_cpu(lambda: lu.solve(rhs), repeats)
    chroma = np.zeros((*work, 2), np.float32)
    stages["recombine"], _ = wall_and_cpu(lambda: recombine(photo.lightness, chroma), repeats)
    return {
        "photo": f"{name}-gray.jpg",
        "photo_size": list(photo.size),
        "working_size": list(work),
        "unknowns": int(work[0] * work[1]),
        "hints": len(hints),
        "factor_nonzeros": int(lu.L.nnz + lu.U.nnz),
        "wall_s": _summary(walls),
        "cpu_s": _summary(cpus),
        "stages_wall_median_s": {k: statistics.median(v) for k, v in stages.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)

    runs = [
        ("astronaut", load_hints_file(SAMPLES / "astronaut-hints.json")),
        ("coffee", _grid_hints((400, 600), SAMPLES / "coffee-color.jpg")),
    ]
    load_before = os.getloadavg()
    results = [bench_photo(name, hints, args.size, args.repeats) for name, hints in runs]
    report = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "python": platform.python_version(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "repeats": args.repeats,
        "results": results,
    }
    print(
        f"classic engine, {args.repeats} runs each, load average {load_before[0]:.1f} "
        f"before / {report['load_average_after'][0]:.1f} after, {report['machine']}"
    )
    for r in results:
        w, c = r["wall_s"], r["cpu_s"]
        print(
            f"  {r['photo']:<20} working {r['working_size'][1]}x{r['working_size'][0]} "
            f"({r['hints']} hints): wall median {w['median']:.2f} s "
            f"[{w['min']:.2f}-{w['max']:.2f}], CPU median {c['median']:.2f} s"
        )
        stages = ", ".join(f"{k} {v:.3f}" for k, v in r["stages_wall_median_s"].items())
        print(f"    stages (wall median, s): {stages}; LU non-zeros {r['factor_nonzeros']:,}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
