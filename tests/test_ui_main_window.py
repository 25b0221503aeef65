"""The main window driven like a person would: real mouse events, the real worker thread."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from piggydesk.ui.main_window import MainWindow
from piggydesk.ui.worker import JobKind, MessageKind, ModelWorker
from tests.ui_fakes import (
    SlowEngine,
    SuggestingEngine,
    TintEngine,
    fake_infos,
    make_factory,
    show_window,
    view_pos,
)

W, H = 128, 96


@pytest.fixture
def photo_path(tmp_path):
    x = np.linspace(30, 220, W, dtype=np.float32)
    gray = np.tile(x, (H, 1))
    gray[20:60, 30:70] = 240
    path = tmp_path / "grandma.png"
    Image.fromarray(gray.astype(np.uint8), mode="L").save(path)
    return path


@pytest.fixture
def engines():
    return {
        "classic": TintEngine("classic"),
        "instant": SuggestingEngine("instant"),
        "piggyback": SlowEngine(steps=100000, step_seconds=0.01),
    }


def _probe_all_available():
    return [replace(i, available=True, reason="") for i in fake_infos()], ["cpu"]


@pytest.fixture
def window(qtbot, dialogs, engines):
    worker = ModelWorker(engine_factory=make_factory(engines), prober=_probe_all_available,
                         describe_device=lambda d: "Test CPU")
    win = show_window(qtbot, worker, (1000, 700))
    yield win
    win.close()


def _click(qtbot, win, x, y, button=Qt.MouseButton.LeftButton):
    qtbot.mouseClick(win.canvas.viewport(), button, pos=view_pos(win, x, y))


def _open(win, path):
    assert win.open_path(path)
    assert win.model.photo is not None


def test_open_shows_photo_and_title(window, photo_path):
    _open(window, photo_path)
    assert window.canvas.image_size() == (H, W)
    assert "grandma.png" in window.windowTitle()
    assert not window.isWindowModified()
    assert window.settings.get("recent_files")[0] == str(photo_path)
    assert window.recent_menu.actions()


def test_hints_add_move_recolour_delete_with_mouse(qtbot, window, photo_path):
    _open(window, photo_path)
    window.colour_panel.set_current_color((200, 40, 40))
    _click(qtbot, window, 20, 30)
    _click(qtbot, window, 100, 70)
    hints = window.model.hints()
    assert [(round(h.x), round(h.y)) for h in hints] == [(20, 30), (100, 70)]
    assert hints[0].color == (200, 40, 40)
    assert window.model.selected == 1
    assert window.isWindowModified()
    # drag the first hint: many mouse moves, one undo entry
    before = window.undo_stack.count()
    vp = window.canvas.viewport()
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=view_pos(window, 20, 30))
    for step in range(1, 11):
        qtbot.mouseMove(vp, view_pos(window, 20 + 4 * step, 30 + 2 * step))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=view_pos(window, 60, 50))
    assert window.undo_stack.count() == before + 1
    moved = window.model.hints()[0]
    assert abs(moved.x - 60) <= 1.5 and abs(moved.y - 50) <= 1.5
    assert window.model.selected == 0
    # recolour the selected hint from a recent/suggested swatch and the gamut picker
    picker = window.colour_panel.picker
    qtbot.mouseClick(picker, Qt.MouseButton.LeftButton,
                     pos=QPoint(picker.width() // 4, picker.height() // 2))
    recoloured = window.model.hints()[0].color
    assert recoloured != (200, 40, 40)
    assert window.model.hints()[1].color == (200, 40, 40)
    # right click deletes
    _click(qtbot, window, 100, 70, Qt.MouseButton.RightButton)
    assert len(window.model.hints()) == 1
    # Delete key removes the selected one
    window.model.set_selected(0)
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_Delete)
    assert window.model.hints() == []


def test_undo_redo_walk_exact_states(qtbot, window, photo_path):
    _open(window, photo_path)
    states = [tuple(window.model.hints())]
    _click(qtbot, window, 10, 10)
    states.append(tuple(window.model.hints()))
    _click(qtbot, window, 50, 40)
    states.append(tuple(window.model.hints()))
    vp = window.canvas.viewport()
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=view_pos(window, 50, 40))
    qtbot.mouseMove(vp, view_pos(window, 70, 45))
    qtbot.mouseMove(vp, view_pos(window, 80, 50))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=view_pos(window, 80, 50))
    states.append(tuple(window.model.hints()))
    window.recolour_hint(0, (10, 200, 30))
    states.append(tuple(window.model.hints()))
    window.resize_hint(0, 6.0, 1)
    window.resize_hint(0, 6.5, 1)  # same wheel gesture: merged
    states.append(tuple(window.model.hints()))
    window.remove_hint(1)
    states.append(tuple(window.model.hints()))
    window.clear_hints()
    states.append(tuple(window.model.hints()))
    assert window.undo_stack.count() == len(states) - 1
    for i in range(len(states) - 1, 0, -1):
        window.undo_stack.undo()
        assert tuple(window.model.hints()) == states[i - 1]
        assert tuple(window.canvas.rings()[j].hint for j in range(len(states[i - 1]))) == states[i - 1]
    assert not window.isWindowModified()
    for i in range(1, len(states)):
        window.undo_stack.redo()
        assert tuple(window.model.hints()) == states[i]


def test_prompt_typing_merges_and_undoes(qtbot, window, photo_path):
    _open(window, photo_path)
    window.edit_setting("engine", "piggyback")
    edit = window.prompt_panel.prompt_edit
    edit.setFocus()
    count = window.undo_stack.count()
    qtbot.keyClicks(edit, "red dress")
    assert window.model.value("prompt") == "red dress"
    assert window.undo_stack.count() == count + 1
    window.undo_stack.undo()
    assert window.model.value("prompt") == ""
    assert edit.toPlainText() == ""
    window.undo_stack.redo()
    assert edit.toPlainText() == "red dress"


def test_colorize_through_worker_adds_variants_and_undo(qtbot, window, photo_path, engines):
    _open(window, photo_path)
    window.edit_setting("engine", "classic")
    window.edit_setting("num_variants", 3)
    window.edit_setting("random_seed", False)
    window.edit_setting("seed", 42)
    _click(qtbot, window, 40, 40)
    with qtbot.waitSignal(window.run_finished) as blocker:
        qtbot.mouseClick(window.prompt_panel.colorize_button, Qt.MouseButton.LeftButton)
    assert len(blocker.args[0].variants) == 3
    assert len(window.strip.items()) == 3
    assert window.model.chosen() == (0, 0)
    shown = window.canvas.after_image()
    assert shown is not None and shown.shape == (H, W, 3)
    assert engines["classic"].calls[-1].seed == 42
    assert engines["classic"].calls[-1].hints == tuple(window.model.hints())
    assert "Last run" in window.time_label.text()
    assert window.device_label.text() == "Device: Test CPU"
    # choose another variant by clicking its thumbnail
    item = window.strip.items()[2]
    rect = window.strip.list.visualItemRect(item)
    qtbot.mouseClick(window.strip.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.model.chosen() == (0, 2)
    assert np.array_equal(window.current_result(), window.model.chosen_rgb())
    window.undo_stack.undo()
    assert window.model.chosen() == (0, 0)
    window.undo_stack.undo()  # the run itself
    assert window.model.runs() == []
    assert window.canvas.after_image() is None
    window.undo_stack.redo()
    assert len(window.model.runs()) == 1


def test_use_these_settings_restores_hints_and_seed(qtbot, window, photo_path):
    _open(window, photo_path)
    window.edit_setting("engine", "classic")
    window.edit_setting("random_seed", False)
    window.edit_setting("seed", 7)
    _click(qtbot, window, 40, 40)
    with qtbot.waitSignal(window.run_finished):
        window.colorize()
    made_with = tuple(window.model.hints())
    window.clear_hints()
    window.edit_setting("seed", 99)
    qtbot.mouseClick(window.strip.use_button, Qt.MouseButton.LeftButton)
    assert tuple(window.model.hints()) == made_with
    assert window.model.value("seed") == 7
    window.undo_stack.undo()
    assert window.model.hints() == [] and window.model.value("seed") == 99


def test_cancel_stops_slow_run(qtbot, window, photo_path, engines):
    _open(window, photo_path)
    window.edit_setting("engine", "piggyback")
    seen = []
    window.worker.message.connect(seen.append)
    with qtbot.waitSignal(window.worker.message,
                          check_params_cb=lambda m: m.kind is MessageKind.PROGRESS):
        window.colorize()
    assert window.progress.isVisible()
    qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: any(m.kind is MessageKind.CANCELLED for m in seen))
    assert engines["piggyback"].steps_done < engines["piggyback"].steps
    assert window.model.runs() == []
    assert not window.progress.isVisible()
    assert window.prompt_panel.colorize_button.isEnabled()


def test_corrupt_file_shows_error_and_window_still_works(qtbot, window, dialogs, photo_path,
                                                         tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    assert not window.open_path(bad)
    assert dialogs.seen and dialogs.seen[-1][0] == "warning"
    assert "broken.jpg" in dialogs.seen[-1][2] or "JPEG" in dialogs.seen[-1][2].upper()
    assert "Traceback" not in dialogs.seen[-1][2]
    _open(window, photo_path)
    _click(qtbot, window, 10, 10)
    assert len(window.model.hints()) == 1


def test_live_mode_refreshes_after_hint_edit(qtbot, window, photo_path, engines):
    _open(window, photo_path)
    window.edit_setting("engine", "instant")
    window.settings.set("live_delay_ms", 50)
    window.prompt_panel.live_check.setChecked(True)
    calls = len(engines["instant"].calls)
    _click(qtbot, window, 30, 30)
    qtbot.waitUntil(lambda: window.runs.live_preview is not None)
    assert len(engines["instant"].calls) > calls
    assert window.canvas.after_image() is window.runs.live_preview
    assert window.model.runs() == []  # live previews are not history entries


def test_suggestions_from_instant_engine(qtbot, window, photo_path):
    _open(window, photo_path)
    _click(qtbot, window, 30, 30)
    qtbot.waitUntil(lambda: len(window.colour_panel.suggested.swatches()) == 2)
    swatch = window.colour_panel.suggested.swatches()[0]
    qtbot.mouseClick(swatch, Qt.MouseButton.LeftButton)
    assert window.model.hints()[0].color == (200, 40, 40)


def test_canvas_zoom_split_and_compare(qtbot, window, photo_path):
    _open(window, photo_path)
    zoom = window.canvas.zoom()
    window.zoom_in_action.trigger()
    assert window.canvas.zoom() > zoom
    window.fit_action.trigger()
    assert window.canvas.zoom() == pytest.approx(zoom, rel=0.05)
    window.canvas.set_after(np.full((H, W, 3), 0.5, np.float32))
    window.split_action.setChecked(True)
    assert window.canvas.split_enabled
    window.canvas.set_split_fraction(0.25)
    assert window.canvas._after_item.split_x == pytest.approx(0.25 * W)
    window.canvas.setFocus()
    qtbot.keyPress(window.canvas, Qt.Key.Key_Space)
    assert window.canvas.comparing and not window.canvas.showing_result()
    qtbot.keyRelease(window.canvas, Qt.Key.Key_Space)
    assert not window.canvas.comparing and window.canvas.showing_result()
    # rings keep their screen size at every zoom
    _click(qtbot, window, 60, 40)
    ring = window.canvas.rings()[0]

    def on_screen() -> float:
        transform = ring.deviceTransform(window.canvas.viewportTransform())
        return transform.mapRect(ring.boundingRect()).width()

    size_before = on_screen()
    window.canvas.set_zoom(window.canvas.zoom() * 4)
    assert on_screen() == pytest.approx(size_before, abs=0.5)


def test_eyedropper_picks_result_colour(qtbot, window, photo_path):
    _open(window, photo_path)
    result = np.zeros((H, W, 3), np.float32)
    result[..., 0] = 0.8
    result[..., 2] = 0.2
    window.canvas.set_after(result)
    window.eyedropper_action.setChecked(True)
    _click(qtbot, window, 50, 50)
    assert window.colour_panel.current_color == (204, 0, 51)
    assert not window.canvas.eyedropper
    assert window.model.hints() == []  # picking did not add a hint


def test_project_save_load_round_trip(qtbot, window, photo_path, tmp_path):
    _open(window, photo_path)
    window.edit_setting("engine", "classic")
    window.edit_setting("random_seed", False)
    window.edit_setting("seed", 5)
    window.edit_setting("prompt", "sunny day")
    _click(qtbot, window, 20, 20)
    _click(qtbot, window, 90, 60)
    with qtbot.waitSignal(window.run_finished):
        window.colorize()
    window.choose_variant(0, 0)
    project = tmp_path / "work.piggy"
    assert window._save_to(project)
    assert not window.isWindowModified()
    hints = tuple(window.model.hints())
    result = window.model.chosen_rgb().copy()
    window.clear_hints()
    assert window.open_path(project)
    assert tuple(window.model.hints()) == hints
    assert window.model.value("prompt") == "sunny day"
    assert window.model.value("seed") == 5
    assert window.model.chosen() == (0, 0)
    assert np.abs(window.model.chosen_rgb() - result).max() <= 1.0 / 255 + 1e-6
    assert window.prompt_panel.prompt_edit.toPlainText() == "sunny day"
    assert len(window.strip.items()) == 1


def test_unavailable_engine_is_greyed_with_reason(qtbot, dialogs, engines):
    from tests.ui_fakes import fake_probe

    worker = ModelWorker(engine_factory=make_factory(engines), prober=fake_probe,
                         describe_device=lambda d: "Test CPU")
    win = MainWindow(worker=worker, check_recovery=False)
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: bool(win.runs.engines))
    combo = win.prompt_panel.engine_combo
    row = next(i for i in range(combo.count()) if combo.itemData(i) == "piggyback")
    item = combo.model().item(row)
    assert not item.isEnabled()
    assert item.toolTip() == "No piggyback model is installed."
    assert win.model.value("engine") == "instant"  # the first available engine
    menu_action = next(a for a in win.engine_group.actions() if a.data() == "piggyback")
    assert not menu_action.isEnabled()
    # devices that do not exist here are greyed too
    cuda = win.prompt_panel.device_combo.model().item(1)
    assert cuda.data(Qt.ItemDataRole.UserRole) == "cuda" and not cuda.isEnabled()
    win.close()


def test_drop_file_opens_it(qtbot, window, photo_path):
    from PySide6.QtCore import QMimeData, QUrl
    from PySide6.QtGui import QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(photo_path))])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    qtbot.waitUntil(lambda: window.model.photo is not None)
    assert window.model.display_name() == "grandma.png"


def test_app_main_opens_path_from_command_line(qtbot, monkeypatch, photo_path, dialogs):
    from PySide6.QtWidgets import QApplication

    from piggydesk.ui import app as app_module

    seen = {}
    # Earlier tests in the same process may leave main windows around: find the new one.
    before = {id(w) for w in QApplication.topLevelWidgets()}

    def fake_exec(self):
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)
                   and w.isVisible() and id(w) not in before]
        assert len(windows) == 1
        win = windows[0]
        qtbot.waitUntil(lambda: win.model.photo is not None)
        seen["title"] = win.windowTitle()
        win.close()
        return 0

    monkeypatch.setattr(QApplication, "exec", fake_exec)
    assert app_module.main([str(photo_path)], exit_if_stuck=False) == 0
    assert "grandma.png" in seen["title"]


def test_colorize_with_real_classic_engine(qtbot, dialogs, photo_path):
    """The real classic engine (Levin et al. 2004) through the real worker thread."""
    from piggydesk.core.color import rgb_to_lab
    from piggydesk.engines import registry

    worker = ModelWorker(prober=lambda: ([registry.engine_info("classic")], ["cpu"]),
                         describe_device=lambda d: "CPU")
    win = MainWindow(worker=worker, check_recovery=False)
    qtbot.addWidget(win)
    win.resize(900, 650)
    win.show()
    qtbot.waitExposed(win)
    qtbot.waitUntil(lambda: bool(win.runs.engines))
    try:
        assert win.open_path(photo_path)
        assert win.model.value("engine") == "classic"
        win.colour_panel.set_current_color((200, 40, 40))
        _click(qtbot, win, 10, 10)
        win.colour_panel.set_current_color((40, 60, 200))
        _click(qtbot, win, 110, 80)
        with qtbot.waitSignal(win.run_finished, timeout=60000):
            win.colorize()
        rgb = win.canvas.after_image()
        assert rgb is not None and rgb.shape == (H, W, 3)
        lab = rgb_to_lab(rgb)
        assert lab[10, 10, 1] > 10  # reddish near the red hint
        assert lab[80, 110, 2] < -10  # bluish near the blue hint
        assert len(win.strip.items()) == 1
    finally:
        win.close()


def test_hint_radius_by_ctrl_wheel_and_slider(qtbot, window, photo_path):
    from PySide6.QtCore import QPoint as _P
    from PySide6.QtGui import QWheelEvent

    _open(window, photo_path)
    _click(qtbot, window, 50, 40)
    start = window.model.hints()[0].radius
    count = window.undo_stack.count()
    pos = QPointF(view_pos(window, 50, 40))
    for _ in range(3):
        event = QWheelEvent(pos, QPointF(window.canvas.viewport().mapToGlobal(pos.toPoint())),
                            _P(0, 0), _P(0, 120), Qt.MouseButton.NoButton,
                            Qt.KeyboardModifier.ControlModifier, Qt.ScrollPhase.NoScrollPhase,
                            False)
        QApplication.sendEvent(window.canvas.viewport(), event)
    assert window.model.hints()[0].radius == pytest.approx(start + 1.5)
    assert window.undo_stack.count() == count + 1  # one wheel gesture, one entry
    assert window.colour_panel.radius_slider.value() == int(round((start + 1.5) * 2))
    window.colour_panel.radius_slider.setValue(12)
    assert window.model.hints()[0].radius == 6.0
    window.undo_stack.undo()
    assert window.model.hints()[0].radius == pytest.approx(start + 1.5)
    window.undo_stack.undo()
    assert window.model.hints()[0].radius == start


def test_out_of_memory_offers_cpu(qtbot, dialogs, photo_path):
    from piggydesk.engines.base import EngineOutOfMemory
    from tests.ui_fakes import TintEngine

    class OutOfMemoryOnce(TintEngine):
        def colorize(self, request, progress=None, cancel=None):
            if not self.calls:
                self.calls.append(request)
                raise EngineOutOfMemory("The graphics card ran out of memory for this photo.")
            return super().colorize(request, progress, cancel)

    engine = OutOfMemoryOnce("classic")
    devices = []

    def factory(name, device, model_path):
        devices.append(device)
        return engine

    worker = ModelWorker(engine_factory=factory, prober=_probe_all_available,
                         describe_device=lambda d: d.upper())
    win = MainWindow(worker=worker, check_recovery=False)
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: bool(win.runs.engines))
    try:
        win.set_device("cuda")
        assert win.open_path(photo_path)
        win.edit_setting("engine", "classic")
        dialogs.answers.append(QMessageBox.StandardButton.Yes)
        with qtbot.waitSignal(win.run_finished):
            win.colorize()
        assert any(kind == "question" and "memory" in text.lower()
                   for kind, _title, text in dialogs.seen)
        assert devices == ["cuda", "cpu"]
        assert win.settings.get("device") == "cpu"
        assert len(win.model.runs()) == 1
    finally:
        win.close()


def test_live_edit_during_explicit_run_does_not_hijack_it(qtbot, window, photo_path, engines):
    _open(window, photo_path)
    window.edit_setting("engine", "instant")
    engines["instant"] = SlowEngine(steps=40, step_seconds=0.01)
    window.settings.set("live_delay_ms", 10)
    window.prompt_panel.live_check.setChecked(True)
    seen = []
    window.worker.message.connect(seen.append)
    with qtbot.waitSignal(window.run_finished, timeout=20000):
        job = window.colorize()
        _click(qtbot, window, 30, 30)  # a hint edit while the run goes on
        qtbot.wait(50)
    assert not window.runs.live_pending
    assert len(window.model.runs()) == 1
    colorize_done = [m.job_id for m in seen
                     if m.kind is MessageKind.FINISHED and m.job_kind is JobKind.COLORIZE]
    assert colorize_done == [job]


def test_menus_and_standard_shortcuts(qtbot, window, photo_path, monkeypatch):
    from PySide6.QtWidgets import QDialog, QTableWidget

    menus = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert menus == ["File", "Edit", "View", "Model", "Help"]
    _open(window, photo_path)
    window.canvas.setFocus()
    _click(qtbot, window, 20, 20)
    assert len(window.model.hints()) == 1
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.model.hints() == []
    qtbot.keyClick(window.canvas, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert len(window.model.hints()) == 1
    zoom = window.canvas.zoom()
    qtbot.keyClick(window.canvas, Qt.Key.Key_Plus)
    assert window.canvas.zoom() > zoom
    qtbot.keyClick(window.canvas, Qt.Key.Key_0)
    assert window.canvas.zoom() == pytest.approx(zoom, rel=0.05)
    shown = []

    def fake_exec(dialog):
        shown.append(dialog.findChild(QTableWidget).rowCount())
        return 0

    monkeypatch.setattr(QDialog, "exec", fake_exec)
    window.shortcuts_action.trigger()
    assert shown and shown[0] > 15


def test_manage_models_opens_dialog_and_reprobes(qtbot, window, monkeypatch):
    from PySide6.QtWidgets import QDialog

    opened, probes = [], []

    def fake_exec(dialog):
        opened.append(type(dialog).__name__)
        dialog.installed_changed.emit()
        return 0

    monkeypatch.setattr(QDialog, "exec", fake_exec)
    real_submit = window.worker.submit
    monkeypatch.setattr(window.worker, "submit",
                        lambda job: (probes.append(job.kind), real_submit(job))[1])
    window.models_action.trigger()
    assert opened == ["ManageModelsDialog"]
    assert JobKind.PROBE in probes


def test_single_key_shortcuts_do_not_steal_typing(qtbot, window, photo_path):
    _open(window, photo_path)
    zoom = window.canvas.zoom()
    window.edit_setting("random_seed", False)
    spin = window.prompt_panel.seed_spin
    spin.setFocus()
    spin.selectAll()
    qtbot.keyClicks(spin, "10")
    assert spin.value() == 10
    window.edit_setting("engine", "piggyback")
    edit = window.prompt_panel.negative_edit
    edit.setFocus()
    qtbot.keyClicks(edit, "b h i 0 1 +")
    assert edit.text() == "b h i 0 1 +"
    assert window.canvas.zoom() == zoom and not window.canvas.comparing
    assert window.model.value("negative_prompt") == "b h i 0 1 +"


def test_pan_with_middle_button_and_space_drag(qtbot, window, photo_path):
    _open(window, photo_path)
    window.canvas.set_zoom(window.canvas.zoom() * 6)
    bar = window.canvas.horizontalScrollBar()
    vp = window.canvas.viewport()
    start = bar.value()
    centre = vp.rect().center()
    qtbot.mousePress(vp, Qt.MouseButton.MiddleButton, pos=centre)
    qtbot.mouseMove(vp, centre + QPoint(-80, 0))
    qtbot.mouseRelease(vp, Qt.MouseButton.MiddleButton, pos=centre + QPoint(-80, 0))
    assert bar.value() == start + 80
    window.canvas.set_space_held(True)
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=centre)
    qtbot.mouseMove(vp, centre + QPoint(40, 0))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=centre + QPoint(40, 0))
    window.canvas.set_space_held(False)
    assert bar.value() == start + 40
    assert window.model.hints() == []  # panning never adds hints


def test_engine_that_cannot_load_is_greyed_out(qtbot, dialogs, photo_path):
    from piggydesk.engines.base import EngineUnavailable

    def factory(name, device, model_path):
        if name == "instant":
            raise EngineUnavailable("The instant engine's weights do not fit its network.")
        return TintEngine(name)

    worker = ModelWorker(engine_factory=factory, prober=_probe_all_available,
                         describe_device=lambda d: "CPU")
    win = MainWindow(worker=worker, check_recovery=False)
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: bool(win.runs.engines))
    try:
        assert win.open_path(photo_path)
        assert win.model.value("engine") == "instant"
        win.colorize()
        qtbot.waitUntil(lambda: win.model.value("engine") != "instant")
        assert dialogs.seen[-1][0] == "warning" and "do not fit" in dialogs.seen[-1][2]
        combo = win.prompt_panel.engine_combo
        row = next(i for i in range(combo.count()) if combo.itemData(i) == "instant")
        assert not combo.model().item(row).isEnabled()
        assert "do not fit" in combo.model().item(row).toolTip()
        with qtbot.waitSignal(win.run_finished):
            win.colorize()  # the next available engine works
    finally:
        win.close()


def test_quitting_during_a_run_cancels_and_joins(qtbot, window, photo_path, engines):
    _open(window, photo_path)
    window.edit_setting("engine", "piggyback")
    with qtbot.waitSignal(window.worker.message,
                          check_params_cb=lambda m: m.kind is MessageKind.PROGRESS):
        window.colorize()
    window.undo_stack.setClean()
    assert window.close()
    assert window.worker._thread.isFinished()
    assert engines["piggyback"].steps_done < engines["piggyback"].steps


class _Ticks:
    """Measures how promptly the GUI thread answers: a 5 ms timer's largest gap.

    On a shared, busy machine the process itself is sometimes not scheduled for a while;
    ``idle_gap`` measures that noise with the event loop doing nothing for as long, and the
    tests allow it on top of ``ANSWERS_WITHIN`` (without the fix, the gaps are the whole 1 s
    of work, far above either).
    """

    # What the GUI thread itself may take at once: showing the first progress dialog took
    # 0.16 s on a 2-core machine while the PyInstaller build ran beside the tests (CI).
    ANSWERS_WITHIN = 0.3

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.times: list[float] = []
        self.timer = QTimer()
        self.timer.setInterval(5)
        self.timer.timeout.connect(lambda: self.times.append(time.monotonic()))

    def __enter__(self) -> _Ticks:
        self.start = time.monotonic()
        self.timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self.timer.stop()
        self.end = time.monotonic()

    @property
    def largest_gap(self) -> float:
        stamps = [self.start, *self.times, self.end]
        return max(b - a for a, b in zip(stamps, stamps[1:]))

    def idle_gap(self, qtbot) -> float:
        """The largest gap of the same timer while the event loop idles as long again."""
        with _Ticks() as idle:
            qtbot.wait(int(1000 * (self.end - self.start)))
        return idle.largest_gap


class _StepThatCannotStop:
    """Like a long decode without a cancel check: ignores the cancel token until released."""

    name = "piggyback"

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def colorize(self, request, progress=None, cancel=None):
        self.started.set()
        self.release.wait(120)
        return []

    def unload(self) -> None:
        pass


def test_quit_during_a_step_that_cannot_stop_leaves_and_the_gui_keeps_answering(
        qtbot, window, photo_path, engines):
    from piggydesk.ui.worker import abandoned_workers

    stuck = _StepThatCannotStop()
    engines["piggyback"] = stuck
    _open(window, photo_path)
    window.edit_setting("engine", "piggyback")
    window.colorize()
    qtbot.waitUntil(stuck.started.is_set)
    window.undo_stack.setClean()
    window.quit_wait_s = 1.0
    try:
        with _Ticks() as ticks:
            assert window.close()
        assert not window.isVisible()
        assert window.worker in abandoned_workers()  # the app exits without joining it
        assert ticks.end - ticks.start >= window.quit_wait_s  # it did wait, a bounded time
        assert ticks.end - ticks.start < window.quit_wait_s + 2.0
    finally:
        stuck.release.set()
        window.worker._thread.wait(10000)
    allowed = _Ticks.ANSWERS_WITHIN + ticks.idle_gap(qtbot)
    assert ticks.largest_gap < allowed, f"the GUI thread did not answer for {ticks.largest_gap:.3f} s"


def test_save_and_open_run_off_the_gui_thread(qtbot, window, photo_path, tmp_path, monkeypatch):
    from piggydesk.core import document as core_doc

    threads = []
    real_save, real_open = core_doc.save_project, core_doc.Document.open_photo

    def slow_save(doc, path):
        threads.append(threading.current_thread())
        time.sleep(1.0)  # a big project on a slow disk
        return real_save(doc, path)

    def slow_open(path):
        threads.append(threading.current_thread())
        time.sleep(1.0)
        return real_open(path)

    monkeypatch.setattr(core_doc, "save_project", slow_save)
    monkeypatch.setattr(core_doc.Document, "open_photo", staticmethod(slow_open))
    with _Ticks() as opening:
        assert window.open_path(photo_path)
    _click(qtbot, window, 20, 20)
    project = tmp_path / "work.piggy"
    with _Ticks() as saving:
        assert window._save_to(project)
    assert project.is_file() and not window.isWindowModified()
    assert window.model.project_path == project
    assert core_doc.load_project(project).hints == window.model.hints()
    assert len(threads) == 2 and threading.main_thread() not in threads
    within = _Ticks.ANSWERS_WITHIN
    assert opening.largest_gap < within + opening.idle_gap(qtbot), opening.largest_gap
    assert saving.largest_gap < within + saving.idle_gap(qtbot), saving.largest_gap


def test_panel_follows_what_each_engine_can_do(qtbot, window, photo_path):
    """Widgets come from EngineInfo's capabilities, not from engine names."""
    _open(window, photo_path)
    panel = window.prompt_panel
    window.edit_setting("engine", "classic")  # max_variants=1, no prompt, no live preview
    assert not panel.variants_spin.isEnabled() and not panel.live_check.isEnabled()
    assert not panel.prompt_edit.isEnabled() and not panel.steps_spin.isVisible()
    window.edit_setting("engine", "piggyback")  # prompt and steps
    assert panel.variants_spin.isEnabled() and panel.prompt_edit.isEnabled()
    assert panel.steps_spin.isVisible() and not panel.live_check.isEnabled()
    window.edit_setting("engine", "instant")  # live preview
    assert panel.live_check.isEnabled() and not panel.steps_spin.isVisible()


def test_quit_does_not_wait_for_an_autosave_and_leaves_none(qtbot, window, photo_path,
                                                           monkeypatch):
    from piggydesk.ui.autosave import autosave_path
    from piggydesk.ui.document_model import DocumentModel

    _open(window, photo_path)
    _click(qtbot, window, 10, 10)
    started, release = threading.Event(), threading.Event()
    real = DocumentModel.write_snapshot

    def slow_write(snapshot, path):  # a big project being autosaved
        started.set()
        release.wait(60)
        real(snapshot, path)

    monkeypatch.setattr(DocumentModel, "write_snapshot", staticmethod(slow_write))
    assert window.autosaver.save_now()
    assert started.wait(30)
    window.undo_stack.setClean()
    try:
        with _Ticks() as ticks:
            assert window.close()
        assert not release.is_set()  # the window closed while the autosave was still writing
    finally:
        release.set()
        window.autosaver._thread.join(60)
    assert not autosave_path().exists()  # a clean exit leaves no autosave behind
    assert ticks.largest_gap < 0.1 + ticks.idle_gap(qtbot), ticks.largest_gap


def test_export_runs_off_the_gui_thread(qtbot, window, photo_path, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QDialogButtonBox

    from piggydesk.core import export as core_export
    from piggydesk.ui.export_dialog import ExportDialog

    _open(window, photo_path)
    threads = []
    real = core_export.export_image

    def slow_export(*args, **kwargs):
        threads.append(threading.current_thread())
        time.sleep(0.4)  # a 16-bit TIFF of a big scan
        return real(*args, **kwargs)

    monkeypatch.setattr(core_export, "export_image", slow_export)
    dialog = ExportDialog(np.full((H, W, 3), 0.5, np.float32), window.model.photo,
                          window.settings, window)
    qtbot.addWidget(dialog)
    out = tmp_path / "out.png"
    dialog.path_edit.setText(str(out))
    with _Ticks() as ticks:
        dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()
    assert dialog.written == out and out.is_file()
    assert threads and threading.main_thread() not in threads
    assert ticks.largest_gap < 0.1 + ticks.idle_gap(qtbot), ticks.largest_gap
