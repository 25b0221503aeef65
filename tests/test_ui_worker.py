"""The model worker thread: runs jobs off the GUI thread, supersedes, cancels, shuts down."""

from __future__ import annotations

import numpy as np
import pytest

from piggydesk.core.hints import Hint
from piggydesk.engines.base import ColorizeRequest, EngineOutOfMemory
from piggydesk.ui.worker import Job, JobKind, MessageKind, ModelWorker
from tests.ui_fakes import SlowEngine, SuggestingEngine, TintEngine, fake_probe, make_factory


@pytest.fixture
def request_():
    L = np.tile(np.linspace(10, 90, 48, dtype=np.float32), (40, 1))
    return ColorizeRequest(lightness=L, hints=(Hint(5, 5, (200, 30, 30)),), num_variants=2)


def _worker(qtbot, engines):
    worker = ModelWorker(engine_factory=make_factory(engines), prober=fake_probe,
                         describe_device=lambda d: "Test CPU")
    yield_ = worker
    return yield_


def _is(kind):
    return lambda m: m.kind is kind


def test_colorize_runs_in_worker_and_reports(qtbot, request_):
    engine = TintEngine()
    worker = _worker(qtbot, {"classic": engine})
    try:
        seen = []
        worker.message.connect(seen.append)
        job = Job(JobKind.COLORIZE, engine="classic", request=request_)
        with qtbot.waitSignal(worker.message, check_params_cb=_is(MessageKind.FINISHED)) as blocker:
            worker.submit(job)
        done = blocker.args[0]
        assert done.job_id == job.job_id
        assert len(done.variants) == 2
        assert done.variants[0].rgb.shape == (40, 48, 3)
        assert done.device == "Test CPU"
        kinds = [m.kind for m in seen]
        assert kinds[0] is MessageKind.STARTED and MessageKind.LOADING in kinds
        assert MessageKind.PROGRESS in kinds
        # the engine is kept: a second run does not load it again
        seen.clear()
        with qtbot.waitSignal(worker.message, check_params_cb=_is(MessageKind.FINISHED)):
            worker.submit(Job(JobKind.COLORIZE, engine="classic", request=request_))
        assert MessageKind.LOADING not in [m.kind for m in seen]
        assert len(engine.calls) == 2
    finally:
        worker.shutdown()


def test_cancel_stops_slow_run_within_a_step(qtbot, request_):
    slow = SlowEngine(steps=100000, step_seconds=0.01)
    worker = _worker(qtbot, {"piggyback": slow})
    try:
        with qtbot.waitSignal(worker.message, check_params_cb=_is(MessageKind.PROGRESS)):
            worker.submit(Job(JobKind.COLORIZE, engine="piggyback", request=request_))
        with qtbot.waitSignal(worker.message, check_params_cb=_is(MessageKind.CANCELLED)):
            worker.cancel()
        done_at_cancel = slow.steps_done
        assert done_at_cancel < slow.steps
        qtbot.waitUntil(lambda: not worker.busy)
    finally:
        worker.shutdown()


def test_newer_request_supersedes_pending_one(qtbot, request_):
    slow = SlowEngine(steps=100000, step_seconds=0.01)
    fast = TintEngine()
    worker = _worker(qtbot, {"piggyback": slow, "classic": fast})
    try:
        seen = []
        worker.message.connect(seen.append)
        with qtbot.waitSignal(worker.message, check_params_cb=_is(MessageKind.PROGRESS)):
            first = worker.submit(Job(JobKind.COLORIZE, engine="piggyback", request=request_))
        second = worker.submit(Job(JobKind.COLORIZE, engine="classic", request=request_, live=True))
        third = worker.submit(Job(JobKind.COLORIZE, engine="classic", request=request_, live=True))
        with qtbot.waitSignal(worker.message, check_params_cb=_is(MessageKind.FINISHED)) as b:
            worker.cancel(first, include_pending=False)
        assert b.args[0].job_id == third
        assert any(m.kind is MessageKind.SUPERSEDED and m.job_id == second for m in seen)
        assert len(fast.calls) == 1
    finally:
        worker.shutdown()


def test_engine_errors_become_messages(qtbot, request_):
    class Broken:
        name = "classic"

        def colorize(self, request, progress=None, cancel=None):
            raise EngineOutOfMemory("The graphics card ran out of memory for this photo.")

    worker = _worker(qtbot, {"classic": Broken()})
    try:
        with qtbot.waitSignal(worker.message, check_params_cb=_is(MessageKind.FAILED)) as b:
            worker.submit(Job(JobKind.COLORIZE, engine="classic", request=request_))
        assert b.args[0].out_of_memory
        assert "memory" in b.args[0].error
    finally:
        worker.shutdown()


def test_probe_and_suggestions(qtbot, request_):
    worker = _worker(qtbot, {"instant": SuggestingEngine("instant")})
    try:
        with qtbot.waitSignal(worker.message, check_params_cb=_is(MessageKind.FINISHED)) as b:
            worker.submit(Job(JobKind.PROBE))
        assert [e.name for e in b.args[0].engines] == ["instant", "piggyback", "classic"]
        with qtbot.waitSignal(worker.message, check_params_cb=_is(MessageKind.FINISHED)) as b:
            worker.submit(Job(JobKind.SUGGEST, engine="instant", request=request_, point=(3, 4)))
        assert b.args[0].suggestions[0].color == (200, 40, 40)
    finally:
        worker.shutdown()


def test_shutdown_during_run_joins_cleanly(qtbot, request_):
    slow = SlowEngine(steps=100000, step_seconds=0.01)
    worker = _worker(qtbot, {"piggyback": slow})
    with qtbot.waitSignal(worker.message, check_params_cb=_is(MessageKind.PROGRESS)):
        worker.submit(Job(JobKind.COLORIZE, engine="piggyback", request=request_))
    worker.shutdown()
    assert worker._thread.isFinished()
    assert slow.steps_done < slow.steps


def test_out_of_memory_unloads_the_engines(qtbot, request_):
    """A typed out-of-memory error frees the loaded engines (``unload``) before the retry."""
    from piggydesk.engines.base import EngineOutOfMemory

    class Hungry(TintEngine):
        def colorize(self, request, progress=None, cancel=None):
            raise EngineOutOfMemory("The computer ran out of memory for this photo.")

    kept, hungry = TintEngine("instant"), Hungry("classic")
    worker = _worker(qtbot, {"instant": kept, "classic": hungry})
    try:
        with qtbot.waitSignal(worker.message, check_params_cb=_is(MessageKind.FINISHED)):
            worker.submit(Job(JobKind.COLORIZE, engine="instant", request=request_))
        with qtbot.waitSignal(worker.message, check_params_cb=_is(MessageKind.FAILED)) as b:
            worker.submit(Job(JobKind.COLORIZE, engine="classic", request=request_))
        assert b.args[0].out_of_memory and b.args[0].error.startswith("The computer ran out")
        assert kept.unloaded and hungry.unloaded
    finally:
        worker.shutdown()
