"""The real instant engine in the window: live previews and suggested colours (needs its
shipped weights in resources/models/instant; skipped until they are there)."""

from __future__ import annotations

import pytest

from piggydesk.engines import registry
from tests.test_ui_main_window import H, W, _click, photo_path  # noqa: F401
from tests.ui_fakes import real_engine_worker, show_window

pytestmark = pytest.mark.skipif(
    not registry.engine_info("instant").available,
    reason="the instant engine's weights are not installed",
)


def test_live_preview_and_suggestions_with_instant_engine(qtbot, dialogs, photo_path):  # noqa: F811
    worker = real_engine_worker("instant")
    win = show_window(qtbot, worker, (900, 650))
    try:
        assert win.open_path(photo_path)
        assert win.model.value("engine") == "instant"
        win.settings.set("live_delay_ms", 50)
        win.prompt_panel.live_check.setChecked(True)
        win.colour_panel.set_current_color((40, 90, 200))
        _click(qtbot, win, 60, 40)
        qtbot.waitUntil(lambda: win.runs.live_preview is not None
                        or "failed" in win.status_label.text(), timeout=120000)
        assert win.runs.live_preview is not None, win.status_label.text()
        assert win.canvas.after_image().shape == (H, W, 3)
        qtbot.waitUntil(lambda: len(win.colour_panel.suggested.swatches()) > 0, timeout=120000)
        with qtbot.waitSignal(win.run_finished, timeout=120000):
            win.colorize()
        assert len(win.model.runs()) == 1
    finally:
        win.close()


def test_vividness_is_an_undoable_edit_that_reaches_the_run(qtbot, dialogs, photo_path):  # noqa: F811
    worker = real_engine_worker("instant")
    win = show_window(qtbot, worker, (1280, 820))  # the default window size
    panel = win.prompt_panel
    try:
        assert win.open_path(photo_path)
        assert panel.vividness_spin.isVisible() and panel.vividness_spin.text() == "Auto"
        from PySide6.QtWidgets import QScrollArea

        scroll = panel.findChild(QScrollArea).verticalScrollBar()  # every row in view
        qtbot.waitUntil(lambda: not scroll.isVisible())
        # and no more than them: the Colour dock below keeps the rest
        qtbot.waitUntil(lambda: abs(panel.height() - panel.sizeHint().height()) <= 3)
        assert not panel.freedom_spin.isVisible()  # the diffusion options are not this engine's
        panel.vividness_spin.setValue(0.9)  # as the person types it
        assert win.model.value("vividness") == 0.9
        assert win.undo_stack.undoText() == "Change vividness"
        win.undo_stack.undo()
        assert win.model.value("vividness") is None and panel.vividness_spin.text() == "Auto"
        win.undo_stack.redo()
        assert panel.vividness_spin.value() == 0.9
        with qtbot.waitSignal(win.run_finished, timeout=120000):
            win.colorize()
        assert win.model.runs()[-1].variants[0].settings.get("vividness") == 0.9
    finally:
        win.close()


def test_the_status_bar_says_when_variants_came_out_the_same(qtbot, dialogs, tmp_path):
    """The note of any variant reaches the status bar, not only the first variant's."""
    import numpy as np
    from PIL import Image

    from piggydesk.engines.instant import SAME_AS_FIRST

    wall = tmp_path / "wall.png"
    Image.fromarray(np.full((90, 120), 150, np.uint8), mode="L").save(wall)
    worker = real_engine_worker("instant")
    win = show_window(qtbot, worker, (900, 650))
    try:
        assert win.open_path(wall)
        win.edit_setting("num_variants", 3)
        with qtbot.waitSignal(win.run_finished, timeout=120000):
            win.colorize()
        assert len(win.model.runs()[0].variants) == 3
        assert SAME_AS_FIRST in win.status_label.text()
    finally:
        win.close()
