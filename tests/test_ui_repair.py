"""The Repair dock with real mouse events, the real undo stack and the real worker thread."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from piggydesk.core.document import load_project
from piggydesk.core.hints import Hint
from piggydesk.core.imaging import load_photo
from piggydesk.ui.worker import ModelWorker
from tests.ui_fakes import (
    SuggestingEngine,
    TintEngine,
    fake_infos,
    make_factory,
    show_window,
    view_pos,
)

W, H = 160, 120


@pytest.fixture
def photo_path(tmp_path):
    x = np.linspace(60, 160, W, dtype=np.float32)
    gray = np.tile(x, (H, 1))
    gray[60:62, 10:150] = 250  # a scratch
    path = tmp_path / "scan.png"
    Image.fromarray(gray.astype(np.uint8), mode="L").save(path)
    return path


@pytest.fixture
def engines():
    return {"classic": TintEngine("classic"), "instant": SuggestingEngine("instant")}


@pytest.fixture
def window(qtbot, monkeypatch, engines):
    for kind in ("warning", "information", "critical", "question"):
        monkeypatch.setattr(
            QMessageBox, kind, staticmethod(lambda *a, **k: QMessageBox.StandardButton.Discard)
        )
    infos = [replace(i, available=True, reason="") for i in fake_infos()]
    worker = ModelWorker(engine_factory=make_factory(engines), prober=lambda: (infos, ["cpu"]),
                         describe_device=lambda d: "Test CPU")  # fmt: skip
    win = show_window(qtbot, worker, (1100, 750))
    yield win
    win.close()


def _drag(qtbot, win, points):
    viewport = win.canvas.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=view_pos(win, *points[0]))
    for point in points[1:]:
        qtbot.mouseMove(viewport, view_pos(win, *point))
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=view_pos(win, *points[-1]))


def test_brush_strokes_are_one_undo_step_each(qtbot, window, photo_path):
    assert window.open_path(photo_path)
    panel = window.repair.panel
    qtbot.mouseClick(panel.brush_tool, Qt.MouseButton.LeftButton)
    assert window.repair.tools.tool == "brush"
    panel.brush_size.setValue(3)
    before = window.undo_stack.count()
    _drag(qtbot, window, [(10 + 14 * i, 61) for i in range(11)])
    assert window.undo_stack.count() == before + 1
    assert window.undo_stack.undoText() == "Paint defect mask"
    doc = window.model.doc
    assert doc.defect_mask[61, 20:140].all() and not doc.defect_mask[40, 80]
    assert not window.model.hints()  # the brush does not place hints
    assert window.repair.overlay.isVisible()
    # the scratch is filled in on the shown (working) photo
    assert window.model.photo.lightness[60:62, 20:140].mean() < 80
    # a second stroke, erasing: its own step
    qtbot.mouseClick(panel.erase_tool, Qt.MouseButton.LeftButton)
    _drag(qtbot, window, [(70, 61), (90, 61)])
    assert window.undo_stack.count() == before + 2
    assert not doc.defect_mask[61, 80] and doc.defect_mask[61, 30]
    window.undo_stack.undo()
    assert doc.defect_mask[61, 80]
    window.undo_stack.undo()
    assert window.model.doc.defect_mask is None
    assert not window.repair.overlay.isVisible()
    assert window.model.photo.lightness[61, 80] > 90  # the scratch is back
    window.undo_stack.redo()
    assert window.model.doc.defect_mask[61, 80]


def test_turn_moves_the_photo_and_its_hints_and_undoes(qtbot, window, photo_path):
    assert window.open_path(photo_path)
    window.add_hint(30.0, 20.0)
    hint = window.model.hints()[0]
    qtbot.mouseClick(window.repair.panel.turn_right, Qt.MouseButton.LeftButton)
    assert window.canvas.image_size() == (W, H)
    moved = window.model.hints()[0]
    assert (moved.x, moved.y) == (H - 1 - 20.0, 30.0)
    assert window.undo_stack.undoText() == "Turn photo"
    window.undo_stack.undo()
    assert window.canvas.image_size() == (H, W)
    assert window.model.hints()[0] == hint


def test_use_these_settings_after_a_turn_keeps_the_hints_on_their_content(
    qtbot, window, photo_path
):
    """A run on the upright photo, then the photo is turned: restoring that run's settings
    puts its hint where that spot of the photo now is, not at the old pixel position."""
    assert window.open_path(photo_path)
    window.edit_setting("engine", "classic")
    window.add_hint(30.0, 20.0)
    with qtbot.waitSignal(window.run_finished):
        window.colorize()
    window.clear_hints()
    qtbot.mouseClick(window.repair.panel.turn_right, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(window.strip.use_button, Qt.MouseButton.LeftButton)
    restored = window.model.hints()
    assert [(hint.x, hint.y) for hint in restored] == [(H - 1 - 20.0, 30.0)]
    window.undo_stack.undo()
    assert window.model.hints() == []


def test_undo_and_redo_of_repair_edits_never_repair_on_the_gui_thread(
    qtbot, window, photo_path, monkeypatch
):
    """More edits than the working-photo cache holds, then undo and redo them all: every
    working photo is computed in a background thread, the window answering meanwhile."""
    import threading

    import piggydesk.core.repair.document as repair_document

    real = repair_document.repair_photo
    on_gui_thread = []

    def watched(*args, **kwargs):
        on_gui_thread.append(threading.current_thread() is threading.main_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(repair_document, "repair_photo", watched)
    assert window.open_path(photo_path)
    panel = window.repair.panel
    qtbot.mouseClick(panel.turn_right, Qt.MouseButton.LeftButton)
    panel.levels.setValue(60)
    qtbot.mouseClick(panel.turn_right, Qt.MouseButton.LeftButton)
    panel.levels.setValue(100)
    edits = window.undo_stack.count()
    shown = [window.canvas.before_image().copy()]
    for _ in range(edits):
        window.undo_stack.undo()
        shown.append(window.canvas.before_image().copy())
    assert window.model.doc.repair == type(window.model.doc.repair)()
    for _ in range(edits):
        window.undo_stack.redo()
    assert np.array_equal(window.canvas.before_image(), shown[0])
    assert on_gui_thread and not any(on_gui_thread), on_gui_thread


def test_a_run_that_lands_during_an_undo_waits_for_it(
    qtbot, window, engines, photo_path, monkeypatch
):
    """The undo of a repair edit computes its working photo while the GUI's event loop runs;
    a run finishing then is pushed after the undo, never inside it (the stack stays whole)."""
    import threading
    import time

    import piggydesk.core.repair.document as repair_document

    assert window.open_path(photo_path)
    window.edit_setting("engine", "classic")
    panel = window.repair.panel
    qtbot.mouseClick(panel.turn_right, Qt.MouseButton.LeftButton)
    panel.levels.setValue(60)
    qtbot.mouseClick(panel.turn_right, Qt.MouseButton.LeftButton)  # the first turn is evicted
    engine = engines["classic"]
    real = repair_document.repair_photo

    def slow(*args, **kwargs):
        if threading.current_thread() is not threading.main_thread():
            deadline = time.monotonic() + 5
            while not engine.calls and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.3)  # the run's message reaches the GUI thread meanwhile
        return real(*args, **kwargs)

    monkeypatch.setattr(repair_document, "repair_photo", slow)
    window.colorize()
    window.undo_stack.undo()  # the second turn
    window.undo_stack.undo()  # the levels: the first turn's photo is no longer cached
    qtbot.waitUntil(lambda: len(window.model.runs()) == 1, timeout=10_000)
    stack = window.undo_stack
    assert stack.index() == stack.count() and stack.undoText().startswith("Colorize")
    assert window.model.doc.repair.geometry.rotate == 1
    stack.undo()
    assert window.model.runs() == [] and stack.canRedo()


def test_a_result_made_before_a_flip_is_not_laid_over_the_flipped_photo(
    qtbot, window, photo_path
):
    """A flip keeps the photo's size: the result made before it no longer lies over it, so
    the canvas shows the photo alone (and says why) until the flip is undone."""
    assert window.open_path(photo_path)
    window.edit_setting("engine", "classic")
    with qtbot.waitSignal(window.run_finished):
        window.colorize()
    assert window.canvas.after_image() is not None
    qtbot.mouseClick(window.repair.panel.flip_h, Qt.MouseButton.LeftButton)
    assert window.canvas.image_size() == (H, W)
    assert window.canvas.after_image() is None
    assert "before the last crop, turn or flip" in window.status_label.text()
    window.undo_stack.undo()
    assert window.canvas.after_image() is not None


def test_tone_slider_guide_line_and_crop(qtbot, window, photo_path):
    assert window.open_path(photo_path)
    panel = window.repair.panel
    flat = window.model.photo.lightness.copy()
    panel.levels.setValue(100)  # what a released slider drag does
    assert window.undo_stack.undoText() == "Levels"
    stretched = window.model.photo.lightness
    assert np.ptp(stretched) > np.ptp(flat) + 10
    # the guide line: a line drawn 5 degrees off level turns the photo by 5 degrees
    qtbot.mouseClick(panel.guide_tool, Qt.MouseButton.LeftButton)
    _drag(qtbot, window, [(20, 40), (80, 40 + 60 * np.tan(np.radians(5)))])
    assert window.model.doc.repair.geometry.straighten == pytest.approx(-5, abs=0.6)
    assert panel.straighten.value() == pytest.approx(window.model.doc.repair.geometry.straighten)
    assert window.repair.tools.tool == "none"  # one line, then back to hints
    # crop
    h, w = window.canvas.image_size()
    qtbot.mouseClick(panel.crop_tool, Qt.MouseButton.LeftButton)
    _drag(qtbot, window, [(10, 10), (60, 40), (90, 70)])
    assert window.canvas.image_size() == (60, 80)
    assert window.undo_stack.undoText() == "Crop photo"
    for _ in range(3):
        window.undo_stack.undo()
    assert window.model.doc.repair == type(window.model.doc.repair)()
    assert window.canvas.image_size() == (H, W)


def test_live_preview_recolorizes_the_repaired_photo(qtbot, window, photo_path):
    window.runs.set_live(True)
    assert window.open_path(photo_path)
    qtbot.mouseClick(window.repair.panel.turn_left, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.runs.live_preview is not None, timeout=10_000)
    assert window.runs.live_preview.shape[:2] == (W, H)  # made from the turned photo


def test_repair_is_saved_in_the_project(qtbot, window, photo_path, tmp_path):
    assert window.open_path(photo_path)
    panel = window.repair.panel
    qtbot.mouseClick(panel.brush_tool, Qt.MouseButton.LeftButton)
    _drag(qtbot, window, [(20, 61), (120, 61)])
    qtbot.mouseClick(panel.turn_right, Qt.MouseButton.LeftButton)
    window.model.doc.hints.append(Hint(5.0, 5.0, (10, 20, 30)))
    path = tmp_path / "scan.piggy"
    window.model.save_project(path)
    doc = load_project(path)
    assert doc.repair.geometry.rotate == 1
    assert doc.defect_mask[61, 30:110].all()
    assert doc.working_photo.size == (W, H)


def test_export_repaired_photo(qtbot, window, photo_path, tmp_path, monkeypatch):
    assert window.open_path(photo_path)
    qtbot.mouseClick(window.repair.panel.turn_right, Qt.MouseButton.LeftButton)
    window.repair.panel.levels.setValue(100)
    out = tmp_path / "repaired.png"
    monkeypatch.setattr(
        "piggydesk.ui.repair_panel.QFileDialog.getSaveFileName",
        staticmethod(lambda *a, **k: (str(out), "PNG (*.png)")),
    )
    qtbot.mouseClick(window.repair.panel.export_button, Qt.MouseButton.LeftButton)
    written = load_photo(out)
    assert written.size == (W, H)
    np.testing.assert_allclose(written.lightness, window.model.photo.lightness, atol=0.6)
    assert load_photo(photo_path).size == (H, W)  # the original is untouched


def test_batch_dialog_repairs_each_photo_before_colorizing(qtbot, tmp_path, photo_path):
    from piggydesk.ui.batch_dialog import BatchDialog
    from piggydesk.ui.settings import AppSettings

    src, out = photo_path.parent, tmp_path / "out"
    engines = {"classic": TintEngine("classic"), "instant": SuggestingEngine("instant")}
    infos = [replace(i, available=True, reason="") for i in fake_infos()]
    worker = ModelWorker(engine_factory=make_factory(engines), prober=lambda: (infos, ["cpu"]),
                         describe_device=lambda d: "Test CPU")  # fmt: skip
    try:
        settings = AppSettings()
        dialog = BatchDialog(worker, infos, settings)
        qtbot.addWidget(dialog)
        dialog.show()
        qtbot.waitExposed(dialog)
        dialog.in_edit.setText(str(src))
        dialog.out_edit.setText(str(out))
        assert dialog.repair_settings().is_identity  # off unless asked for
        dialog.dust_check.click()
        dialog.levels_check.click()
        with qtbot.waitSignal(dialog.finished_batch, timeout=20000) as blocker:
            dialog.start_button.click()
        assert blocker.args == [1, 0]
        repaired = load_photo(dialog.written[0]).lightness
        # the scratch (rows 60-61) is gone: like the rows around it
        assert np.abs(repaired[60:62, 20:140] - repaired[58, 20:140]).max() < 6
        # levels stretched the faded scan (about L* 25-67) towards black and white
        clean = load_photo(photo_path).lightness
        assert np.ptp(repaired[30]) > np.ptp(clean[30]) + 15
        # the choices are remembered for the next batch
        assert settings.get("batch_auto_dust") and settings.get("batch_levels")
        assert not settings.get("batch_local_contrast")
        dialog.reject()
        again = BatchDialog(worker, infos, settings)
        qtbot.addWidget(again)
        again.show()
        qtbot.waitExposed(again)
        assert again.dust_check.isChecked() and again.levels_check.isChecked()
        # without repair the scratch stays
        again.dust_check.click()
        again.levels_check.click()
        again.in_edit.setText(str(src))
        again.out_edit.setText(str(out))
        with qtbot.waitSignal(again.finished_batch, timeout=20000):
            again.start_button.click()
        plain = load_photo(again.written[0]).lightness
        assert plain[60, 20:140].mean() > plain[58, 20:140].mean() + 20
        again.reject()
    finally:
        worker.shutdown()
