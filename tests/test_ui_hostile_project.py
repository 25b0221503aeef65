"""A hostile ``.piggy`` opened in the window: one dialog with one sentence, the window still works.

Before issue 14, ``"seed": 1e400`` or a manifest nested 100,000 deep raised an error the
window did not catch: a traceback on stderr, no dialog, and the wait cursor stuck.
"""

from __future__ import annotations

import json

import pytest
from PySide6.QtWidgets import QApplication

from tests.test_project_bombs import _manifest, _png_bomb, _rewrite, project  # noqa: F401
from tests.test_ui_dialogs import _engines, _window


def _seed_overflow(path):
    text = json.dumps({**_manifest(path), "seed": "1e400"}).replace('"1e400"', "1e400")
    return _rewrite(path, manifest=text)


def _deep(path):
    text = json.dumps(_manifest(path))
    return _rewrite(path, manifest=text[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}")


def _bomb(path):
    image = _manifest(path)["runs"][0]["variants"][0]["image"]
    import zipfile

    return _rewrite(path, members={image: (_png_bomb(20000, 20000), zipfile.ZIP_STORED)})


@pytest.mark.parametrize("make", [_seed_overflow, _deep, _bomb], ids=["seed", "deep", "bomb"])
def test_hostile_project_is_a_dialog_and_the_window_stays_usable(qtbot, dialogs, project,  # noqa: F811
                                                                 make, tmp_path):
    window = _window(qtbot, _engines())
    hostile = make(project)
    assert not window.open_path(hostile)
    kind, _, text = dialogs.seen[-1]
    assert kind == "warning" and "hostile.piggy" in text
    assert "\n" not in text and "Traceback" not in text
    assert QApplication.overrideCursor() is None  # the wait cursor is gone
    assert window.open_path(project)  # and a good project still opens
    assert window.model.doc is not None
