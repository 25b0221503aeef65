"""Where PiggyDesk keeps its files: user data, config, logs, autosaves and models.

Everything lives under the platform's user directories (platformdirs); ``PIGGYDESK_HOME``
moves all of it into one folder (tests and portable installs), ``PIGGYDESK_MODELS_DIR``
moves only the models. ``same_file`` says whether two paths name one file or folder (the
rule that keeps exports and batches off the originals).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "PiggyDesk"
APP_AUTHOR = "PiggyDesk"


def _home_override() -> Path | None:
    value = os.environ.get("PIGGYDESK_HOME")
    return Path(value) if value else None


def data_dir() -> Path:
    home = _home_override()
    path = home / "data" if home else Path(platformdirs.user_data_dir(APP_NAME, APP_AUTHOR))
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_dir() -> Path:
    home = _home_override()
    path = home / "config" if home else Path(platformdirs.user_config_dir(APP_NAME, APP_AUTHOR))
    path.mkdir(parents=True, exist_ok=True)
    return path


def log_dir() -> Path:
    home = _home_override()
    path = home / "logs" if home else Path(platformdirs.user_log_dir(APP_NAME, APP_AUTHOR))
    path.mkdir(parents=True, exist_ok=True)
    return path


def autosave_dir() -> Path:
    path = data_dir() / "autosave"
    path.mkdir(parents=True, exist_ok=True)
    return path


def models_dir() -> Path:
    value = os.environ.get("PIGGYDESK_MODELS_DIR")
    path = Path(value) if value else data_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def resources_dir() -> Path:
    """The shipped ``resources/`` folder (source tree, installed package, or frozen app)."""
    override = os.environ.get("PIGGYDESK_RESOURCES")
    if override:
        return Path(override)
    here = Path(__file__).resolve().parent.parent  # piggydesk/
    for candidate in (here / "resources", here.parent / "resources"):
        if candidate.is_dir():
            return candidate
    return here.parent / "resources"


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether ``a`` and ``b`` name the same file or folder: the same inode when both exist,
    otherwise the same resolved path (case folded where the platform folds it)."""
    try:
        if os.path.exists(a) and os.path.exists(b):
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))
