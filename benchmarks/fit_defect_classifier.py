"""Fits the defect classifier of ``piggydesk/core/repair/defects.py`` and writes its weights.

Not a test; run by hand after changing the candidates or their features:
``python benchmarks/fit_defect_classifier.py`` writes ``piggydesk/core/repair/defect_weights.py``.

Training data: the photos of ``benchmarks/eval_repair.py`` (its gray samples and pinned list),
pixel-sharp (1x), each with seeded synthetic damage (``core/repair/synthetic.py``) drawn with
the seeds ``index + 1`` and ``index + 2`` (``--seeds``): not the damage ``eval_repair.py``
measures (seed ``index``), nor its held-out seed (``index + 100``). Each candidate component
of ``find_candidates`` is one sample; its target is the share of its pixels a defect touches,
its weight its pixel count (so the fit serves pixel precision and recall). The model is a
logistic regression on the standardized features and their pairwise products (a quadratic
form), fitted by Newton's method with an L2 penalty.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.eval_repair import DATA, choose_photos  # noqa: E402
from piggydesk.core.imaging import load_photo  # noqa: E402
from piggydesk.core.repair.defects import FEATURES, find_candidates  # noqa: E402
from piggydesk.core.repair.synthetic import add_defects  # noqa: E402

OUT = ROOT / "piggydesk" / "core" / "repair" / "defect_weights.py"


def collect(photos: list[Path], seeds: list[int]):
    rows, targets, weights = [], [], []
    for index, path in enumerate(photos):
        clean = load_photo(path).lightness
        for seed in seeds:
            damage = add_defects(clean, seed=index + seed)
            found = find_candidates(damage.lightness)
            labels = found.labels.ravel()
            pixels = np.bincount(labels, minlength=found.count).astype(np.float64)
            touched = np.bincount(labels, damage.touched.ravel(), minlength=found.count)
            rows.append(found.features[1:])
            targets.append((touched / np.maximum(pixels, 1))[1:])
            weights.append(pixels[1:])
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
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--l2", type=float, default=1.0)
    args = parser.parse_args()
    photos = choose_photos(args.data_dir)
    x, y, weight = collect(photos, args.seeds)
    assert x.shape[1] == len(FEATURES)
    print(
        f"{len(y)} candidates, {weight.sum():.0f} pixels, {np.average(y, weights=weight):.3f} on defects"
    )
    mean, scale, bias, linear, quadratic = fit(x, y, weight, args.l2)
    note = f"{len(photos)} photos at 1x, seed offsets {args.seeds}, L2 {args.l2}"
    write(mean, scale, bias, linear, quadratic, note)
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
