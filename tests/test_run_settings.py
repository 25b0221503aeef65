"""``RunSettings``: one definition of a run's settings, its project-file form, and tolerance."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from piggydesk.core.hints import Hint
from piggydesk.core.run_settings import DEFAULTS, FIELD_NAMES, RunSettings
from piggydesk.engines.base import ColorizeRequest


def test_round_trip_through_json_keeps_everything():
    settings = RunSettings(
        engine="piggyback", seed=9, prompt="a barn", negative_prompt="modern",
        hints=(Hint(1.5, 2.0, (10, 20, 30), 3.0),), steps=30, guidance_scale=4.5,
        working_size=768, num_variants=3, variant_index=2, options={"mode": "sdedit", "s": 0.5},
    )
    data = json.loads(json.dumps(settings.to_dict()))
    assert data["mode"] == "sdedit" and "options" not in data  # flat, like format-1 manifests
    assert RunSettings.from_dict(data) == settings
    assert settings.mode == "sdedit" and settings.get("s") == 0.5 and "s" in settings


def test_from_dict_is_tolerant_of_old_and_damaged_data():
    loaded = RunSettings.from_dict(
        {"engine": "instant", "seed": "12", "steps": None, "guidance_scale": float("nan"),
         "num_variants": 99, "hints": "not a list", "random_seed": True}
    )
    assert loaded.engine == "instant" and loaded.seed == 12
    assert loaded.steps == DEFAULTS.steps and loaded.guidance_scale == DEFAULTS.guidance_scale
    assert loaded.num_variants == 8 and loaded.hints == ()
    assert loaded.options == {"random_seed": True}  # unknown keys are kept, not dropped
    assert RunSettings.from_dict(None) == RunSettings() == RunSettings.from_dict("garbage")


def test_with_values_changes_fields_and_options_and_stays_frozen():
    base = RunSettings(engine="classic")
    changed = base.with_values(seed=4, strength=0.3)
    assert (changed.seed, changed.options) == (4, {"strength": 0.3})
    assert base.seed == 0 and base.options == {}
    assert changed.with_values(strength=None).options == {}
    with pytest.raises(dataclasses.FrozenInstanceError):
        base.seed = 3  # type: ignore[misc]
    with pytest.raises(ValueError, match="options cannot hold"):
        RunSettings(options={"seed": 3})
    assert hash(changed) == hash(changed.with_values(strength=0.9))  # options not hashed


def test_defaults_are_declared_once_and_used_by_the_app_settings():
    from piggydesk.ui.settings import BY_NAME

    for name in ("num_variants", "steps", "guidance_scale", "working_size"):
        assert BY_NAME[name].default == getattr(DEFAULTS, name)
    assert "options" in FIELD_NAMES


def test_a_request_is_lightness_plus_settings():
    light = np.zeros((4, 6), np.float32)
    request = ColorizeRequest(light, RunSettings(seed=5), num_variants=2)
    assert request.settings == RunSettings(seed=5, num_variants=2)
    assert (request.seed, request.num_variants, request.image_size) == (5, 2, (4, 6))
    single = dataclasses.replace(request, num_variants=1)
    assert single.settings.num_variants == 1 and single.seed == 5
    with pytest.raises(AttributeError):
        request.nonsense  # noqa: B018
