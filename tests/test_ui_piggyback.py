"""Cancel a (tiny) piggyback diffusion run from the main window, through the real worker."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from piggydesk.core import paths
from piggydesk.engines import registry
from piggydesk.ui.worker import MessageKind
from tests.piggyback_helpers import make_tiny_bundle
from tests.test_ui_main_window import photo_path  # noqa: F401
from tests.ui_fakes import real_engine_worker, show_window

pytestmark = pytest.mark.slow


def test_cancel_stops_tiny_piggyback_run(qtbot, tmp_path, dialogs, photo_path):  # noqa: F811
    make_tiny_bundle(tmp_path, paths.models_dir() / "tiny")
    assert registry.engine_info("piggyback").available

    worker = real_engine_worker("piggyback")
    win = show_window(qtbot, worker)
    try:
        assert win.open_path(photo_path)
        win.edit_setting("engine", "piggyback")
        win.edit_setting("steps", 200)
        win.edit_setting("num_variants", 1)
        assert win.prompt_panel.steps_spin.isVisible()  # diffusion settings are shown
        seen = []
        worker.message.connect(seen.append)
        with qtbot.waitSignal(worker.message, timeout=120000,
                              check_params_cb=lambda m: m.kind is MessageKind.PROGRESS):
            win.colorize()
        qtbot.mouseClick(win.cancel_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: any(m.kind is MessageKind.CANCELLED for m in seen), timeout=60000)
        steps = [m.step for m in seen if m.kind is MessageKind.PROGRESS]
        assert max(steps) < 200
        assert not any(m.kind is MessageKind.FINISHED for m in seen)
        assert win.model.runs() == []
        assert "cancelled" in win.status_label.text().lower()
    finally:
        win.close()
