"""The engines PiggyDesk knows, and how to create one.

Engine modules are imported lazily with ``importlib`` so that importing the registry (as the
GUI does) never pulls in torch; each engine module provides ``engine_info(model_path)`` and
``create(device, model_path)``.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

from piggydesk.engines.base import Colorizer, EngineInfo, EngineUnavailable

logger = logging.getLogger(__name__)

ENGINE_NAMES = ("instant", "piggyback", "classic")
DEFAULT_ENGINE = "instant"


def _module(name: str):
    if name not in ENGINE_NAMES:
        raise EngineUnavailable(
            f"There is no engine called '{name}'. Choose one of: {', '.join(ENGINE_NAMES)}."
        )
    return importlib.import_module(f"piggydesk.engines.{name}")


def engine_info(name: str, model_path: str | Path | None = None) -> EngineInfo:
    """Describe an engine (and whether it can run) without loading its weights."""
    try:
        module = _module(name)
    except ModuleNotFoundError as exc:
        return EngineInfo(name, name.title(), "", available=False, reason=f"Not installed ({exc}).")
    return module.engine_info(model_path)


def list_engines(model_path: str | Path | None = None) -> list[EngineInfo]:
    return [engine_info(name, model_path) for name in ENGINE_NAMES]


def default_engine_name() -> str:
    """The instant engine when its weights are present, else the first available engine."""
    for name in (DEFAULT_ENGINE, *ENGINE_NAMES):
        if engine_info(name).available:
            return name
    return "classic"


def create_engine(
    name: str, device: str = "auto", model_path: str | Path | None = None
) -> Colorizer:
    """Load an engine. Raises ``EngineUnavailable`` with a readable reason when it cannot run."""
    info = engine_info(name, model_path)
    if not info.available:
        raise EngineUnavailable(f"The {info.display_name} engine cannot run: {info.reason}")
    logger.info("loading engine %s (device=%s, model=%s)", name, device, model_path)
    return _module(name).create(device=device, model_path=model_path)
