"""The Manage Models dialog drives real downloads (local test server) without freezing the GUI."""

from __future__ import annotations

import pytest
from modelstore_helpers import (
    FAST,
    Fault,
    catalog_entry,
    model_files,
    read_tree,
    serve,
    write_catalog,
    write_folder,
)
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from piggydesk.modelstore.catalog import load_catalog
from piggydesk.modelstore.store import ModelStore
from piggydesk.ui.models_dialog import ManageModelsDialog

UNET = "unet/diffusion_pytorch_model.safetensors"


@pytest.fixture
def dialog(qtbot, hub, tmp_path):
    files = model_files(bundle=True)
    serve(hub, files, prefix="tiny/")
    catalog = write_catalog(tmp_path / "catalog.json",
                            [catalog_entry("tiny", hub, files, prefix="tiny/")])
    store = ModelStore(tmp_path / "models", load_catalog(catalog))
    view = ManageModelsDialog(None, store=store, settings=FAST)
    qtbot.addWidget(view)
    view.files = files
    yield view
    view.done(0)


def test_dialog_lists_catalogue_with_state_size_and_licence(dialog):
    assert dialog.table.rowCount() == 1
    assert dialog.table.item(0, 0).text() == "Test model tiny"
    assert dialog.table.item(0, 3).text() == "MIT"
    assert "kB" in dialog.table.item(0, 2).text()
    assert dialog.status_text("tiny") == "Not installed"
    assert dialog.download_button.isEnabled() and not dialog.remove_button.isEnabled()


def test_dialog_downloads_to_completion(qtbot, dialog):
    dialog.select("tiny")
    with qtbot.waitSignal(dialog.installed_changed, timeout=30_000):
        qtbot.mouseClick(dialog.download_button, Qt.MouseButton.LeftButton)
        assert dialog.status_text("tiny") == "Downloading…"
        assert not dialog.download_button.isEnabled() and dialog.pause_button.isEnabled()
    assert dialog.status_text("tiny") == "Installed"
    assert read_tree(dialog.store.path("tiny")) == dialog.files
    assert "installed and verified" in dialog.progress_label.text()
    assert not dialog.download_button.isEnabled()
    assert dialog.verify_button.isEnabled() and dialog.remove_button.isEnabled()

    with qtbot.waitSignal(dialog.task_finished, timeout=30_000) as blocker:
        qtbot.mouseClick(dialog.verify_button, Qt.MouseButton.LeftButton)
    assert blocker.args == ["verify", "done"]
    assert "intact" in dialog.progress_label.text()


def test_dialog_shows_bytes_speed_and_time_left(qtbot, dialog, hub):
    hub.faults["tiny/" + UNET] = Fault(chunk_delay=0.01)  # a slow server: ~30 chunks
    dialog.store.progress_interval = 0.0
    texts = []

    def record(msg):
        if msg.kind == "progress":
            texts.append(dialog.progress_label.text())

    dialog.select("tiny")
    dialog.progress_changed.connect(record)
    with qtbot.waitSignal(dialog.installed_changed, timeout=30_000):
        dialog.start_download()
    seen = [t for t in texts if "/s" in t and "of" in t]
    assert seen, texts
    assert any("left" in t for t in seen)


def test_pause_keeps_partial_and_resume_finishes(qtbot, dialog, hub):
    hub.faults["tiny/" + UNET] = Fault(chunk_delay=0.02)
    dialog.store.progress_interval = 0.0
    dialog.select("tiny")

    def pause_when_started(msg):
        if msg.kind == "progress" and msg.progress.file_path == UNET and \
                msg.progress.file_done > 20_000:
            dialog.pause_download()

    dialog.progress_changed.connect(pause_when_started)
    with qtbot.waitSignal(dialog.task_finished, timeout=30_000) as blocker:
        dialog.start_download()
    assert blocker.args == ["download", "cancelled"]
    assert dialog.store.partial_bytes("tiny") > 20_000
    assert dialog.status_text("tiny").startswith("Paused")
    assert dialog.download_button.text() == "Resume"
    assert not dialog.store.is_installed("tiny")

    hub.faults.clear()
    dialog.progress_changed.disconnect(pause_when_started)
    with qtbot.waitSignal(dialog.installed_changed, timeout=30_000):
        qtbot.mouseClick(dialog.download_button, Qt.MouseButton.LeftButton)
    assert hub.requests_for("tiny/" + UNET)[-1].range is not None  # resumed, not restarted
    assert dialog.status_text("tiny") == "Installed"


def test_cancel_deletes_partial_files(qtbot, dialog, hub):
    hub.faults["tiny/" + UNET] = Fault(chunk_delay=0.02)
    dialog.store.progress_interval = 0.0
    dialog.select("tiny")

    def cancel_when_started(msg):
        if msg.kind == "progress" and msg.progress.file_done > 10_000:
            dialog.cancel_download()

    dialog.progress_changed.connect(cancel_when_started)
    with qtbot.waitSignal(dialog.task_finished, timeout=30_000):
        dialog.start_download()
    assert dialog.store.partial_bytes("tiny") == 0
    assert dialog.status_text("tiny") == "Not installed"


def test_failed_download_shows_message(qtbot, dialog, hub, monkeypatch):
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a: shown.append(a[2]))
    hub.faults["tiny/" + UNET] = Fault(corrupt=True)
    dialog.select("tiny")
    with qtbot.waitSignal(dialog.task_finished, timeout=30_000) as blocker:
        qtbot.mouseClick(dialog.download_button, Qt.MouseButton.LeftButton)
    assert blocker.args == ["download", "failed"]
    assert shown and "corrupted" in shown[0]
    assert dialog.status_text("tiny") == "Not installed"


def test_import_and_remove_with_confirmation(qtbot, dialog, tmp_path, monkeypatch):
    src = write_folder(tmp_path / "My Base", model_files(seed=4))
    with qtbot.waitSignal(dialog.installed_changed, timeout=30_000):
        dialog.import_folder(src, link=False)
    assert "my-base" in dialog._row_ids
    dialog.select("my-base")
    assert dialog.status_text("my-base") == "Installed"

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.No)
    qtbot.mouseClick(dialog.remove_button, Qt.MouseButton.LeftButton)
    assert dialog.store.is_installed("my-base")  # "No" keeps it

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(dialog.installed_changed, timeout=5_000):
        qtbot.mouseClick(dialog.remove_button, Qt.MouseButton.LeftButton)
    assert not dialog.store.is_installed("my-base")
    assert "my-base" not in dialog._row_ids


def test_import_of_invalid_folder_shows_reason(qtbot, dialog, tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a: shown.append(a[2]))
    with qtbot.waitSignal(dialog.task_finished, timeout=30_000) as blocker:
        dialog.import_folder(tmp_path, link=False)
    assert blocker.args == ["import", "failed"]
    assert "model_index.json is missing" in shown[0]
