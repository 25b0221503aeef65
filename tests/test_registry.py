"""The engine registry: what it lists, the default engine, and lazy (torch-free) loading."""

from __future__ import annotations

import subprocess
import sys

import pytest

from piggydesk.engines import registry
from piggydesk.engines.base import Colorizer, EngineInfo, EngineUnavailable


def test_lists_every_engine_with_a_description():
    infos = registry.list_engines()
    assert [info.name for info in infos] == list(registry.ENGINE_NAMES)
    for info in infos:
        assert isinstance(info, EngineInfo)
        assert info.display_name
        if not info.available:
            assert info.reason  # an unavailable engine always says why


def test_classic_is_always_available_and_needs_hints():
    info = registry.engine_info("classic")
    assert info.available and info.needs_hints and not info.uses_prompt
    engine = registry.create_engine("classic", device="cpu")
    assert isinstance(engine, Colorizer)
    assert engine.name == "classic"


def test_default_engine_can_run():
    name = registry.default_engine_name()
    assert name in registry.ENGINE_NAMES
    assert registry.engine_info(name).available


def test_default_engine_prefers_instant_then_falls_back(monkeypatch):
    real = registry.engine_info

    def only(available: set[str]):
        def fake(name, model_path=None):
            return EngineInfo(name, name, "", available=name in available, reason="test")

        return fake

    monkeypatch.setattr(registry, "engine_info", only({"instant", "classic"}))
    assert registry.default_engine_name() == "instant"
    monkeypatch.setattr(registry, "engine_info", only({"piggyback", "classic"}))
    assert registry.default_engine_name() == "piggyback"
    monkeypatch.setattr(registry, "engine_info", only({"classic"}))
    assert registry.default_engine_name() == "classic"
    assert real("classic").available


def test_unknown_engine_is_a_readable_error():
    with pytest.raises(EngineUnavailable, match="no engine called 'sepia'"):
        registry.create_engine("sepia")


def test_unavailable_engine_refuses_with_its_reason(monkeypatch):
    monkeypatch.setattr(
        registry,
        "engine_info",
        lambda name, model_path=None: EngineInfo(
            name, "Instant", "", available=False, reason="No model is installed."
        ),
    )
    with pytest.raises(EngineUnavailable, match="Instant engine cannot run: No model"):
        registry.create_engine("instant")


def test_the_registry_and_the_classic_engine_do_not_import_torch():
    """Importing the registry is torch-free, and so is everything the classic engine does."""
    code = (
        "import sys\n"
        "import numpy as np\n"
        "from piggydesk.engines import registry\n"
        "from piggydesk.engines.base import ColorizeRequest\n"
        "from piggydesk.core.hints import Hint\n"
        "assert 'torch' not in sys.modules, 'importing the registry imported torch'\n"
        "assert registry.engine_info('classic').available\n"
        "engine = registry.create_engine('classic')\n"
        "light = np.tile(np.linspace(20, 80, 64, dtype=np.float32), (48, 1))\n"
        "engine.colorize(ColorizeRequest(light, hints=(Hint(5, 5, (200, 30, 30)),)))\n"
        "assert 'torch' not in sys.modules, 'the classic engine imported torch'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_out_of_memory_becomes_the_typed_error():
    """Torch's errors turn into ``EngineOutOfMemory``; other errors pass through untouched."""
    import torch

    from piggydesk.engines.base import EngineOutOfMemory
    from piggydesk.engines.device import out_of_memory_as_error

    @out_of_memory_as_error()
    def fail(exc):
        raise exc

    with pytest.raises(EngineOutOfMemory, match="graphics card ran out of memory"):
        fail(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 3 GiB"))
    with pytest.raises(EngineOutOfMemory, match="graphics card"):
        fail(RuntimeError("MPS backend out of memory (MPS allocated: 9 GB)"))
    with pytest.raises(EngineOutOfMemory, match="computer ran out"):
        fail(MemoryError())
    with pytest.raises(RuntimeError, match="shape mismatch"):
        fail(RuntimeError("shape mismatch"))


def test_every_engine_describes_what_the_ui_needs():
    """Capabilities are data on EngineInfo (the UI never names an engine)."""
    infos = {info.name: info for info in registry.list_engines()}
    assert infos["instant"].live_preview and infos["instant"].suggests_colors
    assert infos["piggyback"].uses_prompt and infos["piggyback"].uses_steps
    assert infos["classic"].needs_hints and infos["classic"].max_variants == 1
    assert not infos["classic"].live_preview and not infos["piggyback"].suggests_colors
