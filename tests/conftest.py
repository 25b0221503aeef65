"""Shared fixtures: every test runs isolated from the user's settings, data and models."""

from __future__ import annotations

import os
from pathlib import Path

import frozen_build
import pytest
from PIL import Image

from piggydesk.core import process_env
from piggydesk.core.paths import resources_dir

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The app's own process settings, before anything imports torch: its threads sleep while they
# wait, so the tests beside the background PyInstaller build run as the app beside another
# program would (the whole suite 252 s instead of 275 s spinning; benchmarks/RESULTS.md).
process_env.prepare()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """The frozen tests go last: their shared PyInstaller build runs meanwhile."""
    items.sort(key=lambda item: item.get_closest_marker("frozen") is not None)


def pytest_collection_finish(session):
    """Start the frozen tests' build in the background as soon as one of them is chosen."""
    if session.config.option.collectonly or not frozen_build.start_early():
        return
    if any(item.get_closest_marker("frozen") for item in session.items):
        frozen_build.start()


def pytest_sessionfinish(session):
    frozen_build.stop()


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """Point PiggyDesk's data/config/log/model folders at a fresh temporary folder."""
    home = tmp_path_factory.mktemp("piggydesk_home")
    monkeypatch.setenv("PIGGYDESK_HOME", str(home))
    monkeypatch.delenv("PIGGYDESK_MODELS_DIR", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    return home


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module of the tiny random diffusion models of
    ``piggyback_helpers`` (``pytestmark = pytest.mark.usefixtures("one_torch_thread")``).

    Their layers are too small to split: a second thread only adds synchronisation, and on a
    2-core machine with another busy process every step waits for it (test_piggyback_pipeline
    took 234 s with two threads, 42 s with one). It also leaves the second core to the
    module's command-line processes (``cli_helpers.Started``)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture()
def small_photo(tmp_path: Path) -> Path:
    """A 160x120 gray crop of the astronaut sample: quick to colorize."""
    sample = resources_dir() / "samples" / "astronaut-gray.jpg"
    gray = Image.open(sample).convert("L").crop((150, 200, 310, 320))
    path = tmp_path / "small.png"
    gray.save(path)
    return path


@pytest.fixture
def hub(monkeypatch):
    """A fake model hub on 127.0.0.1 (``modelstore_helpers.FakeHub``), stopped afterwards."""
    from modelstore_helpers import FakeHub

    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # never send test traffic to a proxy
    server = FakeHub().start()
    yield server
    server.stop()


@pytest.fixture
def store(tmp_path):
    """An empty model store in ``tmp_path / "models"`` with an empty catalogue (the model-store
    tests; test_pixels has a pixel store of its own under this name)."""
    from modelstore_helpers import write_catalog

    from piggydesk.modelstore.catalog import load_catalog
    from piggydesk.modelstore.store import ModelStore

    empty = load_catalog(write_catalog(tmp_path / "empty.json", []))
    return ModelStore(tmp_path / "models", empty)


@pytest.fixture
def dialogs(monkeypatch):
    """Record message boxes instead of blocking (the GUI tests); questions answer from
    ``answers``."""
    from PySide6.QtWidgets import QMessageBox

    seen: list[tuple[str, str, str]] = []
    answers: list = []

    def record(kind):
        def box(parent, title, text, *args, **kwargs):
            seen.append((kind, title, text))
            if kind == "question":
                return answers.pop(0) if answers else QMessageBox.StandardButton.Discard
            return QMessageBox.StandardButton.Ok

        return box

    for kind in ("warning", "information", "critical", "question"):
        monkeypatch.setattr(QMessageBox, kind, staticmethod(record(kind)))
    seen_answers = type("Dialogs", (), {"seen": seen, "answers": answers})
    return seen_answers
