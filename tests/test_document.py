"""The document: edit commands that undo exactly, and .piggy projects that load back identically."""

from __future__ import annotations

import errno
import json
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from piggydesk.core import document as document_module
from piggydesk.core.color import from_unit_float
from piggydesk.core.document import (
    AddHint,
    AddRun,
    ChooseVariant,
    ClearHints,
    Command,
    Document,
    MoveHint,
    RecolourHint,
    RemoveHint,
    RemoveRun,
    ResizeHint,
    ResultVariant,
    Run,
    SetNegativePrompt,
    SetPrompt,
    SetSeed,
    SetSetting,
    UseSettings,
    load_project,
    save_project,
)
from piggydesk.core.errors import ProjectError
from piggydesk.core.hints import Hint
from piggydesk.core.imaging import photo_from_array
from piggydesk.core.run_settings import RunSettings
from piggydesk.engines.base import ColorizeRequest, Variant


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A 16-bit gray scan on disk."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 65536, size=(48, 64), dtype=np.uint16)
    path = tmp_path / "grandma 1950.png"
    cv2.imwrite(str(path), pixels)
    return path


def _variants(n: int, seed: int, engine: str = "instant") -> list[Variant]:
    rng = np.random.default_rng(seed)
    return [
        Variant(
            rgb=rng.random((48, 64, 3), dtype=np.float32),
            settings=RunSettings(
                engine=engine,
                seed=seed + i,
                variant_index=i,
                prompt="a summer garden",
                hints=(Hint(3.0, 4.0, (200, 10, 20), 2.0),),
                steps=12,
                guidance_scale=5.5,
            ),
            message="ok" if i == 0 else "",
            seconds=0.25 * (i + 1),
        )
        for i in range(n)
    ]


@pytest.fixture
def doc(source: Path) -> Document:
    doc = Document.open_photo(source)
    doc.hints = [Hint(1.0, 2.0, (255, 0, 0), 2.0), Hint(30.5, 20.25, (0, 90, 200), 4.5)]
    doc.settings = RunSettings(
        engine="piggyback",
        num_variants=2,
        steps=25,
        guidance_scale=6.0,
        working_size=384,
    )
    doc.prompt = "a girl in a red dress"
    doc.negative_prompt = "blurry"
    doc.seed = 1234
    AddRun(Run.from_engine(_variants(2, 10))).do(doc)
    AddRun(Run.from_engine(_variants(3, 20, engine="classic"))).do(doc)
    ChooseVariant(1, 2).do(doc)
    return doc


def _check_undo(doc: Document, command: Command) -> dict:
    before = doc.state()
    command.do(doc)
    after = doc.state()
    assert after != before, f"{type(command).__name__} changed nothing"
    command.undo(doc)
    assert doc.state() == before
    command.do(doc)  # redo after undo gives the same result again
    assert doc.state() == after
    command.undo(doc)
    assert doc.state() == before
    assert isinstance(command.text, str) and command.text
    return after


# ----------------------------------------------------------------------------- documents


def test_open_photo(source: Path) -> None:
    doc = Document.open_photo(source)
    assert doc.image_size == (48, 64)
    assert doc.source_bytes == source.read_bytes()
    assert doc.name == "grandma 1950.png"
    assert doc.photo.bit_depth == 16
    assert doc.runs == [] and doc.chosen is None and doc.chosen_variant is None


def test_request_kwargs_build_a_colorize_request(doc: Document) -> None:
    request = ColorizeRequest(**doc.request_kwargs())
    assert request.image_size == (48, 64)
    assert request.hints == tuple(doc.hints)
    assert request.prompt == doc.prompt and request.negative_prompt == "blurry"
    assert (request.seed, request.num_variants, request.steps) == (1234, 2, 25)
    assert request.guidance_scale == 6.0 and request.working_size == 384
    assert ColorizeRequest(**doc.request_kwargs(num_variants=1)).num_variants == 1


def test_result_variants_keep_engine_settings(doc: Document) -> None:
    variant = doc.chosen_variant
    assert variant is doc.runs[1].variants[2]
    settings = variant.settings
    assert settings.engine == "classic" and settings.seed == 22 and settings.variant_index == 2
    assert doc.runs[1].engine == "classic"


# ----------------------------------------------------------------------------- commands


def test_hint_commands_undo_exactly(doc: Document) -> None:
    new = Hint(10.0, 11.0, (1, 2, 3), 1.5)
    after = _check_undo(doc, AddHint(new))
    assert after["hints"][-1] == new.to_dict()
    after = _check_undo(doc, AddHint(new, index=0))
    assert after["hints"][0] == new.to_dict()
    after = _check_undo(doc, MoveHint(1, 40.0, 41.5))
    assert (after["hints"][1]["x"], after["hints"][1]["y"]) == (40.0, 41.5)
    after = _check_undo(doc, RecolourHint(0, (0, 255, 0)))
    assert after["hints"][0]["color"] == "#00ff00"
    after = _check_undo(doc, ResizeHint(0, 9.0))
    assert after["hints"][0]["radius"] == 9.0
    after = _check_undo(doc, RemoveHint(0))
    assert len(after["hints"]) == 1 and after["hints"][0]["x"] == 30.5
    assert _check_undo(doc, ClearHints())["hints"] == []
    with pytest.raises(IndexError):
        MoveHint(5, 0, 0).do(doc)
    with pytest.raises(IndexError):
        RemoveHint(-1).do(doc)


def test_text_seed_and_setting_commands_undo_exactly(doc: Document) -> None:
    assert _check_undo(doc, SetPrompt("an old farm"))["prompt"] == "an old farm"
    assert _check_undo(doc, SetNegativePrompt(""))["negative_prompt"] == ""
    assert _check_undo(doc, SetSeed(7))["seed"] == 7
    assert _check_undo(doc, SetSetting("steps", 50))["settings"]["steps"] == 50
    after = _check_undo(doc, SetSetting("strength", 0.6))  # a key that did not exist
    assert after["settings"]["strength"] == 0.6
    assert "strength" not in doc.settings


def test_run_and_choice_commands_undo_exactly(doc: Document) -> None:
    after = _check_undo(doc, AddRun(Run.from_engine(_variants(1, 30))))
    assert len(after["runs"]) == 3 and after["chosen"] == [2, 0]
    after = _check_undo(doc, AddRun(Run.from_engine(_variants(1, 31)), choose=False))
    assert after["chosen"] == [1, 2]
    assert _check_undo(doc, ChooseVariant(0, 1))["chosen"] == [0, 1]
    after = _check_undo(doc, RemoveRun(0))
    assert after["chosen"] == [0, 2] and len(after["runs"]) == 1
    assert _check_undo(doc, RemoveRun(1))["chosen"] is None
    with pytest.raises(IndexError):
        ChooseVariant(0, 9).do(doc)
    assert doc.chosen == (1, 2)


def test_use_settings_restores_a_variant_and_undoes(doc: Document) -> None:
    settings = doc.runs[0].variants[1].settings
    after = _check_undo(doc, UseSettings(settings))
    assert after["prompt"] == "a summer garden"
    assert after["seed"] == 11
    assert after["hints"] == [Hint(3.0, 4.0, (200, 10, 20), 2.0).to_dict()]
    assert after["settings"]["engine"] == "instant" and after["settings"]["steps"] == 12


def test_a_whole_session_undoes_back_to_the_start(doc: Document) -> None:
    start = doc.state()
    commands: list[Command] = [
        AddHint(Hint(5, 5, (9, 9, 9))),
        MoveHint(2, 6, 7),
        RecolourHint(2, (8, 8, 8)),
        ResizeHint(2, 3),
        SetPrompt("x"),
        SetSeed(99),
        SetSetting("engine", "classic"),
        AddRun(Run.from_engine(_variants(2, 40))),
        ChooseVariant(2, 1),
        RemoveHint(0),
        ClearHints(),
        RemoveRun(1),
    ]
    for command in commands:
        command.do(doc)
    for command in reversed(commands):
        command.undo(doc)
    assert doc.state() == start


# ----------------------------------------------------------------------------- projects


def _assert_same_document(a: Document, b: Document) -> None:
    assert a.state() == b.state()
    assert a.hints == b.hints
    assert a.settings == b.settings
    assert a.chosen == b.chosen
    assert a.source_bytes == b.source_bytes
    np.testing.assert_array_equal(a.photo.lightness, b.photo.lightness)
    np.testing.assert_array_equal(a.photo.rgb, b.photo.rgb)
    assert a.photo.bit_depth == b.photo.bit_depth
    for run_a, run_b in zip(a.runs, b.runs, strict=True):
        for var_a, var_b in zip(run_a.variants, run_b.variants, strict=True):
            np.testing.assert_array_equal(
                from_unit_float(var_a.rgb, 16), from_unit_float(var_b.rgb, 16)
            )
            assert var_a.settings == var_b.settings


def test_project_round_trip_is_identical(doc: Document, tmp_path: Path) -> None:
    path = save_project(doc, tmp_path / "work.piggy")
    assert doc.project_path == path
    loaded = load_project(path)
    assert loaded.project_path == path
    _assert_same_document(doc, loaded)
    # saving the loaded document again gives the same project
    again = load_project(save_project(loaded, tmp_path / "again.piggy"))
    _assert_same_document(doc, again)


def test_project_layout(doc: Document, tmp_path: Path) -> None:
    path = save_project(doc, tmp_path / "work.piggy")
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("manifest.json"))
        assert "source/grandma 1950.png" in names
        assert archive.read("source/grandma 1950.png") == doc.source_bytes
        first = manifest["runs"][0]["variants"][0]["image"]
        png = cv2.imdecode(np.frombuffer(archive.read(first), np.uint8), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint16 and png.shape == (48, 64, 3)
    assert manifest["version"] == 1 and manifest["format"] == "piggydesk-project"
    assert manifest["source_path"] == str(doc.source_path)
    assert manifest["chosen"] == [1, 2] and manifest["seed"] == 1234


def test_project_is_self_contained(doc: Document, source: Path, tmp_path: Path) -> None:
    path = save_project(doc, tmp_path / "work.piggy")
    source.unlink()
    loaded = load_project(path)
    assert loaded.photo.size == (48, 64)
    assert loaded.source_path == source  # still remembered (and never written over on export)


def test_project_of_a_photo_without_a_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    doc = Document(photo=photo_from_array(rng.integers(0, 65536, (40, 50, 3), dtype=np.uint16)))
    AddRun(Run([ResultVariant(rng.random((40, 50, 3), dtype=np.float32), {"engine": "x"})])).do(doc)
    loaded = load_project(save_project(doc, tmp_path / "mem.piggy"))
    assert loaded.source_bytes is None
    np.testing.assert_array_equal(loaded.photo.rgb, doc.photo.rgb)
    np.testing.assert_array_equal(
        from_unit_float(loaded.runs[0].variants[0].rgb, 16),
        from_unit_float(doc.runs[0].variants[0].rgb, 16),
    )


def test_failed_save_keeps_the_old_project(
    doc: Document, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = save_project(doc, tmp_path / "work.piggy")
    before = path.read_bytes()
    doc.prompt = "changed"

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(document_module, "encode_png", disk_full)
    with pytest.raises(ProjectError, match="could not be saved"):
        save_project(doc, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_unstorable_setting_is_a_project_error(doc: Document, tmp_path: Path) -> None:
    doc.settings = doc.settings.with_values(callback=object())
    with pytest.raises(ProjectError, match="not storable"):
        save_project(doc, tmp_path / "bad.piggy")
    assert not (tmp_path / "bad.piggy").exists()


def test_bad_project_files(tmp_path: Path, doc: Document) -> None:
    with pytest.raises(ProjectError, match="does not exist"):
        load_project(tmp_path / "missing.piggy")
    (tmp_path / "text.piggy").write_text("hello")
    with pytest.raises(ProjectError, match="not a PiggyDesk project"):
        load_project(tmp_path / "text.piggy")
    with zipfile.ZipFile(tmp_path / "empty.piggy", "w") as archive:
        archive.writestr("other.txt", "x")
    with pytest.raises(ProjectError, match="no manifest"):
        load_project(tmp_path / "empty.piggy")
    with zipfile.ZipFile(tmp_path / "future.piggy", "w") as archive:
        archive.writestr(
            "manifest.json", json.dumps({"format": "piggydesk-project", "version": 99})
        )
    with pytest.raises(ProjectError, match="newer PiggyDesk"):
        load_project(tmp_path / "future.piggy")
    good = save_project(doc, tmp_path / "good.piggy")
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(tmp_path / "broken.piggy", "w") as dst:
        for item in src.infolist():
            if not item.filename.startswith("runs/001"):
                dst.writestr(item, src.read(item))
    with pytest.raises(ProjectError, match="damaged"):
        load_project(tmp_path / "broken.piggy")


def test_a_project_saved_before_run_settings_still_opens(source: Path, tmp_path: Path) -> None:
    """A format-1 manifest exactly as the app wrote it before ``RunSettings``: settings as a
    loose dict (with the GUI's ``random_seed``), variants as ``VariantSettings.to_dict()``."""
    old_variant = {
        "engine": "piggyback", "seed": 8, "variant_index": 1, "prompt": "a barn",
        "negative_prompt": "", "hints": [{"x": 3.0, "y": 4.0, "color": "#c80a14", "radius": 2.0}],
        "steps": 12, "guidance_scale": 5.5, "working_size": 512, "mode": "sdedit",
    }
    manifest = {
        "format": "piggydesk-project", "version": 1, "app_version": "0.1.0",
        "source_path": str(source), "source_name": source.name,
        "source_file": f"source/{source.name}",
        "hints": [{"x": 1.0, "y": 2.0, "color": "#ff0000", "radius": 2.0}],
        "prompt": "a barn", "negative_prompt": "modern", "seed": 77,
        "settings": {"engine": "instant", "num_variants": 4, "steps": 20, "guidance_scale": 7.5,
                     "working_size": 512, "random_seed": False, "strength": 0.6},
        "runs": [{"engine": "piggyback", "created": "2026-01-01T10:00:00",
                  "variants": [{"settings": old_variant, "message": "", "seconds": 1.5,
                                "image": "runs/000/variant-00.png"}]}],
        "chosen": [0, 0],
    }
    png = cv2.imencode(".png", np.full((48, 64, 3), 30000, np.uint16))[1].tobytes()
    path = tmp_path / "old.piggy"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.json", json.dumps(manifest))
        archive.writestr(f"source/{source.name}", source.read_bytes())
        archive.writestr("runs/000/variant-00.png", png)
    doc = load_project(path)
    assert (doc.prompt, doc.negative_prompt, doc.seed) == ("a barn", "modern", 77)
    assert doc.random_seed is False
    assert doc.settings.engine == "instant" and doc.settings.num_variants == 4
    assert doc.settings.options == {"strength": 0.6}
    variant = doc.runs[0].variants[0].settings
    assert isinstance(variant, RunSettings)
    assert (variant.engine, variant.seed, variant.variant_index) == ("piggyback", 8, 1)
    assert variant.mode == "sdedit" and variant.hints == (Hint(3.0, 4.0, (200, 10, 20), 2.0),)
    # "Use these settings" on the old variant, then save and load again: nothing is lost
    UseSettings(variant).do(doc)
    assert doc.settings.engine == "piggyback" and doc.settings.steps == 12
    assert "mode" not in doc.settings.options and doc.settings.options["strength"] == 0.6
    again = load_project(save_project(doc, tmp_path / "again.piggy"))
    _assert_same_document(doc, again)
    assert again.random_seed is False
