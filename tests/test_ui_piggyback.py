"""Cancel a (tiny) piggyback diffusion run from the main window, through the real worker."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from piggydesk.core import paths
from piggydesk.engines import registry
from piggydesk.pipelines.bundle import assemble_bundle
from piggydesk.ui.main_window import MainWindow
from piggydesk.ui.worker import MessageKind, ModelWorker
from tests.piggyback_helpers import make_tiny_base, make_tiny_gray_encoder, make_tiny_guider
from tests.test_ui_main_window import dialogs, photo_path  # noqa: F401

pytestmark = pytest.mark.slow


def test_cancel_stops_tiny_piggyback_run(qtbot, tmp_path, dialogs, photo_path):  # noqa: F811
    base = make_tiny_base(tmp_path / "base")
    guider = make_tiny_guider(base, tmp_path / "guider")
    gray = make_tiny_gray_encoder(base, tmp_path / "gray")
    assemble_bundle(base, paths.models_dir() / "tiny", guider_dir=guider, decoder_dir=gray)
    assert registry.engine_info("piggyback").available

    worker = ModelWorker(prober=lambda: ([registry.engine_info("piggyback")], ["cpu"]),
                         describe_device=lambda d: "CPU")
    win = MainWindow(worker=worker, check_recovery=False)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: bool(win.runs.engines))
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
