"""How ``piggydesk batch`` shows its progress on stderr.

On a terminal: a progress bar (tqdm) with the photo being coloured. When stderr is not a
terminal (captured into a log, piped, run by a scheduler) a bar would either vanish or fill
the log with carriage returns, so each finished photo gets one plain line instead::

    1/12 grandma.jpg: 2.3 s
    2/12 uncle.tif: failed after 0.1 s

Only the loop's bookkeeping lives here; what happens to each photo is ``cli.cmd_batch``'s.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import IO, TypeVar

T = TypeVar("T")


class BatchProgress:
    """Wrap the batch loop: ``for photo in progress.track(photos, name): ...``; call
    :meth:`failed` inside the loop body when the current photo did not work out."""

    def __init__(self, total: int, stream: IO[str], *, terminal: bool | None = None) -> None:
        self.total = total
        self.stream = stream
        if terminal is None:
            isatty = getattr(stream, "isatty", None)
            terminal = bool(isatty and isatty())
        self.terminal = terminal
        self._failed = False

    def failed(self) -> None:
        """The current photo failed (its line says so)."""
        self._failed = True

    def track(self, items: Iterable[T], name: Callable[[T], str]) -> Iterator[T]:
        items = list(items)
        if self.terminal:
            yield from self._bar(items, name)
            return
        for index, item in enumerate(items, start=1):
            self._failed = False
            started = time.perf_counter()
            yield item
            seconds = time.perf_counter() - started
            outcome = f"failed after {seconds:.1f} s" if self._failed else f"{seconds:.1f} s"
            self.stream.write(f"{index}/{self.total} {name(item)}: {outcome}\n")
            self.stream.flush()

    def _bar(self, items: list[T], name: Callable[[T], str]) -> Iterator[T]:
        from tqdm import tqdm

        try:  # a terminal that reports no size (some IDE consoles) still gets a bar
            size = os.get_terminal_size(self.stream.fileno())
        except (AttributeError, OSError, ValueError):
            size = os.terminal_size((0, 0))
        sized = {"dynamic_ncols": True} if size.columns and size.lines else {"ncols": 80, "nrows": 24}
        with tqdm(total=self.total, desc="Colorizing", unit="photo", file=self.stream,
                  **sized) as bar:
            for item in items:
                self._failed = False
                bar.set_postfix_str(name(item), refresh=True)
                yield item
                bar.update(1)
