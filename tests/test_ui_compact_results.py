"""Results reach the document compact, and the 16-bit conversion runs in the worker thread.

Making a 24 MP result compact takes about a second, so it must not happen in the GUI thread
when a run finishes; live previews stay float32 (they are shown, never kept).
"""

from __future__ import annotations

import threading

import numpy as np

from piggydesk.core import pixels
from piggydesk.core.document import ResultVariant, Run
from piggydesk.core.hints import Hint
from piggydesk.engines.base import ColorizeRequest
from piggydesk.ui.worker import Job, JobKind, MessageKind, ModelWorker
from tests.ui_fakes import TintEngine, fake_probe, make_factory


def _finished(qtbot, worker, job):
    with qtbot.waitSignal(
        worker.message, check_params_cb=lambda m: m.kind is MessageKind.FINISHED
    ) as blocker:
        worker.submit(job)
    return blocker.args[0]


def test_worker_hands_the_document_compact_results(qtbot, monkeypatch):
    threads = []
    real = pixels.to_uint16

    def spy(rgb):
        threads.append(threading.current_thread())
        return real(rgb)

    monkeypatch.setattr(pixels, "to_uint16", spy)
    L = np.tile(np.linspace(10, 90, 48, dtype=np.float32), (40, 1))
    request = ColorizeRequest(lightness=L, hints=(Hint(5, 5, (200, 30, 30)),), num_variants=2)
    worker = ModelWorker(engine_factory=make_factory({"classic": TintEngine()}),
                         prober=fake_probe, describe_device=lambda d: "Test CPU")
    try:
        done = _finished(qtbot, worker, Job(JobKind.COLORIZE, engine="classic", request=request))
        assert [type(v) for v in done.variants] == [ResultVariant, ResultVariant]
        assert len(threads) == 2 and threading.main_thread() not in threads
        run = Run.from_engine(done.variants)  # what "add run" does in the GUI thread
        assert run.variants[0] is done.variants[0] and len(threads) == 2  # not converted again

        live = _finished(
            qtbot, worker, Job(JobKind.COLORIZE, engine="classic", request=request, live=True)
        )
        assert not isinstance(live.variants[0], ResultVariant) and len(threads) == 2
    finally:
        worker.shutdown()
