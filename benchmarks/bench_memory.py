"""Peak memory per pixel of the whole colorize-and-export path, at full resolution.

Runs ``piggydesk colorize`` (a separate process each time, default engine) on photos of
about 12, 48 and 100 megapixels and on a small photo whose peak is the baseline (Python,
NumPy, torch and the engine's weights), and reports::

    bytes per pixel = (peak resident memory - baseline peak) / pixels

The peak is the operating system's own figure for the finished process (``ru_maxrss`` of the
child, as ``/usr/bin/time -v`` reports it). The goal (issue 14) is at most 24 bytes per pixel.

Test photos are generated in a temporary folder (never in the repository) and deleted at the
end: a sepia-toned 8-bit JPEG (an ordinary scan) and, with ``--png16``, a 16-bit gray PNG.

    python benchmarks/bench_memory.py [--sizes 12,48,100] [--png16] [--format png]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np


def make_photo(folder: Path, megapixels: float, png16: bool) -> tuple[Path, int, int]:
    """A photo-like picture (smooth shapes and grain), written band by band."""
    width = int(round((megapixels * 1e6 * 4 / 3) ** 0.5))
    height = int(round(megapixels * 1e6 / width))
    rng = np.random.default_rng(0)
    yy = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    xx = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    gray = np.empty((height, width), dtype=np.float32)
    step = max(1, (1 << 22) // width)
    for start in range(0, height, step):
        rows = slice(start, min(height, start + step))
        y = yy[rows]
        band = 0.5 + 0.3 * np.sin(7 * xx + 3 * y) * np.cos(5 * y - 2 * xx)
        band += rng.normal(0, 0.03, band.shape).astype(np.float32)
        gray[rows] = band
    np.clip(gray, 0, 1, out=gray)
    if png16:
        path = folder / f"scan-{megapixels:g}mp-16bit.png"
        cv2.imwrite(str(path), (gray * 65535).astype(np.uint16), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    else:
        path = folder / f"scan-{megapixels:g}mp.jpg"
        sepia = np.empty((height, width, 3), dtype=np.uint8)  # BGR for OpenCV
        for c, tint in enumerate((0.78, 0.92, 1.0)):
            sepia[..., c] = (gray * 255 * tint).astype(np.uint8)
        cv2.imwrite(str(path), sepia, [cv2.IMWRITE_JPEG_QUALITY, 90])
        del sepia
    del gray
    return path, width, height


def peak_of(args: list[str]) -> tuple[int, float, int, str]:
    """Run ``python -m piggydesk ARGS``; (peak RSS bytes, seconds, exit code, stderr)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "piggydesk", *args], capture_output=True,
                            text=True)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak <= before:
        raise RuntimeError("run the sizes from small to large: ru_maxrss is a running maximum")
    return peak * 1024, seconds, result.returncode, result.stderr.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="12,48,100", help="megapixels, small to large")
    parser.add_argument("--png16", action="store_true", help="16-bit gray PNG photos")
    parser.add_argument("--format", default="png", choices=("png", "jpg", "tif"))
    parser.add_argument("--engine", default=None)
    opts = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="piggydesk-memory-"))
    extra = ["--engine", opts.engine] if opts.engine else []
    try:
        base_photo, _, _ = make_photo(folder, 0.2, opts.png16)
        base, seconds, code, err = peak_of(
            ["colorize", str(base_photo), "-o", str(folder / f"base.{opts.format}"), *extra])
        if code:
            print(f"baseline run failed: {err}")
            return 1
        print(f"baseline (0.2 MP): peak {base / 2**20:.0f} MiB, {seconds:.1f} s")
        print("| photo | pixels | peak RSS | over baseline | bytes/pixel | wall s |")
        print("|---|---|---|---|---|---|")
        for mp in (float(x) for x in opts.sizes.split(",")):
            photo, width, height = make_photo(folder, mp, opts.png16)
            out = folder / f"out.{opts.format}"
            peak, seconds, code, err = peak_of(
                ["colorize", str(photo), "-o", str(out), "--overwrite", *extra])
            photo.unlink()
            out.unlink(missing_ok=True)
            if code:
                print(f"| {photo.name} | {width}x{height} | failed: {err} |")
                continue
            over = peak - base
            print(f"| {photo.name} | {width}x{height} | {peak / 2**30:.2f} GiB | "
                  f"{over / 2**30:.2f} GiB | {over / (width * height):.1f} | {seconds:.0f} |")
            sys.stdout.flush()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
