"""The import rules of TEAM.md / pyproject.toml ([tool.importlinter]) hold: run lint-imports."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _lint_imports() -> str | None:
    beside = Path(sys.executable).parent / "lint-imports"
    return str(beside) if beside.exists() else shutil.which("lint-imports")


def test_import_contracts_are_kept():
    exe = _lint_imports()
    if exe is None:
        pytest.fail("lint-imports is not installed (pip install -e '.[test]')")
    result = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "broken" in result.stdout and " 0 broken" in result.stdout


def _layers() -> list[str]:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c["type"] == "layers")["layers"]
    names = [name.strip() for layer in layers for name in layer.replace(":", "|").split("|")]
    return [name.strip("()") for name in names]  # "(module)": an optional layer


def test_every_module_of_piggydesk_sits_in_a_layer():
    import pkgutil

    import piggydesk

    modules = {f"piggydesk.{m.name}" for m in pkgutil.iter_modules(piggydesk.__path__)}
    assert modules, "no modules found"
    assert sorted(modules - set(_layers())) == []


def test_no_import_hides_behind_a_string():
    """Contracts only count if every edge is a plain import (TEAM.md)."""
    hidden = []
    for path in sorted((ROOT / "piggydesk").rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#")[0]
            if "import_module(" in code or "__import__(" in code:
                hidden.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert hidden == []


WINDOW_WITHOUT_TORCH = r"""
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from piggydesk.engines import registry
from piggydesk.ui.main_window import MainWindow
from piggydesk.ui.worker import ModelWorker

app = QApplication([])
photo = Path(sys.argv[1])
Image.fromarray(np.tile(np.linspace(20, 230, 64, dtype=np.uint8), (48, 1)), "L").save(photo)
worker = ModelWorker(prober=lambda: ([registry.engine_info("classic")], ["cpu"]),
                     describe_device=lambda preference: "CPU")
window = MainWindow(worker=worker, check_recovery=False)
window.show()
loop = QEventLoop()
window.runs.engines_changed.connect(loop.quit)
QTimer.singleShot(30000, loop.quit)
loop.exec()
assert [e.name for e in window.runs.engines] == ["classic"], window.runs.engines
assert window.open_path(photo)
window.add_hint(10, 10)
window.add_hint(50, 30)
done = []
window.run_finished.connect(lambda msg: (done.append(msg), loop.quit()))
assert window.colorize() is not None
QTimer.singleShot(60000, loop.quit)
loop.exec()
assert done and len(window.model.runs()) == 1, window.status_label.text()
window.undo_stack.setClean()
window.close()
heavy = [m for m in ("torch", "diffusers", "transformers", "piggydesk.engines.instant",
                     "piggydesk.engines.piggyback", "piggydesk.models", "piggydesk.pipelines")
         if m in sys.modules]
assert not heavy, heavy
print("ok")
"""


def test_the_main_window_and_a_torch_free_run_never_import_torch(tmp_path):
    """Building the window, opening a photo, adding hints and a classic run through the real
    worker thread leave torch unimported: the UI reaches engines only through the registry,
    which imports an engine module only when that engine is asked for. A subprocess, so the
    other tests' imports do not count."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PIGGYDESK_HOME": str(tmp_path / "h")}
    result = subprocess.run(
        [sys.executable, "-c", WINDOW_WITHOUT_TORCH, str(tmp_path / "photo.png")],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert result.stdout.strip().endswith("ok")


def test_no_ui_module_names_an_engine():
    """The UI asks EngineInfo what an engine can do; it never decides by an engine's name."""
    names = ("instant", "piggyback", "classic")
    found = []
    for path in sorted((ROOT / "piggydesk" / "ui").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        for name in names:
            for quoted in (f'"{name}"', f"'{name}'"):
                if quoted in text:
                    found.append(f"{path.name}: {quoted}")
    assert found == []
