"""Peak memory of keeping colorization results: compact results (core.pixels) vs float32.

Builds a document for a synthetic photo (default 24 MP, 6000 x 4000), adds ``--runs`` runs of
``--variants`` full-resolution results each through the undoable ``AddRun`` command (the
commands are kept, as the undo stack keeps them), chooses a variant and exports it as a
16-bit PNG, then prints the process's peak and current resident memory. ``--legacy`` keeps
every result as a float32 array, as ``ResultVariant`` did before results were compact; the
difference between the two is what the compact storage saves. Results are engine-shaped
(the photo's lightness with a tint and noise), made one run at a time as an engine returns
them. Not a test; run by hand, one mode per process, e.g. under ``/usr/bin/time -v``::

    python benchmarks/bench_variant_memory.py --legacy
    python benchmarks/bench_variant_memory.py
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.measure import current_rss_gib, peak_rss_gib  # noqa: E402
from piggydesk.core import pixels  # noqa: E402
from piggydesk.core.document import AddRun, ChooseVariant, Document, ResultVariant, Run  # noqa: E402
from piggydesk.core.export import export_image  # noqa: E402
from piggydesk.core.imaging import photo_from_array  # noqa: E402
from piggydesk.core.run_settings import RunSettings  # noqa: E402


@dataclass(eq=False)
class LegacyVariant:
    """What ``ResultVariant`` was before: the float32 result itself."""

    rgb: np.ndarray
    settings: RunSettings = field(default_factory=RunSettings)
    message: str = ""
    seconds: float = 0.0


def engine_like_results(photo_rgb: np.ndarray, run: int, count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(run)
    results = []
    for k in range(count):
        tint = np.float32([1.0, 0.9 + 0.05 * k, 0.8 + 0.04 * run])
        rgb = photo_rgb * tint
        rgb += rng.standard_normal((1, photo_rgb.shape[1], 3)).astype(np.float32) * 0.01
        np.clip(rgb, 0.0, 1.0, out=rgb)
        results.append(rgb)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=6000)
    parser.add_argument("--height", type=int, default=4000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--variants", type=int, default=4)
    parser.add_argument("--legacy", action="store_true", help="keep float32 results (before)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="piggydesk-bench-") as tmp:
        os.environ.setdefault("PIGGYDESK_HOME", tmp)  # scratch files go under here
        start = time.perf_counter()
        gray = np.linspace(0, 255, args.width, dtype=np.float32)[None, :].repeat(args.height, 0)
        photo = photo_from_array(np.repeat(gray.astype(np.uint8)[..., None], 3, axis=2))
        del gray
        doc = Document(photo=photo)
        after_photo = current_rss_gib() * 1024
        undo_stack = []
        for run in range(args.runs):
            results = engine_like_results(photo.rgb, run, args.variants)
            settings = [RunSettings(engine="bench", seed=run, variant_index=k)
                        for k in range(args.variants)]
            if args.legacy:
                variants = [LegacyVariant(rgb, s) for rgb, s in zip(results, settings)]
            else:
                variants = [ResultVariant(rgb, s) for rgb, s in zip(results, settings)]
            del results
            command = AddRun(Run(variants))  # type: ignore[arg-type]
            command.do(doc)
            undo_stack.append(command)
            del variants
            gc.collect()
            print(f"run {run + 1}: resident {current_rss_gib() * 1024:,.0f} MB", flush=True)
        ChooseVariant(args.runs - 1, args.variants - 1).do(doc)
        out = export_image(doc.chosen_variant.rgb, Path(tmp) / "chosen.png", bit_depth=16)
        gc.collect()
        store = pixels.default_store()
        scratch = sum(p.stat().st_size for p in Path(tmp).rglob("*.u16"))
        print(
            f"mode={'float32 (before)' if args.legacy else 'compact (after)'} "
            f"photo={args.width}x{args.height} ({args.width * args.height / 1e6:.0f} MP) "
            f"runs={args.runs} variants={args.variants}\n"
            f"resident after the photo: {after_photo:,.0f} MB\n"
            f"resident at the end:      {current_rss_gib() * 1024:,.0f} MB\n"
            f"peak resident:            {peak_rss_gib() * 1024:,.0f} MB\n"
            f"compact pixels in memory: {store.resident_bytes / 2**20:,.0f} MB "
            f"(budget {store.budget / 2**20:,.0f} MB); on disk: {scratch / 2**20:,.0f} MB\n"
            f"exported {out.name} ({out.stat().st_size / 2**20:,.0f} MB); "
            f"{time.perf_counter() - start:.0f} s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
