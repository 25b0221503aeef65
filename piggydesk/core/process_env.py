"""The environment variables every PiggyDesk program sets for itself, before anything heavy
(torch) is loaded: the CLI's ``main`` and the app's launcher (``frozen.configure_environment``)
call :func:`prepare` first. A variable the user has set already is left as it is.
"""

from __future__ import annotations

import os

# torch's OpenMP threads sleep while they wait instead of spinning. With one other busy
# program on a 2-core computer (or the app's own window drawing) a spinning thread takes a
# core from the thread it waits for: three instant variants of a 512-px photo took 0.99 s
# beside one busy process spinning and 0.24 s sleeping, the same 0.16-0.18 s on a quiet
# machine (benchmarks/RESULTS.md, session 11). OpenMP reads it once, when torch loads.
_DEFAULTS = {
    "OMP_WAIT_POLICY": "PASSIVE",
    "HF_HUB_DISABLE_TELEMETRY": "1",  # nothing PiggyDesk does needs Hugging Face telemetry
}


def prepare() -> None:
    """Set PiggyDesk's defaults for the variables the user has not set (safe to repeat)."""
    for name, value in _DEFAULTS.items():
        os.environ.setdefault(name, value)
