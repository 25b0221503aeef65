"""Pick the compute device: CUDA, then Apple MPS, then CPU, unless the user chose one; turn
torch's out-of-memory errors into the typed ``EngineOutOfMemory``.

torch is imported inside the functions, so importing this module stays cheap; the GUI reaches
it only through ``engines.registry`` from the worker thread.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from piggydesk.engines.base import EngineOutOfMemory

logger = logging.getLogger(__name__)

DEVICE_CHOICES = ("auto", "cuda", "mps", "cpu")


@dataclass(frozen=True)
class DeviceChoice:
    name: str  # "cuda", "mps" or "cpu"
    description: str  # what a person sees, e.g. "NVIDIA GeForce RTX 3060 (CUDA)"
    reason: str = ""  # why this device, when it is not the one asked for


def available_devices() -> list[str]:
    """The devices torch can use on this machine, best first (always ends with "cpu")."""
    import torch

    found = []
    if torch.cuda.is_available():
        found.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    found.append("cpu")
    return found


def pick_device(preference: str = "auto") -> DeviceChoice:
    """Resolve ``preference`` (one of ``DEVICE_CHOICES``) to a device that exists here."""
    import torch

    if preference not in DEVICE_CHOICES:
        raise ValueError(f"device must be one of {', '.join(DEVICE_CHOICES)}, not '{preference}'")
    found = available_devices()
    reason = ""
    if preference == "auto":
        name = found[0]
    elif preference in found:
        name = preference
    else:
        name = "cpu"
        reason = f"{preference.upper()} is not available on this computer; using the CPU instead."
    if name == "cuda":
        description = f"{torch.cuda.get_device_name(0)} (CUDA)"
    elif name == "mps":
        description = "Apple GPU (MPS)"
    else:
        description = f"CPU ({torch.get_num_threads()} threads)"
    choice = DeviceChoice(name=name, description=description, reason=reason)
    logger.info("device: %s %s", choice.description, reason)
    return choice


@contextlib.contextmanager
def out_of_memory_as_error() -> Iterator[None]:
    """Raise ``EngineOutOfMemory`` for torch's and Python's out-of-memory errors.

    Use it around (or as a decorator on) an engine's ``colorize``. CUDA has a typed error;
    MPS and some CPU allocators raise a plain ``RuntimeError`` saying "out of memory", so its
    text is read here, once, and nowhere else. The CUDA cache is emptied so a retry can fit.
    """
    try:
        yield
    except MemoryError:
        raise EngineOutOfMemory("The computer ran out of memory for this photo.") from None
    except RuntimeError as exc:
        import torch

        typed = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError
        if not isinstance(exc, typed) and "out of memory" not in str(exc).lower():
            raise
        on_gpu = isinstance(exc, typed) or "cuda" in str(exc).lower() or "mps" in str(exc).lower()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        where = "graphics card" if on_gpu else "computer"
        raise EngineOutOfMemory(f"The {where} ran out of memory for this photo.") from exc
