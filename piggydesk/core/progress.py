"""How long-running work reports progress and is stopped: one token, one callback, one error.

Every long task in PiggyDesk (a colorization, a model download, checking a model's files)
takes the same two optional arguments:

* ``progress: ProgressCallback``, called as ``progress(done, total)`` in the task's own units
  (denoising steps, files); ``done == total`` means finished;
* ``cancel: CancelToken``, a thread-safe flag the GUI (or Ctrl+C) sets with ``cancel()`` and
  the task reads with ``is_set()`` between units of work, raising :class:`Cancelled`.

Tasks only read ``is_set()`` (and ``wait()`` to sleep interruptibly). Downloads report
richer snapshots (speed, ETA, file name) through their own listener type in
``modelstore.download``; that is a message, not a second kind of progress callback.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(done, total)``; ``done == total`` means finished."""


class Cancelled(Exception):
    """The task stopped because its cancel token was set; nothing (or a resumable part) is kept."""


class CancelToken:
    """A thread-safe cancel flag: the owner calls ``cancel()``, the task checks ``is_set()``."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True as soon as the token is cancelled."""
        return self._event.wait(max(0.0, seconds))


def check_cancel(cancel: CancelToken | None, message: str = "The run was cancelled.") -> None:
    """Raise :class:`Cancelled` (with ``message``) when ``cancel`` is set."""
    if cancel is not None and cancel.is_set():
        raise Cancelled(message)
