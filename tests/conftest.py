"""Shared fixtures: every test runs isolated from the user's settings, data and models."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """Point PiggyDesk's data/config/log/model folders at a fresh temporary folder."""
    home = tmp_path_factory.mktemp("piggydesk_home")
    monkeypatch.setenv("PIGGYDESK_HOME", str(home))
    monkeypatch.delenv("PIGGYDESK_MODELS_DIR", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    return home
