"""The evaluation command on a small generated photo folder with the shipped instant weights:
hue hit rates beside the other measures, per group, variants scored, the same photos again."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from piggydesk.core.color import lab_to_rgb
from piggydesk.training import evaluate
from piggydesk.training.photos import is_validation


def _scene(rng: np.random.Generator) -> np.ndarray:
    """Blue sky over green grass, a little noise."""
    h, w = 96, 128
    lab = np.zeros((h, w, 3), np.float32)
    lab[: h // 2] = (70.0, -5.0, -40.0)
    lab[h // 2 :] = (50.0, -40.0, 35.0)
    lab[..., 0] += rng.normal(0, 2.0, (h, w))
    return (np.clip(lab_to_rgb(lab), 0, 1) * 255).astype(np.uint8)


def test_evaluate_reports_hue_hits_per_group_and_reuses_a_photo_list(tmp_path: Path):
    rng = np.random.default_rng(0)
    root = tmp_path / "photos"
    for source, count in (("landscapes", 3), ("portraits", 2)):
        (root / source).mkdir(parents=True)
        found, i = 0, 0
        while found < count:
            name = f"{source}/{source}_{i}.jpg"
            if is_validation(name):
                Image.fromarray(_scene(rng)).save(root / name, quality=95)
                found += 1
            i += 1
    captions = {f"portraits/{p.name}": "a portrait of a woman" for p in (root / "portraits").iterdir()}
    (root / "captions.json").write_text(json.dumps(captions))

    out = tmp_path / "eval"
    assert evaluate.main(["--data", str(root), "--out", str(out), "--hints", "0,1",
                          "--working-size", "128", "--variants", "2"]) == 0
    result = json.loads((out / "results.json").read_text())
    scenes = result["summary"]["gray"]["0"]["scenes"]
    assert scenes["n"] == 3 and scenes["blue_hit"] == 0.0 and scenes["n_blue_hit"] == 3
    assert result["summary"]["gray"]["0"]["people"]["n"] == 2
    instant = result["summary"]["instant"]["0"]["all"]
    for key in ("hue_hit", "green_hit", "blue_hit"):
        assert 0.0 <= instant[key] <= 1.0 and instant[f"n_{key}"] == 5
    assert "instant-v2" in result["summary"]  # variants are scored too
    table = (out / "results.md").read_text()
    assert "| hue hit | green hit (n) | blue hit (n) |" in table and "### scenes" in table
    assert (out / "contact_sheet.png").is_file() and (out / "variants_sheet.png").is_file()
    listed = (out / "photos.txt").read_text().splitlines()
    assert len(listed) == 5

    again = tmp_path / "again"
    (tmp_path / "two.txt").write_text("\n".join(listed[:2]) + "\n")
    assert evaluate.main(["--data", str(root), "--out", str(again), "--hints", "0",
                          "--working-size", "128", "--photos", str(tmp_path / "two.txt"),
                          "--baselines", "gray"]) == 0
    assert (again / "photos.txt").read_text().splitlines() == listed[:2]
