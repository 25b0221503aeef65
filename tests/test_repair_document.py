"""The repair part of a document: mask strokes, settings, hints moving, undo, .piggy files."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from piggydesk.core.document import (
    AddRun,
    Document,
    ResultVariant,
    Run,
    UseSettings,
    load_project,
    save_project,
)
from piggydesk.core.errors import ProjectError
from piggydesk.core.hints import Hint
from piggydesk.core.paths import resources_dir
from piggydesk.core.repair.document import (
    MASK_MEMBER,
    PaintMask,
    SetDefectMask,
    SetRepair,
    mask_overlay,
)
from piggydesk.core.repair.geometry import Geometry
from piggydesk.core.repair.pipeline import RepairSettings
from piggydesk.core.repair.tone import ToneSettings
from piggydesk.core.run_settings import RunSettings

SAMPLES = resources_dir() / "samples"


@pytest.fixture
def doc(tmp_path: Path) -> Document:
    gray = np.asarray(Image.open(SAMPLES / "coffee-gray.jpg").convert("L")).copy()
    gray[200:203, 40:560] = 250  # a scratch across the photo
    path = tmp_path / "scratched.png"
    Image.fromarray(gray).save(path)
    return Document.open_photo(path)


def _stroke_over_the_scratch(doc: Document) -> PaintMask:
    return PaintMask([(40, 201), (300, 201), (559, 201)], radius=3)


def _copy_project(path: Path, out: Path, change_manifest=None, members=None) -> Path:
    """A copy of the project at ``path`` with its manifest changed in place by
    ``change_manifest(manifest)`` and members replaced from ``members`` (name -> bytes)."""
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "manifest.json" and change_manifest is not None:
                manifest = json.loads(data)
                change_manifest(manifest)
                data = json.dumps(manifest).encode()
            dst.writestr(info, (members or {}).get(info.filename, data))
    return out


def test_a_stroke_fills_the_scratch_and_undoes_exactly(doc):
    before = doc.working_photo
    stroke = _stroke_over_the_scratch(doc)
    stroke.do(doc)
    assert doc.defect_mask[201, 100] and not doc.defect_mask[190, 100]
    repaired = doc.working_photo
    assert repaired is not before
    assert (
        repaired.lightness[200:203, 60:540].mean() < before.lightness[200:203, 60:540].mean() - 10
    )
    np.testing.assert_array_equal(repaired.lightness[:190], before.lightness[:190])
    stroke.undo(doc)
    assert doc.defect_mask is None
    assert doc.working_photo.lightness[201, 100] == before.lightness[201, 100]
    stroke.do(doc)  # redo
    assert doc.defect_mask.sum() > 0
    erase = PaintMask([(100, 201), (200, 201)], radius=5, erase=True)
    erase.do(doc)
    assert not doc.defect_mask[201, 150] and doc.defect_mask[201, 300]
    kept = doc.defect_mask.copy()
    erase.undo(doc)
    assert doc.defect_mask[201, 150]
    erase.do(doc)
    np.testing.assert_array_equal(doc.defect_mask, kept)


def test_strokes_are_drawn_in_working_pixels_and_stored_in_source_pixels(doc):
    SetRepair(RepairSettings(geometry=Geometry(rotate=1))).do(doc)
    h, w = doc.photo.size
    assert doc.working_photo.size == (w, h)
    # the scratch (source row 201) is a column in the turned photo: x = h - 1 - 201
    PaintMask([(h - 1 - 201, 60), (h - 1 - 201, 500)], radius=2).do(doc)
    assert doc.defect_mask[201, 60:500].all()
    overlay = mask_overlay(doc)
    assert overlay.shape == (w, h) and overlay[300, h - 1 - 201]


def test_set_repair_moves_hints_and_undo_puts_them_back(doc):
    doc.hints[:] = [Hint(100.0, 50.0, (200, 40, 40)), Hint(590.0, 390.0, (40, 40, 200))]
    command = SetRepair(RepairSettings(geometry=Geometry(rotate=1, crop=(0, 0, 400, 300))))
    command.do(doc)
    h, _ = doc.photo.size
    assert doc.hints == [Hint(h - 1 - 50.0, 100.0, (200, 40, 40))]  # the other is cropped away
    command.undo(doc)
    assert [(hint.x, hint.y) for hint in doc.hints] == [(100.0, 50.0), (590.0, 390.0)]
    assert doc.repair == RepairSettings()


def test_found_defects_are_added_to_the_mask_and_undo(doc):
    PaintMask([(10, 10)], radius=2).do(doc)
    found = np.zeros(doc.photo.size, bool)
    found[300:305, 300:320] = True
    command = SetDefectMask(found, add=True)
    command.do(doc)
    assert doc.defect_mask[10, 10] and doc.defect_mask[302, 310]
    command.undo(doc)
    assert doc.defect_mask[10, 10] and not doc.defect_mask[302, 310]
    clear = SetDefectMask(None)
    clear.do(doc)
    assert doc.defect_mask is None
    clear.undo(doc)
    assert doc.defect_mask[10, 10]


def test_the_engine_gets_the_working_photo(doc):
    SetRepair(RepairSettings(geometry=Geometry(crop=(10, 20, 300, 200)))).do(doc)
    kwargs = doc.request_kwargs()
    assert kwargs["lightness"].shape == (200, 300)


def test_project_keeps_mask_geometry_and_tone(doc, tmp_path):
    settings = RepairSettings(
        geometry=Geometry(rotate=3, flip_h=True, straighten=1.5, crop=(5, 6, 200, 300)),
        tone=ToneSettings(levels=0.7, clahe=0.2),
        denoise=0.1,
    )
    SetRepair(settings).do(doc)
    PaintMask([(20, 30), (120, 90)], radius=4).do(doc)
    shape = doc.working_photo.size
    result = np.random.default_rng(0).uniform(0, 1, (*shape, 3)).astype(np.float32)
    AddRun(Run(variants=[ResultVariant(rgb=result)])).do(doc)
    path = save_project(doc, tmp_path / "repaired.piggy")
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        assert manifest["defect_mask"] == MASK_MEMBER
        assert manifest["version"] == 2  # repair entries: format 2
        assert len(archive.read(MASK_MEMBER)) < 20_000  # 1 bit a pixel, compressed
    again = load_project(path)
    assert again.repair == settings
    np.testing.assert_array_equal(again.defect_mask, doc.defect_mask)
    np.testing.assert_allclose(
        again.working_photo.lightness, doc.working_photo.lightness, atol=1e-4
    )
    assert again.runs[0].variants[0].rgb.shape[:2] == shape


def test_a_project_without_repair_opens_with_none(doc, tmp_path):
    path = save_project(doc, tmp_path / "plain.piggy")
    def as_older_piggydesk_wrote_it(manifest):
        del manifest["repair"], manifest["defect_mask"]

    loaded = load_project(_copy_project(path, tmp_path / "old.piggy", as_older_piggydesk_wrote_it))
    assert loaded.repair == RepairSettings() and loaded.defect_mask is None
    assert loaded.working_photo is loaded.photo
    with zipfile.ZipFile(path) as archive:  # nothing repaired: still format 1
        assert json.loads(archive.read("manifest.json"))["version"] == 1


@pytest.mark.parametrize("repair", ["mask", "settings"])
def test_a_repaired_project_is_refused_cleanly_by_a_format_1_reader(
    doc, tmp_path, monkeypatch, repair
):
    import piggydesk.core.document as document

    if repair == "mask":
        PaintMask([(20, 30)], radius=4).do(doc)
    else:
        SetRepair(RepairSettings(tone=ToneSettings(levels=1.0))).do(doc)
    path = save_project(doc, tmp_path / "repaired.piggy")
    assert load_project(path).repair == doc.repair  # this PiggyDesk reads it
    monkeypatch.setattr(document, "FORMAT_VERSION", 1)  # a PiggyDesk that reads only format 1
    with pytest.raises(ProjectError, match=r"saved by a newer PiggyDesk \(project format 2\)"):
        load_project(path)
    # with the repair undone the project is format 1 again, and that reader opens it
    undo = SetDefectMask(None) if repair == "mask" else SetRepair(RepairSettings())
    undo.do(doc)
    assert load_project(save_project(doc, tmp_path / "plain.piggy")).repair == RepairSettings()


def test_a_mask_that_does_not_fit_is_a_project_error(doc, tmp_path):
    PaintMask([(20, 30)], radius=4).do(doc)
    path = save_project(doc, tmp_path / "p.piggy")
    small = cv2.imencode(".png", np.zeros((10, 10), np.uint8))[1].tobytes()
    bad = _copy_project(path, tmp_path / "bad.piggy", members={MASK_MEMBER: small})
    with pytest.raises(ProjectError, match="defect mask does not fit"):
        load_project(bad)


def _run_with_hints(doc: Document, hints: list[Hint]) -> Run:
    shape = doc.working_photo.size
    result = np.zeros((*shape, 3), np.float32)
    settings = RunSettings(engine="instant", seed=5, hints=tuple(hints))
    return Run(variants=[ResultVariant(rgb=result, settings=settings)])


def test_use_these_settings_after_a_turn_puts_the_hints_back_on_the_same_content(doc, tmp_path):
    """A run made on the turned, cropped photo; the turn is then undone and the crop changed:
    its hints land where the same content now is, the ones cut away are reported, and the
    geometry the run was made under survives a save and load."""
    made_under = Geometry(rotate=1, crop=(0, 0, 400, 300))
    SetRepair(RepairSettings(geometry=made_under)).do(doc)
    h, w = doc.photo.size
    # two spots picked in the source, placed as the person saw them on the turned photo
    source_spots = np.array([[100.0, 50.0], [300.0, 120.0]])
    turned = made_under.map_points(source_spots, (h, w))
    hints = [Hint(x, y, (200, 40, 40)) for x, y in turned]
    AddRun(_run_with_hints(doc, hints)).do(doc)
    assert doc.runs[-1].geometry == made_under
    now = Geometry(crop=(50, 0, 200, 200))  # upright again; the second spot is cut away
    SetRepair(RepairSettings(geometry=now)).do(doc)
    path = save_project(doc, tmp_path / "turned.piggy")
    doc = load_project(path)
    assert doc.runs[-1].geometry == made_under
    use = UseSettings(doc.runs[-1].variants[0].settings, doc.runs[-1].geometry)
    use.do(doc)
    expected = now.map_points(source_spots[:1], (h, w))[0]
    assert [(hint.x, hint.y) for hint in doc.hints] == [pytest.approx(tuple(expected))]
    assert use.dropped == 1
    use.undo(doc)
    assert doc.hints == []


def test_a_run_of_an_older_project_keeps_its_hints_as_they_were(doc, tmp_path):
    SetRepair(RepairSettings(geometry=Geometry(rotate=1))).do(doc)
    run = _run_with_hints(doc, [Hint(10.0, 20.0, (1, 2, 3))])
    AddRun(run).do(doc)
    path = save_project(doc, tmp_path / "p.piggy")
    def as_piggydesk_wrote_it_before(manifest):
        del manifest["runs"][0]["geometry"]

    loaded = load_project(_copy_project(path, tmp_path / "old.piggy", as_piggydesk_wrote_it_before))
    assert loaded.runs[0].geometry is None
    UseSettings(loaded.runs[0].variants[0].settings, loaded.runs[0].geometry).do(loaded)
    assert [(hint.x, hint.y) for hint in loaded.hints] == [(10.0, 20.0)]


@pytest.mark.parametrize("stored", [[1, 2], {"straighten": 90.0}, {"crop": [0, 0, -5, 3]}])
def test_a_damaged_run_geometry_is_a_project_error(doc, tmp_path, stored):
    AddRun(_run_with_hints(doc, [])).do(doc)
    path = save_project(doc, tmp_path / "p.piggy")
    def damage(manifest):
        manifest["runs"][0]["geometry"] = stored

    bad = _copy_project(path, tmp_path / "bad.piggy", damage)
    with pytest.raises(ProjectError, match="crop and turn of a result are not valid"):
        load_project(bad)
