"""Training batches made ahead in worker processes, each from its own step's seed.

On a GPU the instant network's training step takes milliseconds, while drawing the crops,
converting them to Lab and simulating the hints takes tens of milliseconds a batch on one CPU
core: made inside the training loop, the data would leave a lent GPU idle most of its time.
``BatchWorkers`` forks ``count`` processes that inherit the photos already in memory (copy on
write) and keeps ``2 x count`` batches in flight. A worker writes its batch into one of
``2 x count + 1`` slots of memory shared with the parent and answers only the slot's number,
so no batch is pickled through a pipe (a batch of 64 crops at 176 px is about 48 MB; sent
through a pipe it took longer than making it). A returned batch stays valid until the next
call of ``batch``. The slots and the batch maker are module state the fork hands down, so a
process runs one ``BatchWorkers`` at a time (the training loop starts and closes its own).

Batch ``s`` is made from ``step_rng(seed, s)`` alone, so a run draws the same batches whatever
the number of workers, and a run resumed from a checkpoint (which holds the step) goes on with
exactly the batches it would have drawn.
"""

from __future__ import annotations

import mmap
import multiprocessing
import signal
from collections import deque
from collections.abc import Callable

import cv2
import numpy as np

BatchMaker = Callable[[np.random.Generator], tuple[np.ndarray, ...]]

_make: BatchMaker | None = None  # set in the parent just before the fork; the workers inherit
_slots: list[mmap.mmap] = []  # shared with the workers (an anonymous mapping survives the fork)


def _quiet_worker() -> None:
    # The training loop's SIGTERM handler (save, then stop) is the parent's alone: a worker ends
    # when told, and leaves Ctrl+C in a terminal to the parent.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def step_rng(seed: int, step: int) -> np.random.Generator:
    """The generator batch ``step`` is made from (the same in every worker)."""
    return np.random.default_rng([seed, step])


def _views(slot: int, layout: list[tuple[tuple[int, ...], str]]) -> list[np.ndarray]:
    """The arrays of ``layout`` (shape, dtype) laid one after another in shared slot ``slot``."""
    views, offset = [], 0
    for shape, dtype in layout:
        array = np.ndarray(shape, dtype=dtype, buffer=_slots[slot], offset=offset)
        views.append(array)
        offset += array.nbytes
    return views


def _make_batch(seed: int, step: int, slot: int) -> list[tuple[tuple[int, ...], str]]:
    arrays = _make(step_rng(seed, step))
    layout = [(a.shape, a.dtype.str) for a in arrays]
    if sum(a.nbytes for a in arrays) > len(_slots[slot]):
        raise ValueError("a training batch is larger than its shared slot")
    for view, array in zip(_views(slot, layout), arrays):
        view[...] = array
    return layout


class BatchWorkers:
    """``count`` forked processes making the batches of the coming steps with ``make``;
    ``slot_bytes`` is the most one batch's arrays take together."""

    def __init__(self, make: BatchMaker, count: int, seed: int, slot_bytes: int) -> None:
        global _make, _slots
        self._seed = seed
        self._ahead = 2 * count
        _make = make
        _slots = [mmap.mmap(-1, slot_bytes) for _ in range(self._ahead + 1)]
        # One process per core, so no OpenCV thread pool inside the workers. It is set in the
        # parent around the fork: a forked child that changes OpenCV's pool hangs on the
        # parent's, whose threads it does not have.
        threads = cv2.getNumThreads()
        cv2.setNumThreads(1)
        try:
            self._pool = multiprocessing.get_context("fork").Pool(
                count, initializer=_quiet_worker)
        finally:
            cv2.setNumThreads(threads)
        self._pending: deque = deque()  # (step, AsyncResult), in step order

    def _slot(self, step: int) -> int:
        return step % len(_slots)

    def batch(self, step: int) -> list[np.ndarray]:
        """The batch of ``step`` (views of shared memory, valid until the next call); the
        next ones are started meanwhile, never in the slot being returned."""
        while self._pending and self._pending[0][0] != step:  # not the step asked for: drop
            self._pending.popleft()[1].wait()  # its worker is done with the slot
        if not self._pending:
            self._submit(step)
        _, result = self._pending.popleft()
        layout = result.get()
        following = self._pending[-1][0] + 1 if self._pending else step + 1
        while len(self._pending) < self._ahead:
            self._submit(following)
            following += 1
        return _views(self._slot(step), layout)

    def _submit(self, step: int) -> None:
        self._pending.append(
            (step, self._pool.apply_async(_make_batch, (self._seed, step, self._slot(step)))))

    def close(self) -> None:
        global _slots
        self._pending.clear()
        self._pool.terminate()
        self._pool.join()
        for slot in _slots:
            slot.close()
        _slots = []
