"""The engines PiggyDesk knows, how to describe one, how to create one, and the devices.

Importing this module is torch-free (the GUI imports it): an engine module is imported by the
function that needs it (``_module``), with a plain import statement, so the import graph shows
every edge while nothing heavy loads until an engine is asked about. The GUI asks only from
its worker thread. Each engine module provides ``engine_info(model_path)`` and
``create(device, model_path)``; ``engines.device`` (which imports torch when called) is reached
the same way through ``available_devices`` and ``describe_device``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import ModuleType

from piggydesk.engines.base import Colorizer, EngineInfo, EngineUnavailable

logger = logging.getLogger(__name__)

ENGINE_NAMES = ("instant", "piggyback", "classic")
DEFAULT_ENGINE = "instant"


def _module(name: str) -> ModuleType:
    """The engine's module, imported now (deferred imports: see the module docstring)."""
    if name == "instant":
        from piggydesk.engines import instant

        return instant
    if name == "piggyback":
        from piggydesk.engines import piggyback

        return piggyback
    if name == "classic":
        from piggydesk.engines import classic

        return classic
    raise EngineUnavailable(
        f"There is no engine called '{name}'. Choose one of: {', '.join(ENGINE_NAMES)}."
    )


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


def available_devices() -> list[str]:
    """The compute devices here, best first (imports torch: call it off the GUI thread)."""
    from piggydesk.engines import device

    return device.available_devices()


def describe_device(preference: str) -> str:
    """The device a preference resolves to, in words (imports torch, like ``available_devices``)."""
    from piggydesk.engines import device

    return device.pick_device(preference).description
