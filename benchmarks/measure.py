"""Memory, CPU-time and timing readings the benchmarks share (this process; Linux and macOS).

Imported as ``benchmarks.measure`` by scripts that put the repository root on ``sys.path``
(every benchmark does, to import ``piggydesk`` from a checkout).
"""

from __future__ import annotations

import os
import resource
import sys
import time
from collections.abc import Callable


def peak_rss_bytes() -> int:
    """The largest resident size this process has had (``ru_maxrss``: KiB on Linux, bytes
    on macOS)."""
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def current_rss_bytes() -> int | None:
    """The resident size now (``/proc/self/statm``), or None where there is no ``/proc``."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return None


def peak_rss_gib() -> float:
    return peak_rss_bytes() / 2**30


def current_rss_gib() -> float:
    """The resident size now in GiB (NaN where it cannot be read)."""
    now = current_rss_bytes()
    return float("nan") if now is None else now / 2**30


def cpu_seconds() -> float:
    """User + system CPU time of this process: on a contended machine, a better measure of
    the work than wall time (an idle 2-core machine runs it in about cpu_s / 2)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def wall_and_cpu(fn: Callable[[], object], repeats: int) -> tuple[list[float], list[float]]:
    """Call ``fn`` ``repeats`` times: the wall seconds and the process CPU seconds (all
    threads) of each call."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return walls, cpus
