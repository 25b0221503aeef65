"""The piggyback pipeline, bundle and engine on a tiny random Stable Diffusion, end to end."""

from __future__ import annotations

import functools
import json
import os
import threading

import numpy as np
import pytest
import torch

from piggydesk.core.color import rgb_to_lab
from piggydesk.core.hints import Hint
from piggydesk.engines import registry
from piggydesk.engines.base import Cancelled, ColorizeRequest, EngineUnavailable
from piggydesk.pipelines.bundle import BundleError, assemble_bundle, load_bundle
from piggydesk.pipelines.piggyback import PiggybackColorizationPipeline
from tests.cli_helpers import Started, one_thread_env
from tests.piggyback_helpers import (
    gradient_lightness,
    make_tiny_base,
    make_tiny_bundle,
)

STEPS = 3

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: one thread is faster


@pytest.fixture(scope="module")
def parts(tmp_path_factory, one_torch_thread):
    return make_tiny_bundle(tmp_path_factory.mktemp("piggyback"))


@pytest.fixture(scope="module", autouse=True)
def command_lines(parts, tmp_path_factory):
    """The runs of the command-line test at the end, started as soon as the tiny bundle exists.

    Each ``python -m piggydesk`` process spends most of its time importing diffusers; started
    here, they run beside the in-process tests (one torch thread) on the machine's second
    core. The test waits for them and checks them; if it is not chosen, they are stopped at
    the end of the module.
    """
    import shutil
    import sys

    from PIL import Image

    from piggydesk.core.color import lightness_to_gray_rgb

    root = tmp_path_factory.mktemp("pipeline_cli")
    light = gradient_lightness(48, 64)
    gray = np.round(lightness_to_gray_rgb(light)[..., 0] * 255).astype(np.uint8)
    source = root / "old.png"
    Image.fromarray(gray, mode="L").save(source)
    out = root / "colour.png"
    base_cmd = [sys.executable, "-m", "piggydesk", "colorize", str(source), "-o", str(out),
                "--engine", "piggyback", "--device", "cpu", "--steps", "2"]
    bad = root / "bad-cli"
    shutil.copytree(parts["bundle"], bad)
    (bad / "guider" / "diffusion_pytorch_model.safetensors").write_bytes(b"not weights")
    started = Started(
        [*base_cmd, "--model", str(parts["bundle"]), "--variants", "2", "--prompt", "a red car",
         "--hint", "10,10,#c03030"],
        [*base_cmd, "--model", str(bad)],
        env=one_thread_env(root / "home"),
    )
    try:
        yield {"root": root, "gray": gray, "colorize": started}
    finally:
        started.stop()


@pytest.fixture(scope="module")
def pipe(parts):
    return load_bundle(parts["bundle"], device="cpu", dtype=torch.float32)


def _request(**kw) -> ColorizeRequest:
    defaults = dict(
        lightness=gradient_lightness(),
        hints=(Hint(x=12, y=10, color=(200, 30, 30), radius=3),),
        seed=7,
        steps=STEPS,
    )
    defaults.update(kw)
    return ColorizeRequest(**defaults)


def test_bundle_loads_from_disk_in_the_full_mode(parts, pipe):
    manifest = json.loads((parts["bundle"] / "piggydesk.json").read_text())
    assert manifest["native_size"] == 32 == pipe.native_size
    assert manifest["components"][-2:] == ["guider", "gray_encoder"]
    assert all(len(h) == 64 for h in manifest["files"].values())
    assert not any(p.suffix in (".bin", ".ckpt") for p in parts["bundle"].rglob("*"))
    assert pipe.mode == "paper guider" and pipe.guider_kind == "paper"
    assert pipe.working_shape(40, 56) == (28, 36)  # about 32*32 px, multiples of 4


def test_same_seed_same_output_and_different_seeds_differ(pipe):
    light = gradient_lightness()
    a = pipe(light, num_inference_steps=STEPS, seeds=[3], output_type="ab").ab
    b = pipe(light, num_inference_steps=STEPS, seeds=[3], output_type="ab").ab
    c = pipe(light, num_inference_steps=STEPS, seeds=[4], output_type="ab").ab
    assert np.array_equal(a, b)
    assert np.abs(a - c).mean() > 1e-3


def test_variants_batch_equals_separate_runs(pipe):
    light = gradient_lightness()
    kw = dict(prompt="a red car", num_inference_steps=STEPS, output_type="ab")
    batch = pipe(light, num_variants=3, seeds=[5, 6, 7], **kw).ab
    for i, seed in enumerate([5, 6, 7]):
        alone = pipe(light, num_variants=1, seeds=[seed], **kw).ab[0]
        np.testing.assert_allclose(batch[i], alone, atol=1e-3)
    assert np.abs(batch[0] - batch[1]).mean() > 1e-3


def test_prompt_and_hints_change_the_result(pipe):
    light = gradient_lightness()
    plain = pipe(light, num_inference_steps=STEPS, seeds=[1], output_type="ab").ab
    prompted = pipe(light, prompt="blue sky", num_inference_steps=STEPS, seeds=[1],
                    output_type="ab").ab
    hinted = pipe(light, hints=[Hint(20, 20, (0, 200, 0), 6)], num_inference_steps=STEPS,
                  seeds=[1], output_type="ab").ab
    assert np.abs(plain - prompted).mean() > 1e-3
    assert np.abs(plain - hinted).mean() > 1e-4


def test_no_prompt_skips_the_unconditional_branch(pipe):
    batches = []
    handle = pipe.unet.register_forward_pre_hook(lambda m, args: batches.append(args[0].shape[0]))
    try:
        pipe(gradient_lightness(), num_variants=2, num_inference_steps=2, seeds=[1, 2],
             output_type="ab")
        assert batches == [2, 2]
        batches.clear()
        pipe(gradient_lightness(), prompt="old car", num_variants=2, num_inference_steps=2,
             seeds=[1, 2], output_type="ab")
        assert batches == [4, 4]
    finally:
        handle.remove()


@pytest.fixture(scope="module")
def smallest_bundle(tmp_path_factory):
    """The smallest piggybacked model that still has every kind of hook (a down, mid and up
    block with cross-attention): ``torch.compile``'s cost grows with the layers."""
    root = tmp_path_factory.mktemp("piggyback_smallest")
    return make_tiny_bundle(root, smallest_unet=True)["bundle"]


def _compiled_runs(bundle, backend: str):
    """Two compiled runs (other seed, same shapes) and the eager reference, with dynamo's
    graph and recompile counts after each."""
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    eager = load_bundle(bundle, device="cpu", dtype=torch.float32)
    compiled = load_bundle(bundle, device="cpu", dtype=torch.float32)
    real_compile = torch.compile
    try:  # enable_compile's own call, with the backend chosen here
        torch.compile = functools.partial(real_compile, backend=backend)
        compiled.enable_compile()
    finally:
        torch.compile = real_compile
    light = gradient_lightness()
    kw = dict(hints=[Hint(20, 20, (0, 200, 0), 6)], num_inference_steps=STEPS, seeds=[2],
              output_type="ab")
    got = compiled(light, **kw).ab
    first = (counters["stats"]["unique_graphs"], sum(counters["recompiles"].values()))
    compiled(light, **{**kw, "seeds": [3]})
    second = (counters["stats"]["unique_graphs"], sum(counters["recompiles"].values()))
    expected = eager(light, **kw).ab
    torch._dynamo.reset()
    return got, expected, first, second


def test_compiled_step_is_one_graph_and_compiles_once(smallest_bundle):
    """The hooks are registered once, so dynamo traces the whole guided step (guider, base
    UNet and the Eq. 2 hooks) as one graph, reused at every step and for another seed. Graph
    breaks and recompiles are dynamo's; the backend does not change them, so this uses the
    quick ``eager`` backend (inductor's numerics: the next test)."""
    got, expected, first, second = _compiled_runs(smallest_bundle, backend="eager")
    assert first == (1, 0), "the guided step does not trace as one graph"
    assert second == (1, 0), "a second run with the same shapes recompiled"
    np.testing.assert_allclose(got, expected, atol=1e-4)


@pytest.mark.skipif(
    os.environ.get("PIGGYDESK_COMPILE", "") in ("", "0"),
    reason="torch.compile is off by default; set PIGGYDESK_COMPILE=1 to test inductor (~1 min)",
)
def test_inductor_compiled_step_matches_eager(smallest_bundle):
    """What ``PIGGYDESK_COMPILE=1`` runs: inductor with freezing, the same colours as eager."""
    got, expected, first, second = _compiled_runs(smallest_bundle, backend="inductor")
    np.testing.assert_allclose(got, expected, atol=0.05)  # Lab units; eager fp32 reference
    assert first == second == (1, 0)


def test_ddim_is_selectable(pipe):
    light = gradient_lightness()
    ddim = pipe(light, num_inference_steps=STEPS, seeds=[2], sampler="ddim", output_type="ab")
    dpm = pipe(light, num_inference_steps=STEPS, seeds=[2], output_type="ab")
    assert ddim.ab.shape == dpm.ab.shape and not np.array_equal(ddim.ab, dpm.ab)
    with pytest.raises(ValueError, match="sampler"):
        pipe(light, sampler="euler")


@pytest.mark.parametrize(
    ("use_guider", "use_gray", "mode"),
    [(True, False, "paper guider"), (False, True, "SDEdit from the gray photo"),
     (False, False, "SDEdit from the gray photo")],
)
def test_each_degraded_mode_runs_and_keeps_lightness(pipe, use_guider, use_gray, mode):
    degraded = PiggybackColorizationPipeline(
        vae=pipe.vae, text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer, unet=pipe.unet,
        scheduler=pipe.scheduler, guider=pipe.guider if use_guider else None,
        gray_encoder=pipe.gray_encoder if use_gray else None,
    )
    light = gradient_lightness()
    out = degraded(light, prompt="a photo", hints=[Hint(5, 5, (0, 0, 255), 4)],
                   num_inference_steps=4, seeds=[1])
    assert out.mode == mode
    assert out.images[0].shape == (*light.shape, 3)
    assert np.abs(rgb_to_lab(out.images[0])[..., 0] - light).max() < 0.5
    assert np.isfinite(out.ab).all()


def test_engine_end_to_end_progress_and_lightness(parts):
    info = registry.engine_info("piggyback", parts["bundle"])
    assert info.available and info.uses_prompt and info.default_working_size == 32
    engine = registry.create_engine("piggyback", device="cpu", model_path=parts["bundle"])
    steps = []
    request = _request(prompt="a red car", num_variants=2)
    variants = engine.colorize(request, progress=lambda s, t: steps.append((s, t)))
    assert len(variants) == 2
    assert steps[-1] == (STEPS + 1, STEPS + 1) and steps[0] == (1, STEPS + 1)
    for i, variant in enumerate(variants):
        assert variant.rgb.shape == (*request.lightness.shape, 3)
        assert variant.rgb.dtype == np.float32
        lab = rgb_to_lab(variant.rgb)
        assert np.abs(lab[..., 0] - request.lightness).max() < 0.5
        assert variant.settings.seed == 7 + i and variant.settings.variant_index == i
        assert variant.settings.mode == "paper guider" and variant.message == ""
        assert variant.settings.get("freedom") == 1.0  # the paper's method: from noise
    # a variant's own seed, run alone, reproduces it (the engine may run in bf16 on this CPU,
    # where batched and single convolutions round differently)
    again = engine.colorize(_request(prompt="a red car", seed=8))[0]
    assert np.abs(again.rgb - variants[1].rgb).mean() < 1e-3
    assert np.abs(again.rgb - variants[1].rgb).max() < 2e-2


def test_cancel_stops_within_a_step(parts, pipe):
    from piggydesk.engines.piggyback import PiggybackColorizer

    engine = PiggybackColorizer(pipe, device="cpu", bundle=parts["bundle"])
    cancel = threading.Event()
    calls = []
    handle = pipe.unet.register_forward_pre_hook(lambda m, a: calls.append(1))

    def progress(step, total):
        if step == 2:
            cancel.set()

    try:
        with pytest.raises(Cancelled):
            engine.colorize(_request(steps=10), progress=progress, cancel=cancel)
    finally:
        handle.remove()
    assert len(calls) == 2
    with pytest.raises(Cancelled):
        engine.colorize(_request(), cancel=cancel)  # already set: nothing runs


def test_engine_on_a_plain_base_runs_sdedit_and_says_so(parts):
    engine = registry.create_engine("piggyback", device="cpu", model_path=parts["base"])
    variant = engine.colorize(_request(prompt="a blue car", steps=4))[0]
    assert variant.settings.mode == "SDEdit, refined from instant colours"
    assert variant.settings.get("freedom") == 0.6
    assert "SDEdit" in variant.message and "ControlNet" in variant.message


def test_engine_finds_an_installed_bundle(parts, isolated_home):
    import shutil

    from piggydesk.core.paths import models_dir

    assert not registry.engine_info("piggyback").available
    assert "no piggyback model" in registry.engine_info("piggyback").reason
    shutil.copytree(parts["base"], models_dir() / "plain-sd")
    shutil.copytree(parts["bundle"], models_dir() / "tiny-bundle")
    from piggydesk.engines.piggyback import resolve_model

    assert resolve_model(None)[0].name == "tiny-bundle"  # the one with a guider first
    assert registry.engine_info("piggyback").available


def _copy(parts, tmp_path, name):
    import shutil

    target = tmp_path / name
    shutil.copytree(parts["bundle"], target)
    return target


def test_corrupted_bundle_is_refused_with_a_clear_message(parts, tmp_path):
    bad = _copy(parts, tmp_path, "bad")
    weights = bad / "unet" / "diffusion_pytorch_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"damaged: unet/diffusion_pytorch_model.safetensors"):
        load_bundle(bad)
    with pytest.raises(EngineUnavailable, match="checksum"):
        registry.create_engine("piggyback", device="cpu", model_path=bad)


def test_bundle_missing_a_component_is_refused(parts, tmp_path):
    import shutil

    missing = _copy(parts, tmp_path, "missing")
    shutil.rmtree(missing / "guider")
    with pytest.raises(BundleError, match="'guider' component but its folder is missing"):
        load_bundle(missing)
    no_vae = _copy(parts, tmp_path, "novae")
    index = json.loads((no_vae / "model_index.json").read_text())
    index["vae"] = [None, None]
    (no_vae / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(BundleError, match="(no 'vae' component|model_index.json does not match)"):
        load_bundle(no_vae)
    info = registry.engine_info("piggyback", no_vae)
    assert not info.available and "lacks vae" in info.reason


def test_pickled_weights_are_never_loaded(parts, tmp_path):
    import shutil

    base = tmp_path / "pickled"
    shutil.copytree(parts["base"], base)
    weights = base / "vae" / "diffusion_pytorch_model.safetensors"
    weights.rename(weights.with_suffix(".bin"))
    with pytest.raises(BundleError, match=r"only pickle files \(diffusion_pytorch_model.bin\)"):
        load_bundle(base)
    with pytest.raises(BundleError, match="no .safetensors"):
        assemble_bundle(base, tmp_path / "out")


def test_assemble_refuses_an_existing_folder_and_a_mismatched_guider(parts, tmp_path):
    with pytest.raises(BundleError, match="already exists"):
        assemble_bundle(parts["base"], parts["bundle"])
    other = tmp_path / "other"
    make_tiny_base(other, sample_size=8)  # same architecture: fits
    with pytest.raises(BundleError, match="holds a DiffusionGuider, not a GrayEncoder"):
        assemble_bundle(parts["base"], tmp_path / "b2", decoder_dir=parts["guider"])


def test_cli_colorize_with_the_piggyback_engine(command_lines):
    from PIL import Image

    proc, refused = command_lines["colorize"].results()  # started by command_lines
    gray = command_lines["gray"]
    assert proc.returncode == 0, proc.stderr
    for index in (1, 2):
        written = command_lines["root"] / f"colour-{index}.png"
        assert written.is_file(), proc.stdout
        rgb = np.asarray(Image.open(written).convert("RGB"), dtype=np.float32) / 255.0
        assert rgb.shape == (48, 64, 3)
        input_l = rgb_to_lab(np.repeat(gray[..., None], 3, axis=-1) / 255.0)[..., 0]
        assert np.abs(rgb_to_lab(rgb)[..., 0] - input_l).max() < 1.5  # 8-bit rounding
    assert refused.returncode != 0
    assert "guider/diffusion_pytorch_model.safetensors" in refused.stderr
    assert "Traceback" not in refused.stderr
