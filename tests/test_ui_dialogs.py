"""Export, batch, settings, preferences and autosave/recovery, through the real widgets."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image
from PySide6.QtWidgets import QDialogButtonBox, QMessageBox

from piggydesk.core.imaging import load_photo
from piggydesk.ui.autosave import autosave_path
from piggydesk.ui.batch_dialog import BatchDialog
from piggydesk.ui.export_dialog import ExportDialog, suggested_name
from piggydesk.ui.preferences import PreferencesDialog
from piggydesk.ui.settings import AppSettings
from piggydesk.ui.worker import ModelWorker
from tests.test_ui_main_window import _click, _probe_all_available, photo_path  # noqa: F401
from tests.ui_fakes import SlowEngine, SuggestingEngine, TintEngine, make_factory, show_window

H, W = 60, 80


@pytest.fixture
def result_rgb():
    rng = np.random.default_rng(0)
    return rng.random((H, W, 3), dtype=np.float32)


def _photo(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray((np.arange(H * W).reshape(H, W) % 251).astype(np.uint8), mode="L").save(path)
    return load_photo(path)


def _export(qtbot, rgb, photo, settings, path, *, fmt="png", depth=8, long_side=None):
    dialog = ExportDialog(rgb, photo, settings)
    qtbot.addWidget(dialog)
    dialog.format_combo.setCurrentIndex(dialog.format_combo.findData(fmt))
    dialog.depth_combo.setCurrentIndex(dialog.depth_combo.findData(depth))
    if long_side:
        dialog.custom_radio.setChecked(True)
        dialog.size_spin.setValue(long_side)
    dialog.path_edit.setText(str(path))
    dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()
    return dialog


def test_export_png_8_and_16_bit_and_size(qtbot, tmp_path, result_rgb, dialogs):  # noqa: F811
    photo = _photo(tmp_path)
    settings = AppSettings()
    dialog = ExportDialog(result_rgb, photo, settings)
    qtbot.addWidget(dialog)
    assert dialog.path_edit.text().endswith("photo-colorized.png")
    assert suggested_name(None) == "photo-colorized.png"

    out8 = tmp_path / "out8.png"
    d = _export(qtbot, result_rgb, photo, settings, out8, depth=8)
    assert d.written == out8
    with Image.open(out8) as image:
        assert image.size == (W, H) and image.mode == "RGB"
    out16 = tmp_path / "out16.png"
    _export(qtbot, result_rgb, photo, settings, out16, depth=16)
    reread = load_photo(out16)
    assert reread.bit_depth == 16 and reread.size == (H, W)
    small = tmp_path / "small.png"
    _export(qtbot, result_rgb, photo, settings, small, long_side=40)
    with Image.open(small) as image:
        assert image.size == (40, 30)


def test_export_tiff_16_bit(qtbot, tmp_path, result_rgb, dialogs):  # noqa: F811
    photo = _photo(tmp_path)
    out = tmp_path / "out.tif"
    _export(qtbot, result_rgb, photo, AppSettings(), out, fmt="tiff", depth=16)
    data = tifffile.imread(out)
    assert data.dtype == np.uint16 and data.shape == (H, W, 3)


def test_export_never_overwrites_without_asking(qtbot, tmp_path, result_rgb, dialogs):  # noqa: F811
    photo = _photo(tmp_path)
    target = tmp_path / "taken.png"
    target.write_bytes(b"precious")
    dialogs.answers.append(QMessageBox.StandardButton.No)
    d = _export(qtbot, result_rgb, photo, AppSettings(), target)
    assert d.written is None and target.read_bytes() == b"precious"
    assert dialogs.seen[-1][0] == "question"
    dialogs.answers.append(QMessageBox.StandardButton.Yes)
    d = _export(qtbot, result_rgb, photo, AppSettings(), target)
    assert d.written == target and target.read_bytes() != b"precious"


def test_settings_persist_between_instances(qtbot, isolated_home):
    first = AppSettings()
    seen = []
    first.changed.connect(lambda name, value: seen.append((name, value)))
    first.set("num_variants", 3)
    first.set("num_variants", 3)  # unchanged: no second signal
    first.set("device", "cpu")
    first.add_recent_file("/photos/a.jpg")
    first.add_recent_file("/photos/b.jpg")
    first.add_recent_file("/photos/a.jpg")
    first.set("window_geometry", b"\x01\x02")
    first.sync()
    assert seen.count(("num_variants", 3)) == 1
    assert str(isolated_home) in first.file_name
    second = AppSettings()
    assert second.get("num_variants") == 3
    assert second.get("device") == "cpu"
    assert second.get("recent_files") == ["/photos/a.jpg", "/photos/b.jpg"]
    assert second.get("window_geometry") == b"\x01\x02"
    assert second.get("live_delay_ms") == 350  # default
    second.set("device", "quantum")  # not a choice: falls back to the default
    assert second.get("device") == "auto"


def test_preferences_dialog_writes_settings(qtbot):
    settings = AppSettings()
    dialog = PreferencesDialog(settings)
    qtbot.addWidget(dialog)
    dialog.editors["hint_radius"].setValue(5.0)
    dialog.editors["autosave_interval_s"].setValue(30)
    dialog.accept()
    assert settings.get("hint_radius") == 5.0
    assert AppSettings().get("autosave_interval_s") == 30


def _window(qtbot, engines, check_recovery=False, resize=True):
    worker = ModelWorker(engine_factory=make_factory(engines), prober=_probe_all_available,
                         describe_device=lambda d: "Test CPU")
    return show_window(qtbot, worker, (900, 650) if resize else None, check_recovery)


def _engines():
    return {"classic": TintEngine("classic"), "instant": SuggestingEngine("instant"),
            "piggyback": SlowEngine()}


def test_window_geometry_and_options_persist(qtbot, dialogs):  # noqa: F811
    win = _window(qtbot, _engines())
    win.resize(777, 555)
    win.show_hints_action.setChecked(False)
    win.set_device("cpu")
    win.close()
    again = _window(qtbot, _engines(), resize=False)
    assert again.size().width() == 777
    assert not again.show_hints_action.isChecked()
    assert again.prompt_panel.current_device() == "cpu"
    again.close()


def test_autosave_and_crash_recovery(qtbot, dialogs, photo_path):  # noqa: F811
    win = _window(qtbot, _engines())
    assert win.open_path(photo_path)
    _click(qtbot, win, 10, 12)
    _click(qtbot, win, 30, 40)
    assert win.autosaver.save_now(wait=True)
    assert autosave_path().exists()
    hints = tuple(win.model.hints())
    # simulate a crash: the window goes away without a clean exit
    win.autosaver.stop(clean_exit=False)
    win._closing = True
    win.worker.shutdown()
    dialogs.answers.append(QMessageBox.StandardButton.Yes)
    recovered = _window(qtbot, _engines(), check_recovery=True)
    qtbot.waitUntil(lambda: recovered.model.photo is not None)
    assert tuple(recovered.model.hints()) == hints
    assert recovered.isWindowModified()
    assert recovered.model.project_path is None
    dialogs.answers.append(QMessageBox.StandardButton.Discard)
    recovered.close()
    assert not autosave_path().exists()  # clean exit


def test_batch_dialog_colorizes_folder_and_reports_failures(qtbot, tmp_path, dialogs):  # noqa: F811
    src = tmp_path / "in"
    out = tmp_path / "out"
    src.mkdir()
    for i in range(2):
        Image.fromarray(np.full((40, 50), 60 + 50 * i, np.uint8), mode="L").save(src / f"p{i}.png")
    (src / "broken.png").write_bytes(b"not a png at all")
    engines = _engines()
    worker = ModelWorker(engine_factory=make_factory(engines), prober=_probe_all_available,
                         describe_device=lambda d: "Test CPU")
    try:
        infos, _ = _probe_all_available()
        dialog = BatchDialog(worker, infos, AppSettings())
        qtbot.addWidget(dialog)
        # the classic engine needs hints, so it is not offered for batches
        assert dialog.engine_combo.currentData() == "instant"
        assert not dialog.vividness_spin.isHidden() and dialog.engine_options() == {}
        dialog.vividness_spin.setValue(0.8)  # the instant engine's option reaches each run
        dialog.engine_combo.setCurrentIndex(dialog.engine_combo.findData("piggyback"))
        assert dialog.vividness_spin.isHidden() and dialog.engine_options() == {}
        dialog.engine_combo.setCurrentIndex(dialog.engine_combo.findData("instant"))
        dialog.in_edit.setText(str(src))
        dialog.out_edit.setText(str(out))
        with qtbot.waitSignal(dialog.finished_batch) as blocker:
            dialog.start_button.click()
        assert blocker.args == [2, 1]
        assert [c.settings.get("vividness") for c in engines["instant"].calls] == [0.8, 0.8]
        assert sorted(p.name for p in out.iterdir()) == ["p0-colorized.png", "p1-colorized.png"]
        assert dialog.failures[0][0].name == "broken.png"
        assert "Traceback" not in dialog.failures[0][1]
        with Image.open(out / "p0-colorized.png") as image:
            assert image.size == (50, 40)
        # a second batch never overwrites: numbered names
        with qtbot.waitSignal(dialog.finished_batch):
            dialog.start_button.click()
        assert (out / "p0-colorized-2.png").exists()
        dialog.reject()
    finally:
        worker.shutdown()


def test_batch_dialog_skips_photos_already_colorized_and_names_never_collide(qtbot, tmp_path,
                                                                            dialogs):  # noqa: F811
    src = tmp_path / "in"
    out = tmp_path / "out"
    src.mkdir()
    for i, name in enumerate(("scan.png", "scan.jpg", "other.png")):
        Image.fromarray(np.full((40, 50), 60 + 50 * i, np.uint8), mode="L").save(src / name)
    worker = ModelWorker(engine_factory=make_factory(_engines()), prober=_probe_all_available,
                         describe_device=lambda d: "Test CPU")
    try:
        infos, _ = _probe_all_available()
        dialog = BatchDialog(worker, infos, AppSettings())
        qtbot.addWidget(dialog)
        dialog.in_edit.setText(str(src))
        dialog.out_edit.setText(str(out))
        with qtbot.waitSignal(dialog.finished_batch) as blocker:
            dialog.start_button.click()
        assert blocker.args == [3, 0]
        assert sorted(p.name for p in out.iterdir()) == [
            "other-colorized.png", "scan-colorized.png", "scan-png-colorized.png"]
        (out / "other-colorized.png").unlink()  # as if the batch had been interrupted
        dialog.skip_check.click()
        assert dialog.skip_check.isChecked()
        with qtbot.waitSignal(dialog.finished_batch) as blocker:
            dialog.start_button.click()
        assert blocker.args == [1, 0]  # one written, none failed...
        assert [p.name for p in dialog.skipped] == ["scan.jpg", "scan.png"]  # ...two skipped
        assert "2 skipped (already colorized)" in dialog.current_label.text()
        assert sorted(p.name for p in out.iterdir()) == [
            "other-colorized.png", "scan-colorized.png", "scan-png-colorized.png"]
        assert dialog.overall.value() == 3
        dialog.reject()
    finally:
        worker.shutdown()
