"""The diffusion options in the app: Freedom, Fast and ControlNet strength reach the run, and
the mode that ran is said in words (tiny ControlNet and LoRA installed in the models folder)."""

from __future__ import annotations

import shutil

import pytest

from piggydesk.core import paths
from piggydesk.engines import registry
from piggydesk.engines.piggyback import CONTROLNET_ID
from piggydesk.pipelines.fast import LCM_LORA
from piggydesk.ui.worker import MessageKind
from tests.piggyback_helpers import make_tiny_base, make_tiny_controlnet, make_tiny_lora
from tests.test_ui_main_window import photo_path  # noqa: F401
from tests.ui_fakes import real_engine_worker, show_window

pytestmark = pytest.mark.slow


def test_freedom_fast_and_controlnet_reach_the_run(qtbot, tmp_path, dialogs, photo_path):  # noqa: F811
    root = paths.models_dir()
    base = make_tiny_base(root / "sd15")
    make_tiny_controlnet(base, root / CONTROLNET_ID)
    make_tiny_lora(base, root / LCM_LORA.id, LCM_LORA.weight_name)
    shutil.rmtree(root / "sd15_tokenizer_src", ignore_errors=True)
    info = registry.engine_info("piggyback")
    assert info.available and info.options == ("freedom", "conditioning_scale", "fast")

    worker = real_engine_worker("piggyback")
    win = show_window(qtbot, worker)
    panel = win.prompt_panel
    try:
        assert win.open_path(photo_path)
        win.edit_setting("engine", "piggyback")
        win.edit_setting("num_variants", 1)
        assert panel.freedom_spin.isVisible() and panel.freedom_spin.text() == "Auto"
        assert panel.guide_spin.isVisible() and panel.guide_spin.value() == 1.0
        assert panel.fast_check.isVisible() and panel.fast_check.isEnabled()
        panel.freedom_spin.setValue(0.4)  # as the person types it: an undoable edit
        assert win.model.value("freedom") == 0.4
        win.undo_stack.undo()
        assert win.model.value("freedom") is None and panel.freedom_spin.text() == "Auto"
        win.undo_stack.redo()
        panel.fast_check.setChecked(True)
        panel.guide_spin.setValue(0.8)
        seen = []
        worker.message.connect(seen.append)
        win.colorize()
        qtbot.waitUntil(lambda: any(m.kind in (MessageKind.FINISHED, MessageKind.FAILED)
                                    for m in seen), timeout=300000)
        assert not [m for m in seen if m.kind is MessageKind.FAILED]
        settings = win.model.runs()[-1].variants[0].settings
        assert settings.mode == "ControlNet guider, refined from instant colours, fast (LCM-LoRA)"
        assert settings.get("freedom") == 0.4 and settings.get("conditioning_scale") == 0.8
        assert settings.steps == LCM_LORA.steps
        win.resize(1280, 820)
        panel.grab().save(str(tmp_path / "panel.png"))
    finally:
        win.close()


def test_fast_is_offered_only_with_a_lora(qtbot):
    from piggydesk.engines.base import EngineInfo
    from piggydesk.ui.prompt_panel import PromptPanel

    panel = PromptPanel()
    qtbot.addWidget(panel)
    panel.show()
    info = EngineInfo("piggyback", "Piggyback", "d", True, uses_prompt=True, uses_steps=True,
                      options=("freedom",))
    panel.set_engines([info], "piggyback")
    assert panel.freedom_spin.isVisible() and not panel.guide_spin.isVisible()
    assert panel.fast_check.isVisible() and not panel.fast_check.isEnabled()
    assert "Manage Models" in panel.fast_check.toolTip()
    edits = []
    panel.edited.connect(lambda name, value: edits.append((name, value)))
    panel.freedom_spin.setValue(0.0)
    panel.freedom_spin.setValue(panel.freedom_spin.minimum())
    assert edits == [("freedom", 0.0), ("freedom", None)]
    plain = EngineInfo("instant", "Instant", "d", True)
    panel.set_engines([plain], "instant")
    assert not panel.freedom_spin.isVisible() and not panel.fast_check.isVisible()
