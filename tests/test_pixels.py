"""Results kept compact (core.pixels): 16-bit, under a memory budget, the rest on disk.

Bounded memory must not cost fidelity: export and "use this variant" give the engine's
full-resolution result (16-bit exact, 8-bit within one level), whether the result is in
memory or was moved to the scratch folder, through runs, undo and project files.
"""

from __future__ import annotations

import gc
from pathlib import Path

import cv2
import numpy as np
import pytest

from piggydesk.core import pixels
from piggydesk.core.color import from_unit_float
from piggydesk.core.document import (
    AddRun,
    ChooseVariant,
    Document,
    RemoveRun,
    ResultVariant,
    Run,
    UseSettings,
    load_project,
    save_project,
)
from piggydesk.core.export import export_image
from piggydesk.core.imaging import photo_from_array
from piggydesk.core.run_settings import RunSettings

H, W = 60, 80
IMAGE_BYTES = H * W * 3 * 2


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A budget of two results, scratch files in tmp_path (every result uses this store)."""
    store = pixels.PixelStore(budget=2 * IMAGE_BYTES, folder=tmp_path / "scratch")
    (tmp_path / "scratch").mkdir()
    monkeypatch.setattr(pixels, "_default_store", store)
    return store


def _result(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((H, W, 3), dtype=np.float32)


def test_round_trip_is_16_bit_exact_and_8_bit_within_a_level(store):
    original = _result(0)
    original[0, :3] = [0.0, 1.0, 0.5]
    variant = ResultVariant(original, {"engine": "instant"})
    rgb = variant.rgb
    assert rgb.dtype == np.float32 and rgb.shape == (H, W, 3)
    assert np.abs(rgb - original).max() <= 0.5 / 65535 + 1e-7
    np.testing.assert_array_equal(from_unit_float(rgb, 16), from_unit_float(original, 16))
    assert np.abs(from_unit_float(rgb, 8).astype(int) - from_unit_float(original, 8)).max() <= 1
    assert variant.preview.shape == (H, W, 3)  # small images keep their size


def test_decoded_image_is_shared_while_held_and_read_only(store):
    variant = ResultVariant(_result(1))
    first = variant.rgb
    assert variant.rgb is first
    with pytest.raises(ValueError):
        first[0, 0, 0] = 0.5  # a stored result cannot be painted over by accident


def test_budget_moves_older_results_to_disk_and_reads_them_back(store, tmp_path):
    originals = [_result(seed) for seed in range(5)]
    variants = [ResultVariant(rgb) for rgb in originals]
    assert store.resident_bytes <= store.budget
    assert [v.image.in_memory for v in variants] == [False, False, False, True, True]
    assert len(list((tmp_path / "scratch").iterdir())) == 3
    for variant, original in zip(variants, originals):
        np.testing.assert_array_equal(
            from_unit_float(variant.rgb, 16), from_unit_float(original, 16)
        )

    del variants, variant
    gc.collect()
    assert store.resident_bytes == 0
    assert not list((tmp_path / "scratch").iterdir())  # dropped results leave no files


def test_an_unwritable_scratch_folder_keeps_results_in_memory(tmp_path, monkeypatch):
    blocked = tmp_path / "not-a-folder"
    blocked.write_bytes(b"")  # writing "not-a-folder/x.u16" fails like a full disk would
    store = pixels.PixelStore(budget=IMAGE_BYTES, folder=blocked)
    monkeypatch.setattr(pixels, "_default_store", store)
    originals = [_result(seed) for seed in range(3)]
    kept = [ResultVariant(rgb) for rgb in originals]
    assert all(v.image.in_memory for v in kept)  # over budget, but nothing lost
    np.testing.assert_array_equal(from_unit_float(kept[0].rgb, 16), from_unit_float(originals[0], 16))


def test_runs_and_undo_stay_within_budget_and_export_the_full_result(store, tmp_path):
    doc = Document(photo=photo_from_array(np.full((H, W, 3), 0.5, np.float32)))
    originals, undo = [], []
    for run_index in range(5):
        rgbs = [_result(10 * run_index + k) for k in range(4)]
        originals.append(rgbs)
        settings = [RunSettings(engine="instant", seed=run_index, variant_index=k) for k in range(4)]
        command = AddRun(Run([ResultVariant(rgb, s) for rgb, s in zip(rgbs, settings)]))
        command.do(doc)
        undo.append(command)
        assert store.resident_bytes <= store.budget
    remove = RemoveRun(0)
    remove.do(doc)
    remove.undo(doc)

    ChooseVariant(1, 2).do(doc)
    out = export_image(doc.chosen_variant.rgb, tmp_path / "out.png", bit_depth=16)
    written = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)[..., ::-1]
    np.testing.assert_array_equal(written, from_unit_float(originals[1][2], 16))

    use = UseSettings(doc.runs[3].variants[1].settings)
    use.do(doc)
    assert doc.settings.seed == 3

    loaded = load_project(save_project(doc, tmp_path / "p.piggy"))
    for run, expected in zip(loaded.runs, originals):
        for variant, original in zip(run.variants, expected):
            np.testing.assert_array_equal(
                from_unit_float(variant.rgb, 16), from_unit_float(original, 16)
            )
    assert store.resident_bytes <= store.budget


def test_preview_is_small_for_a_large_result(store):
    big = np.zeros((1200, 1600, 3), np.float32)
    big[:, 800:] = 1.0
    variant = ResultVariant(big)
    assert variant.preview.shape == (288, 384, 3)
    assert variant.size == (1200, 1600)
    assert variant.preview[:, :150].max() < 0.01 and variant.preview[:, -150:].min() > 0.99


def test_scratch_folders_of_dead_processes_are_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("PIGGYDESK_HOME", str(tmp_path / "home"))
    root = Path(pixels.paths.data_dir()) / "scratch"
    stale = root / "999999999-abcdef"  # no such process
    stale.mkdir(parents=True)
    (stale / "x.u16").write_bytes(b"0" * 10)
    store = pixels.PixelStore(budget=0)
    folder = store.folder()
    assert folder.is_dir() and folder.parent == root and not stale.exists()
