"""Fits the defect classifier of ``piggydesk/core/repair/defects.py`` and writes its weights.

Not a test; run by hand after changing the candidates or their features:
``python benchmarks/fit_defect_classifier.py`` writes ``piggydesk/core/repair/defect_weights.py``.

Training data: the gray samples, the 60 photos of ``benchmarks/defect_training_photos.txt``
and the 16 of ``benchmarks/eval_repair_photos.txt`` (under ``/work/data/photos``; refresh the
training list with ``--refresh-list N``: it never shares a photo with the evaluation lists),
pixel-sharp (1x) and enlarged 2x as a scan is (``--scales``), each with seeded synthetic
damage (``core/repair/synthetic.py``) of the seeds ``index + 1000`` and ``index + 2000``
(``--seeds``): never the damage ``eval_repair.py`` measures (seed ``index``, or
``index + 100`` for its held-out check). The photos of ``benchmarks/eval_repair_heldout.txt``
are never used here.

Each candidate component of ``find_candidates`` is one sample; its target is the share of its
pixels a defect touches, its weight its pixel count over the square of the scale (so the fit
serves pixel precision and recall, and each scale weighs the same). The model is a logistic
regression on the standardized features and their pairwise products (a quadratic form),
fitted by Newton's method with an L2 penalty. About 2 minutes on one core.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.eval_repair import (  # noqa: E402
    DATA,
    PHOTO_LIST,
    SAMPLES,
    TRAINING_LIST,
    choose_photos,
    refresh_list,
)
from piggydesk.core.imaging import load_photo  # noqa: E402
from piggydesk.core.repair.defects import FEATURES, find_candidates  # noqa: E402
from piggydesk.core.repair.synthetic import add_defects, enlarge_like_scan  # noqa: E402

OUT = ROOT / "piggydesk" / "core" / "repair" / "defect_weights.py"


def collect(photos: list[Path], seeds: list[int], scales: list[float]):
    rows, targets, weights = [], [], []
    for index, path in enumerate(photos):
        for scale, seed in ((scale, seed) for scale in scales for seed in seeds):
            clean = enlarge_like_scan(load_photo(path).lightness, scale)
            damage = add_defects(clean, seed=index + seed)
            found = find_candidates(damage.lightness)
            labels = found.labels.ravel()
            pixels = np.bincount(labels, minlength=found.count).astype(np.float64)
            touched = np.bincount(labels, damage.touched.ravel(), minlength=found.count)
            rows.append(found.features[1:])
            targets.append((touched / np.maximum(pixels, 1))[1:])
            weights.append(pixels[1:] / scale**2)  # each scale counts as much as 1x
    return np.concatenate(rows), np.concatenate(targets), np.concatenate(weights)


def quadratic_terms(z: np.ndarray) -> np.ndarray:
    n = z.shape[1]
    pairs = [(z[:, i] * z[:, j])[:, None] for i in range(n) for j in range(i, n)]
    return np.concatenate([np.ones((len(z), 1)), z, *pairs], axis=1)


def fit(x: np.ndarray, y: np.ndarray, weight: np.ndarray, l2: float):
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = np.clip((x - mean) / scale, -5.0, 5.0)
    design = quadratic_terms(z)
    w = np.zeros(design.shape[1])
    weight = weight / weight.mean()
    for _ in range(30):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ w, -30, 30)))
        gradient = design.T @ (weight * (p - y)) + l2 * w
        hessian = (design * (weight * p * (1 - p))[:, None]).T @ design + l2 * np.eye(len(w))
        w -= np.linalg.solve(hessian, gradient)
    n = x.shape[1]
    quadratic = np.zeros((n, n))
    k = 1 + n
    for i in range(n):
        for j in range(i, n):
            quadratic[i, j] = w[k]
            k += 1
    return mean, scale, float(w[0]), w[1 : 1 + n], quadratic


def write(mean, scale, bias, linear, quadratic, note: str) -> None:
    def row(values) -> str:
        return "[" + ", ".join(f"{v:.6g}" for v in values) + "]"

    lines = [
        '"""Weights of the defect classifier of ``defects.py`` (generated; do not edit).',
        "",
        f"Written by ``benchmarks/fit_defect_classifier.py`` ({note}).",
        "The score of a candidate",
        "with features ``x`` (``defects.FEATURES``) is ``BIAS + z @ LINEAR + z @ QUADRATIC @ z``",
        "with ``z = clip((x - MEAN) / SCALE, -5, 5)``: the log-odds that it is a defect.",
        '"""',
        "",
        f"MEAN = {row(mean)}",
        f"SCALE = {row(scale)}",
        f"BIAS = {bias:.6g}",
        f"LINEAR = {row(linear)}",
        "QUADRATIC = [",
        *(f"    {row(r)}," for r in quadratic),
        "]",
        "",
    ]
    OUT.write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DATA)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1000, 2000])
    parser.add_argument("--l2", type=float, default=30.0)
    parser.add_argument("--photo-list", type=Path, nargs="+", default=[TRAINING_LIST, PHOTO_LIST])
    parser.add_argument("--refresh-list", type=int, default=0, metavar="N")
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 2.0])
    args = parser.parse_args()
    if args.refresh_list:
        refresh_list(args.data_dir, args.refresh_list, 11, args.photo_list[0])
    photos = sorted(SAMPLES.glob("*-gray.jpg"))
    photos += [p for name in args.photo_list for p in choose_photos(args.data_dir, name, False)]
    x, y, weight = collect(photos, args.seeds, args.scales)
    assert x.shape[1] == len(FEATURES)
    print(
        f"{len(y)} candidates, {weight.sum():.0f} pixels, {np.average(y, weights=weight):.3f} on defects"
    )
    mean, scale, bias, linear, quadratic = fit(x, y, weight, args.l2)
    note = f"{len(photos)} photos, scales {args.scales}, seeds {args.seeds}, L2 {args.l2}"
    write(mean, scale, bias, linear, quadratic, note)
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
