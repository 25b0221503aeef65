"""The command line as the CLI tests run it: ``python -m piggydesk`` in a subprocess (or
several side by side), and its one error line."""

from __future__ import annotations

import locale
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO

BATCH_PROGRESS_LINE = re.compile(r"\d+/\d+ .+: (failed after )?\d+\.\d s")


def piggydesk(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m piggydesk ARGS`` and capture its output as text."""
    return subprocess.run(
        [sys.executable, "-m", "piggydesk", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
    )


class Started:
    """Commands started at once, side by side, each its own process.

    Most of a CLI test's time is its processes starting (importing torch, diffusers): ones
    that do not depend on each other can share the machine's cores. Their output goes to
    files, so that no pipe fills up while nobody reads it. ``results()`` waits for them and
    gives one ``CompletedProcess`` per command, in order, its output as text the way
    ``subprocess.run(..., text=True)`` gives it; ``stop()`` ends any still running.
    """

    def __init__(self, *commands: Sequence[object], env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> None:
        self._runs: list[tuple[subprocess.Popen, IO[bytes], IO[bytes]]] = []
        try:
            for command in commands:
                out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
                try:
                    proc = subprocess.Popen(list(map(str, command)), stdout=out, stderr=err,
                                            env=env, cwd=cwd)
                except BaseException:
                    out.close()
                    err.close()
                    raise
                self._runs.append((proc, out, err))
        except BaseException:
            self.stop()
            raise

    @staticmethod
    def _text(file: IO[bytes]) -> str:
        file.seek(0)
        data = file.read().decode(locale.getpreferredencoding(False))
        return data.replace("\r\n", "\n").replace("\r", "\n")  # as text=True reads it

    def results(self) -> list[subprocess.CompletedProcess]:
        done = []
        for proc, out, err in self._runs:
            proc.wait()
            done.append(subprocess.CompletedProcess(
                proc.args, proc.returncode, self._text(out), self._text(err)))
        return done

    def stop(self) -> None:
        for proc, out, err in self._runs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            out.close()
            err.close()


def run_together(*commands: Sequence[object], env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> list[subprocess.CompletedProcess]:
    """Run independent commands side by side (``Started``) and wait for them all."""
    started = Started(*commands, env=env, cwd=cwd)
    try:
        return started.results()
    finally:
        started.stop()


def piggydesk_together(*arg_lists: Sequence[object],
                       cwd: Path | None = None) -> list[subprocess.CompletedProcess]:
    """``piggydesk(*args)`` for each of ``arg_lists``, side by side (``run_together``)."""
    return run_together(*([sys.executable, "-m", "piggydesk", *args] for args in arg_lists),
                        cwd=cwd)


def one_thread_env(home: Path | None = None, **extra: str) -> dict[str, str]:
    """The environment for a process that runs the tiny random diffusion models of
    ``piggyback_helpers``: one torch thread (``conftest.one_torch_thread`` says why), plus
    ``extra``. ``home``: isolated as conftest's ``isolated_home`` isolates a test (for a
    process that a module's fixture starts, outside any test); else this process's own."""
    env = dict(os.environ)
    if home is not None:
        env.pop("PIGGYDESK_MODELS_DIR", None)
        env.update(PIGGYDESK_HOME=str(home), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return {**env, "OMP_NUM_THREADS": "1", **extra}


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """The one error line on stderr (batch's per-photo progress lines aside)."""
    lines = [ln for ln in result.stderr.strip().splitlines()
             if not BATCH_PROGRESS_LINE.fullmatch(ln)]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]
