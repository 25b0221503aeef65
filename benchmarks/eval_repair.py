"""Evaluation of the repair stage (issue 17) on real photos with seeded synthetic damage.

Not a test; run by hand. For each photo: the clean lightness (optionally enlarged by
``--scale``, bicubic, to stand for a scan: a print scanned at 600-1200 dpi is soft at the
pixel scale while dust on the glass is sharp), damage drawn by
``piggydesk.core.repair.synthetic.add_defects`` (seeded: hairlines 1-3 px at random angles
and curvature, 200 specks, one torn corner), then:

* mask proposal: recall of the visible defect pixels, precision against every touched pixel
  (pooled over the set, and per photo);
* repair (automatic mask + inpainting): PSNR (L*, peak 100) of the damaged and of the repaired
  photo against the clean one; the share of clean pixels (no defect touches them) changed by
  more than 2 L*; the same with the true mask (what a brushed mask can reach);
* timing on a 12-megapixel scan (4000 x 3000): mask proposal + inpainting, tone (levels +
  CLAHE), geometry (straighten + crop; quarter turn + crop), grain reduction; peak memory.

Photos: the gray samples in ``resources/samples`` and the photos listed (relative paths) in
``benchmarks/eval_repair_photos.txt`` under ``/work/data/photos`` (or ``--data-dir``); those
that are missing are skipped. ``--refresh-list N`` rewrites the list with N photos of at least
300 px a side chosen by a seeded shuffle. The photos are read, never copied.

``--damage-seed K`` draws the damage of seed ``i + K`` on photo ``i`` (0, the default, is the
reported set; the classifier of ``defects.py`` is fitted on 1 and 2 by
``benchmarks/fit_defect_classifier.py``, so 100 is a held-out check); ``--photo-list FILE``
(with ``--no-samples``) measures another list, e.g. ``benchmarks/eval_repair_heldout.txt``.

Usage: ``python benchmarks/eval_repair.py [--scale 2] [--json FILE] [--no-timing | --timing-only]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.measure import peak_rss_bytes, wall_and_cpu  # noqa: E402
from piggydesk.core.imaging import load_photo  # noqa: E402
from piggydesk.core.repair.defects import propose_defect_mask  # noqa: E402
from piggydesk.core.repair.denoise import denoise_lightness  # noqa: E402
from piggydesk.core.repair.geometry import Geometry  # noqa: E402
from piggydesk.core.repair.inpaint import inpaint  # noqa: E402
from piggydesk.core.repair.synthetic import VISIBLE, add_defects, enlarge_like_scan  # noqa: E402
from piggydesk.core.repair.tone import ToneSettings, tone_lightness  # noqa: E402
from piggydesk.training import metrics  # noqa: E402

SAMPLES = ROOT / "resources" / "samples"
# The four gray samples the figures in RESULTS.md were measured on (fixed: later samples stay out)
GRAY_SAMPLES = ("astronaut-gray.jpg", "camera-gray.jpg", "chelsea-gray.jpg", "coffee-gray.jpg")
DATA = Path("/work/data/photos")
PHOTO_LIST = ROOT / "benchmarks" / "eval_repair_photos.txt"
HELDOUT_LIST = ROOT / "benchmarks" / "eval_repair_heldout.txt"  # never used to tune
TRAINING_LIST = ROOT / "benchmarks" / "defect_training_photos.txt"  # fit_defect_classifier.py


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return metrics.psnr(a, b, data_range=100.0)  # of L*, which runs 0-100


def refresh_list(data_dir: Path, count: int, seed: int, photo_list: Path = PHOTO_LIST) -> None:
    from PIL import Image

    names = sorted(p for p in data_dir.rglob("*") if p.suffix.lower() in (".jpg", ".png"))
    rng = np.random.default_rng(seed)
    picked: list[str] = []
    taken = set()  # the lists (pinned, held out, training) never share a photo
    for other in (PHOTO_LIST, HELDOUT_LIST, TRAINING_LIST):
        if other.resolve() != photo_list.resolve() and other.is_file():
            taken |= set(other.read_text().split())
    for index in rng.permutation(len(names)):
        if names[index].relative_to(data_dir).as_posix() in taken:
            continue
        try:
            with Image.open(names[index]) as im:
                if min(im.size) >= 300:
                    picked.append(names[index].relative_to(data_dir).as_posix())
        except OSError:
            continue
        if len(picked) == count:
            break
    photo_list.write_text("\n".join(sorted(picked)) + "\n", encoding="utf-8")


def choose_photos(
    data_dir: Path, photo_list: Path = PHOTO_LIST, samples: bool = True
) -> list[Path]:
    photos = [SAMPLES / name for name in GRAY_SAMPLES] if samples else []
    if photo_list.is_file():
        listed = [data_dir / line for line in photo_list.read_text().split() if line]
        photos += [p for p in listed if p.is_file()]
    return photos


def evaluate(photos: list[Path], scale: float, damage_seed: int = 0) -> dict:
    rows, pooled = [], np.zeros(4)
    for index, path in enumerate(photos):
        clean = enlarge_like_scan(load_photo(path).lightness, scale)
        damage = add_defects(clean, seed=index + damage_seed)
        mask = propose_defect_mask(damage.lightness)
        truth = damage.mask
        tp = int((mask & truth).sum())
        hits = int((mask & damage.touched).sum())
        counts = np.array([tp, int(truth.sum()), hits, int(mask.sum())])
        pooled += counts
        repaired = inpaint(damage.lightness, mask)
        oracle = inpaint(damage.lightness, damage.touched)
        outside = ~damage.touched
        rows.append(
            {
                "photo": path.name,
                "size": list(clean.shape[::-1]),
                "recall": counts[0] / max(counts[1], 1),
                "precision": counts[2] / max(counts[3], 1),
                "psnr_damaged": psnr(damage.lightness, clean),
                "psnr_repaired": psnr(repaired, clean),
                "psnr_true_mask": psnr(oracle, clean),
                "smeared_percent": 100
                * float((np.abs(repaired - clean) > VISIBLE)[outside].mean()),
                "smeared_true_mask_percent": 100
                * float((np.abs(oracle - clean) > VISIBLE)[outside].mean()),
            }
        )
        r = rows[-1]
        print(
            f"{path.name[:28]:28s} {r['size'][0]:5d}x{r['size'][1]:<5d} recall {r['recall']:.2f} "
            f"precision {r['precision']:.2f}  PSNR {r['psnr_damaged']:.1f} -> "
            f"{r['psnr_repaired']:.1f} dB (true mask {r['psnr_true_mask']:.1f})  "
            f"smeared {r['smeared_percent']:.2f}%",
            flush=True,
        )

    def mean(key: str) -> float:
        return float(np.mean([r[key] for r in rows]))

    summary = {
        "photos": len(rows),
        "scale": scale,
        "damage_seed": damage_seed,
        "recall_pooled": pooled[0] / max(pooled[1], 1),
        "precision_pooled": pooled[2] / max(pooled[3], 1),
        "psnr_damaged_mean": mean("psnr_damaged"),
        "psnr_repaired_mean": mean("psnr_repaired"),
        "psnr_gain_mean": mean("psnr_repaired") - mean("psnr_damaged"),
        "psnr_gain_min": float(min(r["psnr_repaired"] - r["psnr_damaged"] for r in rows)),
        "psnr_true_mask_gain_mean": mean("psnr_true_mask") - mean("psnr_damaged"),
        "smeared_percent_mean": mean("smeared_percent"),
        "smeared_percent_max": float(max(r["smeared_percent"] for r in rows)),
        "smeared_true_mask_percent_mean": mean("smeared_true_mask_percent"),
    }
    return {"summary": summary, "rows": rows}


def _median_time(fn, repeats: int) -> tuple[float, float, float, float]:
    """Wall seconds (median, min, max) and the median process CPU seconds (all threads)."""
    walls, cpus = wall_and_cpu(fn, repeats)
    return statistics.median(walls), min(walls), max(walls), statistics.median(cpus)


def timing(repeats: int) -> dict:
    photo = load_photo(SAMPLES / "astronaut-gray.jpg")
    big = cv2.resize(photo.lightness, (4000, 3000), interpolation=cv2.INTER_CUBIC)
    damage = add_defects(big, seed=0)
    L = damage.lightness
    rgb8 = np.repeat(np.clip(L * 2.55 + 0.5, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    out = {}

    def repair():
        inpaint(L, propose_defect_mask(L))

    out["mask_and_inpaint_s"] = _median_time(repair, repeats)
    out["mask_s"] = _median_time(lambda: propose_defect_mask(L), repeats)
    tone = ToneSettings(levels=1.0, clahe=0.5)
    out["tone_levels_clahe_s"] = _median_time(lambda: tone_lightness(L, tone), repeats)
    out["tone_levels_s"] = _median_time(
        lambda: tone_lightness(L, ToneSettings(levels=1.0)), repeats
    )
    straighten = Geometry(straighten=2.5, crop=(100, 100, 3600, 2600))
    out["geometry_straighten_crop_L_s"] = _median_time(lambda: straighten.apply(L), repeats)
    turn = Geometry(rotate=1, flip_h=True, crop=(100, 100, 2600, 3600))
    out["geometry_turn_crop_L_s"] = _median_time(lambda: turn.apply(L), repeats)
    # a colour scan: the pipeline turns its decoded 8-bit RGB, not float RGB
    out["geometry_straighten_crop_rgb8_s"] = _median_time(lambda: straighten.apply(rgb8), repeats)
    out["denoise_half_s"] = _median_time(lambda: denoise_lightness(L, 0.5), 1)
    out["peak_rss_mib"] = peak_rss_bytes() / 2**20
    for key, value in out.items():
        if isinstance(value, tuple):
            print(
                f"{key:34s} median {value[0]:.3f} s  [{value[1]:.3f}-{value[2]:.3f}]  "
                f"CPU {value[3]:.3f} s"
            )
        else:
            print(f"{key:34s} {value:.0f}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=2.0)
    parser.add_argument("--refresh-list", type=int, default=0, metavar="N")
    parser.add_argument("--data-dir", type=Path, default=DATA)
    parser.add_argument("--seed", type=int, default=0, help="of --refresh-list's shuffle")
    parser.add_argument(
        "--damage-seed",
        type=int,
        default=0,
        help="photo i gets the damage of seed i + this (0: the reported set; 100: held out)",
    )
    parser.add_argument("--photo-list", type=Path, default=PHOTO_LIST)
    parser.add_argument(
        "--no-samples", action="store_true", help="only the listed photos, not the gray samples"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-timing", action="store_true")
    parser.add_argument("--timing-only", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    if args.refresh_list:
        refresh_list(args.data_dir, args.refresh_list, args.seed, args.photo_list)
    result: dict = {}
    if not args.timing_only:
        photos = choose_photos(args.data_dir, args.photo_list, not args.no_samples)
        result = evaluate(photos, args.scale, args.damage_seed)
        for key, value in result["summary"].items():
            print(f"{key:34s} {value:.3f}" if isinstance(value, float) else f"{key:34s} {value}")
    if not args.no_timing:
        result["timing"] = timing(args.repeats)
    result["load_average"] = os.getloadavg()
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=float))


if __name__ == "__main__":
    main()
