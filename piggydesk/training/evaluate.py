"""Evaluate colorization engines on a folder of colour photos.

Usage::

    python -m piggydesk.training.evaluate --engine instant --data ~/data/photos --split val \
        --hints 0,1,5,10,50 --limit 160 --out ~/runs/eval

Each photo is turned into its lightness (the same L* the app would see), k ground-truth hint
points are sampled (seeded per photo and k, ``point_hints.sample_eval_hints``), and the engine,
the gray input and the classic engine colorize it. Reported: PSNR, SSIM, colourfulness
(Hasler and Suesstrunk 2003), the AuC of the ab-error CDF over 0-150 (Zhang et al. 2016) and
the hue hit rates of ``metrics.hue_hits`` (overall, green, blue; a photo where a class covers
under 1 % of the pixels does not count for that class, so each has its own n), for all
photos, photos of people and other scenes, as ``results.json`` and ``results.md``, plus
``contact_sheet.png``: gray | result | truth for 24 photos (half of them scenes). With
``--variants N`` the engine also makes N variants of each automatic colorization; variants 2..N
are scored as ``<engine>-v2`` ... (k = 0) and ``variants_sheet.png`` shows them for 8 photos.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from piggydesk.core.color import lightness_to_gray_rgb
from piggydesk.core.imaging import load_photo
from piggydesk.engines.base import ColorizeRequest
from piggydesk.engines.registry import create_engine
from piggydesk.logging_setup import close_logging, setup_logging
from piggydesk.training.metrics import all_metrics
from piggydesk.training.photos import choose_photos, list_photos, split_hash
from piggydesk.training.point_hints import sample_eval_hints

logger = logging.getLogger(__name__)

METRICS = ("psnr", "ssim", "colourfulness", "auc", "hue_hit", "green_hit", "blue_hit")
HUE_METRICS = ("hue_hit", "green_hit", "blue_hit")
GROUPS = ("all", "people", "scenes")


def _tile(rgb: np.ndarray, size: int) -> Image.Image:
    img = Image.fromarray(np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8))
    img.thumbnail((size, size), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (size, size), (255, 255, 255))
    canvas.paste(img, ((size - img.width) // 2, (size - img.height) // 2))
    return canvas


def contact_sheet(
    rows: list[tuple[str, list[np.ndarray]]],
    path: Path,
    tile: int = 150,
    title: str = "gray | instant | truth",
    cols: int = 2,
) -> Path:
    """Rows of (label, [images...]) in ``cols`` columns (gray | result | truth by default)."""
    per_row = max((len(images) for _, images in rows), default=3)
    n_rows = (len(rows) + cols - 1) // cols
    label_h = 14
    width = cols * (per_row * tile + 12)
    height = n_rows * (tile + label_h + 4) + 20
    sheet = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    draw.text((4, 4), title, fill=(0, 0, 0))
    for i, (label, images) in enumerate(rows):
        r, c = divmod(i, cols)
        x0 = c * (per_row * tile + 12)
        y0 = 20 + r * (tile + label_h + 4)
        draw.text((x0 + 2, y0), label[:60], fill=(0, 0, 0))
        for j, im in enumerate(images):
            sheet.paste(_tile(im, tile), (x0 + j * tile, y0 + label_h))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path


def _mean(values: list[float]) -> float:
    """Mean over the values that are defined (NaN: a hue class left out for that photo)."""
    kept = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(kept)) if kept else float("nan")


def summarise(records: list[dict]) -> dict:
    """Mean metrics per engine, k and group; ``n_<hue metric>`` counts the photos it covers."""
    acc: dict[tuple, list[dict]] = defaultdict(list)
    for rec in records:
        groups = ("all", "people" if rec["people"] else "scenes")
        for g in groups:
            acc[(rec["engine"], rec["k"], g)].append(rec["metrics"])
    out: dict = {}
    for (engine, k, group), items in sorted(acc.items()):
        cell: dict = {"n": len(items)}
        for m in METRICS:
            values = [it.get(m, float("nan")) for it in items]
            cell[m] = _mean(values)
            if m in HUE_METRICS:
                cell[f"n_{m}"] = int(sum(1 for v in values if np.isfinite(v)))
        out.setdefault(engine, {}).setdefault(str(k), {})[group] = cell
    return out


def _fmt(value: float, spec: str, scale: float = 1.0) -> str:
    return "-" if not np.isfinite(value) else format(value * scale, spec)


def markdown_table(summary: dict, ks: list[int]) -> str:
    lines = []
    for group in GROUPS:
        lines.append(f"\n### {group}\n")
        lines.append(
            "| engine | k | n | PSNR dB | SSIM | colourfulness | AuC % | hue hit | green hit (n) "
            "| blue hit (n) |"
        )
        lines.append("|---|---|---|---|---|---|---|---|---|---|")
        ks_all = list(ks) + [k for k in sorted({int(k) for e in summary for k in summary[e]})
                             if k not in ks]
        for k in ks_all:
            for engine in summary:
                cell = summary[engine].get(str(k), {}).get(group)
                if not cell:
                    continue
                lines.append(
                    f"| {engine} | {k} | {cell['n']} | {cell['psnr']:.2f} | {cell['ssim']:.3f} | "
                    f"{cell['colourfulness']:.1f} | {100 * cell['auc']:.1f} | "
                    f"{_fmt(cell['hue_hit'], '.2f')} | "
                    f"{_fmt(cell['green_hit'], '.2f')} ({cell['n_green_hit']}) | "
                    f"{_fmt(cell['blue_hit'], '.2f')} ({cell['n_blue_hit']}) |"
                )
    return "\n".join(lines) + "\n"


def evaluate(
    data: Path,
    out: Path,
    engine_name: str = "instant",
    split: str = "val",
    ks: tuple[int, ...] = (0, 1, 5, 10, 50),
    limit: int | None = None,
    baselines: tuple[str, ...] = ("gray", "classic"),
    model_path: str | None = None,
    working_size: int = 512,
    sheet_count: int = 24,
    variants: int = 1,
    variant_sheet_count: int = 8,
    photos: list[str] | None = None,
) -> dict:
    if photos is not None:  # exactly these photos (e.g. the list of an earlier evaluation)
        by_rel = {e.rel: e for e in list_photos(data, "all")}
        entries = [by_rel[r] for r in photos if r in by_rel]
    else:
        entries = choose_photos(list_photos(data, split), limit)
    if not entries:
        raise SystemExit(f"No photos found in {data} (split {split}).")
    logger.info("evaluating %s on %d photos (%d of people)", engine_name, len(entries),
                sum(e.people for e in entries))
    engines = {engine_name: create_engine(engine_name, "auto", model_path)}
    if "classic" in baselines and engine_name != "classic":
        engines["classic"] = create_engine("classic")
    people_sheet = [e.rel for e in entries if e.people][: sheet_count // 2]
    # Scenes on the sheet: skies, vegetation, water, buildings first, close-ups only to fill.
    other_sheet = [e.rel for e in entries if e.group == "scenes"]
    other_sheet += [e.rel for e in entries if e.group == "closeup"]
    other_sheet = other_sheet[: sheet_count - len(people_sheet)]
    sheet_rels = set(people_sheet + other_sheet)
    sheet_rows: dict[str, tuple[str, list[np.ndarray]]] = {}
    half = variant_sheet_count // 2
    variant_rels = people_sheet[:half] + other_sheet[: variant_sheet_count - half]
    variant_rows: dict[str, tuple[str, list[np.ndarray]]] = {}
    records: list[dict] = []
    timings: dict[str, list[float]] = defaultdict(list)
    start = time.perf_counter()
    for n, entry in enumerate(entries):
        photo = load_photo(data / entry.rel)
        truth, lightness = photo.rgb, photo.lightness
        gray = lightness_to_gray_rgb(lightness)
        base = {"photo": entry.rel, "source": entry.source, "people": entry.people}
        if "gray" in baselines:
            records.append({**base, "engine": "gray", "k": 0, "metrics": all_metrics(gray, truth)})
        for k in ks:
            seed = split_hash(entry.rel) * 100 + k
            hints = sample_eval_hints(truth, k, seed, work_long_side=working_size)
            for name, engine in engines.items():
                if name == "classic" and k == 0:
                    continue  # the classic engine returns the gray input without hints
                count = variants if (name == engine_name and k == 0) else 1
                request = ColorizeRequest(lightness=lightness, hints=hints, seed=0,
                                          working_size=working_size, num_variants=count)
                t = time.perf_counter()
                results = engine.colorize(request)
                timings[name].append(time.perf_counter() - t)
                rgb = results[0].rgb
                records.append({**base, "engine": name, "k": k,
                                "metrics": all_metrics(rgb, truth)})
                for index, other in enumerate(results[1:], start=2):
                    records.append({**base, "engine": f"{name}-v{index}", "k": k,
                                    "metrics": all_metrics(other.rgb, truth)})
                if name == engine_name and k == 0 and entry.rel in sheet_rels:
                    sheet_rows[entry.rel] = (entry.rel, [gray, rgb, truth])
                if name == engine_name and k == 0 and count > 1 and entry.rel in variant_rels:
                    variant_rows[entry.rel] = (
                        entry.rel, [gray, *[r.rgb for r in results], truth]
                    )
        if (n + 1) % 10 == 0:
            logger.info("%d/%d photos (%.0f s)", n + 1, len(entries), time.perf_counter() - start)
    if "gray" in baselines:  # the gray input does not depend on k: report it at every k
        grays = [r for r in records if r["engine"] == "gray"]
        records += [{**r, "k": k} for k in ks if k != 0 for r in grays]
    summary = summarise(records)
    out.mkdir(parents=True, exist_ok=True)
    result = {
        "engine": engine_name,
        "data": str(data),
        "split": split,
        "photos": len(entries),
        "people": int(sum(e.people for e in entries)),
        "hints": list(ks),
        "working_size": working_size,
        "seconds_per_run": {k: float(np.median(v)) for k, v in timings.items()},
        "summary": summary,
        "records": records,
    }
    (out / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "photos.txt").write_text("".join(e.rel + "\n" for e in entries))
    table = markdown_table(summary, list(ks))
    header = (f"# Evaluation: {engine_name} on {len(entries)} {split} photos "
              f"({result['people']} of people)\n")
    (out / "results.md").write_text(header + table)
    rows = [sheet_rows[r] for r in people_sheet + other_sheet if r in sheet_rows]
    if rows:
        contact_sheet(rows, out / "contact_sheet.png")
    rows = [variant_rows[r] for r in variant_rels if r in variant_rows]
    if rows:
        names = " | ".join(f"variant {i}" for i in range(1, variants + 1))
        contact_sheet(rows, out / "variants_sheet.png", title=f"gray | {names} | truth", cols=1)
    logger.info("wrote %s", out)
    return result


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m piggydesk.training.evaluate",
                                description=__doc__.split("\n")[0])
    p.add_argument("--engine", default="instant")
    p.add_argument("--data", required=True, type=Path)
    p.add_argument("--split", default="val", choices=("train", "val", "all"))
    p.add_argument("--hints", default="0,1,5,10,50")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--limit", type=int, default=None, help="evaluate at most N photos")
    p.add_argument("--baselines", default="gray,classic")
    p.add_argument("--model-path", default=None)
    p.add_argument("--working-size", type=int, default=512)
    p.add_argument("--photos", type=Path, default=None,
                   help="evaluate exactly the photos listed in this file (one path a line, as "
                        "in an earlier evaluation's photos.txt)")
    p.add_argument("--variants", type=int, default=1,
                   help="also score variants 2..N of the automatic colorization (k = 0)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.out.expanduser() / "evaluate.log", console=True)
    try:
        result = _run(args)
    finally:
        close_logging()
    sys.stdout.write((args.out.expanduser() / "results.md").read_text())
    sys.stdout.write(f"seconds per run (median): {result['seconds_per_run']}\n")
    return 0


def _run(args: argparse.Namespace) -> dict:
    return evaluate(
        data=args.data.expanduser(),
        out=args.out.expanduser(),
        engine_name=args.engine,
        split=args.split,
        ks=tuple(int(k) for k in args.hints.split(",") if k.strip()),
        limit=args.limit,
        baselines=tuple(b for b in args.baselines.split(",") if b),
        model_path=args.model_path,
        working_size=args.working_size,
        variants=max(1, args.variants),
        photos=([line.strip() for line in args.photos.read_text().splitlines() if line.strip()]
                if args.photos else None),
    )


if __name__ == "__main__":
    sys.exit(main())
