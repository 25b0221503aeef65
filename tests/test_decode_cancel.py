"""Cancel reaches the lightness-aware decode after the denoising loop (9-34 s on a CPU).

Counted, not timed: the user presses Cancel while the decoder's first up block runs (a hook
on that block sets the token); the decode must stop there, before the remaining up blocks,
the output convolution and the full-resolution recombination run.
"""

from __future__ import annotations

import threading

import pytest
import torch

from piggydesk.core.hints import Hint
from piggydesk.engines.base import Cancelled, ColorizeRequest
from piggydesk.pipelines.bundle import load_bundle
from piggydesk.pipelines.piggyback import PipelineCancelled
from tests.piggyback_helpers import gradient_lightness, make_tiny_bundle

STEPS = 2


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from piggydesk.engines.piggyback import PiggybackColorizer

    root = tmp_path_factory.mktemp("decode_cancel")
    bundle = make_tiny_bundle(root, smallest_unet=True)["bundle"]  # the decoder is full size
    pipe = load_bundle(bundle, device="cpu", dtype=torch.float32)
    return PiggybackColorizer(pipe, device="cpu", bundle=bundle)


def _request() -> ColorizeRequest:
    return ColorizeRequest(
        lightness=gradient_lightness(),
        hints=(Hint(x=12, y=10, color=(200, 30, 30), radius=3),),
        seed=3,
        steps=STEPS,
    )


class _Counter:
    def __init__(self, modules):
        self.counts = [0] * len(modules)
        self.handles = [
            m.register_forward_hook(self._hook(i)) for i, m in enumerate(modules)
        ]

    def _hook(self, i):
        def hook(_module, _args, _output):
            self.counts[i] += 1

        return hook

    def remove(self):
        for handle in self.handles:
            handle.remove()


def test_cancel_during_decode_stops_before_the_remaining_blocks(engine):
    pipe = engine.pipe
    decoder = pipe.vae.decoder
    stages = [*decoder.up_blocks, decoder.conv_out]
    counter = _Counter(stages)
    cancel = threading.Event()
    steps = []
    press = decoder.up_blocks[0].register_forward_hook(lambda *_: cancel.set())
    try:
        with pytest.raises(Cancelled):
            engine.colorize(
                _request(), progress=lambda s, t: steps.append(s), cancel=cancel
            )
    finally:
        press.remove()
        counter.remove()
    assert steps == list(range(1, STEPS + 1))  # the whole denoising loop ran: decode was next
    assert counter.counts == [1] + [0] * (len(stages) - 1)  # nothing after the cancel ran

    # the cancel checks are gone again: an uncancelled run decodes every stage and finishes
    assert all(not stage._forward_pre_hooks for stage in pipe.decode_stages())
    counter = _Counter(stages)
    try:
        variants = engine.colorize(_request(), cancel=threading.Event())
    finally:
        counter.remove()
    assert len(variants) == 1 and counter.counts == [1] * len(stages)


def _cancel_at(pipe, stages, at: int) -> list[int]:
    """Press Cancel as stage ``at`` is about to run; return the stages that completed."""
    ran: list[int] = []
    pressed: list[bool] = []
    handles = [
        stage.register_forward_hook(lambda *_, i=i: ran.append(i))
        for i, stage in enumerate(stages)
    ]
    handles.append(stages[at].register_forward_pre_hook(lambda *_: pressed.append(True)))
    try:
        with pytest.raises(PipelineCancelled, match="decoding"):
            pipe(lightness=gradient_lightness(), num_inference_steps=1, seeds=[0],
                 cancel=lambda: bool(pressed))
    finally:
        for handle in handles:
            handle.remove()
    return ran


def test_every_decoder_stage_is_a_cancel_point(engine):
    """Cancelling at any stage (G's included) stops the decode right there."""
    pipe = engine.pipe
    stages = pipe.decode_stages()
    assert len(stages) > len(pipe.vae.decoder.up_blocks) + 1  # finer than whole blocks
    for at in (0, len(stages) // 2, len(stages) - 1):
        ran = _cancel_at(pipe, stages, at)
        assert at not in ran and len(stages) - 1 not in ran  # stopped there; conv_out never ran
