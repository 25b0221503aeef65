"""Window details at the default size (1280x820): what a person sees before and after the
first result. Screenshots of the same at 1280x820 and 1920x1080: ``docs/make_screenshots.py``."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QRectF
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QMessageBox

from piggydesk.ui.main_window import MainWindow
from piggydesk.ui.variants_strip import THUMB
from piggydesk.ui.worker import ModelWorker
from tests.ui_fakes import SuggestingEngine, TintEngine, fake_infos, make_factory, show_window

W, H = 300, 400  # a portrait photo: its height is what a growing Results dock would cut


@pytest.fixture(autouse=True)
def no_blocking_dialogs(monkeypatch):
    """Closing with unsaved work asks; here the answer is Discard (no modal loop)."""
    monkeypatch.setattr(QMessageBox, "question",
                        staticmethod(lambda *a, **k: QMessageBox.StandardButton.Discard))
    for kind in ("warning", "information", "critical"):
        monkeypatch.setattr(QMessageBox, kind,
                            staticmethod(lambda *a, **k: QMessageBox.StandardButton.Ok))


@pytest.fixture
def photo_path(tmp_path):
    gray = np.tile(np.linspace(30, 220, W, dtype=np.float32), (H, 1))
    path = tmp_path / "portrait.png"
    Image.fromarray(gray.astype(np.uint8), mode="L").save(path)
    return path


def _window(qtbot, devices=("cpu",)) -> MainWindow:
    engines = {"classic": TintEngine("classic"), "instant": SuggestingEngine("instant")}
    infos = [replace(i, available=i.name != "piggyback") for i in fake_infos()]
    worker = ModelWorker(engine_factory=make_factory(engines),
                         prober=lambda: (infos, list(devices)),
                         describe_device=lambda d: "Test CPU (2 threads)")
    win = show_window(qtbot, worker)  # no saved geometry: 1280x820
    qtbot.wait(50)  # the Colorize dock is fitted to its rows after the engine is chosen
    return win


def _fully_visible(widget) -> bool:
    return widget.isVisible() and widget.visibleRegion().boundingRect() == widget.rect()


def _photo_fits(win: MainWindow) -> bool:
    h, w = win.canvas.image_size()
    shown = win.canvas.mapFromScene(QRectF(0, 0, w, h)).boundingRect()
    return win.canvas.viewport().rect().adjusted(-1, -1, 1, 1).contains(shown)


def _run(qtbot, win: MainWindow, variants: int = 3) -> None:
    win.edit_setting("num_variants", variants)
    with qtbot.waitSignal(win.run_finished, timeout=20000):
        win.colorize()
    qtbot.wait(100)  # layouts settle after the Results strip fills


def test_default_size_and_rows_are_not_clipped_before_and_after_a_result(qtbot, photo_path):
    win = _window(qtbot)
    assert (win.width(), win.height()) == (1280, 820)
    panel = win.prompt_panel
    assert _fully_visible(panel.variants_spin), "the Variants row is clipped"
    assert _fully_visible(panel.seed_spin), "the Seed row is clipped"
    assert _fully_visible(panel.colorize_button)
    assert win.open_path(photo_path)
    _run(qtbot, win)
    assert _fully_visible(panel.variants_spin) and _fully_visible(panel.seed_spin)
    assert len(win.strip.items()) == 3 and _fully_visible(win.strip.list)


def test_photo_is_refit_when_the_first_result_arrives(qtbot, photo_path):
    win = _window(qtbot)
    assert win.open_path(photo_path)
    qtbot.wait(50)
    assert _photo_fits(win)
    _run(qtbot, win)
    assert _photo_fits(win), "the result's bottom is cut off"
    # a view the person zoomed stays as they left it
    win.canvas.zoom_in()
    zoom = win.canvas.zoom()
    win.resize(1200, 760)
    qtbot.wait(50)
    assert win.canvas.zoom() == pytest.approx(zoom) and not win.canvas.is_fitting()
    win.canvas.fit()
    win.resize(1280, 820)
    qtbot.wait(50)
    assert _photo_fits(win) and win.canvas.is_fitting()


def test_selected_thumbnail_keeps_its_colours(qtbot, photo_path):
    win = _window(qtbot)
    assert win.open_path(photo_path)
    _run(qtbot, win)
    item = win.strip.items()[win.model.chosen()[1]]
    assert item.isSelected()
    icon = item.icon()
    normal = icon.pixmap(THUMB, QIcon.Mode.Normal).toImage()
    selected = icon.pixmap(THUMB, QIcon.Mode.Selected).toImage()
    assert normal == selected, "the selection highlight tints the chosen thumbnail"


def test_status_bar_names_the_device_before_the_first_run(qtbot, photo_path):
    win = _window(qtbot)
    assert win.device_label.text() == "Device: CPU"
    win.set_device("cuda")  # not on this machine: the run would use the CPU
    assert win.device_label.text() == "Device: CPU"
    assert win.open_path(photo_path)
    _run(qtbot, win, variants=1)
    assert win.device_label.text() == "Device: Test CPU (2 threads)"  # what the run used


def test_auto_names_the_best_device_found(qtbot):
    win = _window(qtbot, devices=("cuda", "cpu"))
    win.set_device("auto")
    assert win.device_label.text() == "Device: CUDA (NVIDIA)"
