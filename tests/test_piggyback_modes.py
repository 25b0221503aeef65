"""Issue 16 on tiny random models in the real on-disk layouts: the ControlNet guider, the
refinement of start colours (the instant engine's), hints kept, few-step LoRAs fused once."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch

from piggydesk.core.color import rgb_to_lab
from piggydesk.core.hints import Hint, rasterize_hints
from piggydesk.pipelines.bundle import BundleError, assemble_bundle, load_bundle
from piggydesk.pipelines.fast import HYPER_SD_8, LCM_LORA
from piggydesk.pipelines.piggyback import (
    PiggybackColorizationPipeline,
    PipelineCancelled,
    describe_mode,
)
from tests.cli_helpers import Started, one_thread_env
from tests.piggyback_helpers import (
    gradient_lightness,
    make_tiny_base,
    make_tiny_controlnet,
    make_tiny_lora,
)

STEPS = 4

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: one thread is faster


@pytest.fixture(scope="module")
def parts(tmp_path_factory, one_torch_thread):
    root = tmp_path_factory.mktemp("modes")
    base = make_tiny_base(root / "base")
    controlnet = make_tiny_controlnet(base, root / "controlnet")
    lcm = make_tiny_lora(base, root / LCM_LORA.id, LCM_LORA.weight_name)
    hyper = make_tiny_lora(base, root / HYPER_SD_8.id, HYPER_SD_8.weight_name, kohya=True)
    bundle = assemble_bundle(base, root / "cn-bundle", controlnet_dir=controlnet)
    return {"root": root, "base": base, "controlnet": controlnet, "lcm": lcm,
            "hyper": hyper, "bundle": bundle}


@pytest.fixture(scope="module", autouse=True)
def command_lines(parts, tmp_path_factory):
    """The runs of the command-line tests at the end, started as soon as the tiny models exist.

    Each ``python -m piggydesk`` process spends most of its time importing diffusers; started
    here, they run beside the in-process tests (one torch thread) on the machine's second
    core. Each test waits for its own runs and checks them; runs no test was chosen for are
    stopped at the end of the module.
    """
    import shutil
    import sys

    from PIL import Image

    from piggydesk.core.color import lightness_to_gray_rgb

    root = tmp_path_factory.mktemp("modes_cli")
    python = [sys.executable, "-m", "piggydesk"]
    assemble = [*python, "models", "assemble", "--base", parts["base"]]
    models = root / "models"
    models.mkdir()
    shutil.copytree(parts["lcm"], models / LCM_LORA.id)
    light = gradient_lightness(48, 64)
    gray = np.round(lightness_to_gray_rgb(light)[..., 0] * 255).astype(np.uint8)
    Image.fromarray(gray, mode="L").save(root / "old.png")
    colorize = [*python, "colorize", root / "old.png", "--engine", "piggyback",
                "--model", parts["bundle"], "--device", "cpu"]
    runs = {
        "assemble": Started(
            [*assemble, "--controlnet", parts["controlnet"], "-o", root / "assembled"],
            [*assemble, "--controlnet", parts["base"] / "unet", "-o", root / "bad"],
            env=one_thread_env(root / "home-assemble"),
        ),
        "fast": Started(
            [*colorize, "-o", root / "fast.png", "--fast", "--freedom", "1"],
            [*colorize, "-o", root / "bad.png", "--freedom", "1.5"],
            env=one_thread_env(root / "home-fast", PIGGYDESK_MODELS_DIR=str(models)),
        ),
    }
    try:
        yield {"root": root, **runs}
    finally:
        for started in runs.values():
            started.stop()


@pytest.fixture(scope="module")
def pipe(parts):
    return load_bundle(parts["bundle"], device="cpu", dtype=torch.float32)


@pytest.fixture(scope="module")
def plain(pipe):
    """The same weights without the ControlNet."""
    return PiggybackColorizationPipeline(
        vae=pipe.vae, text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer, unet=pipe.unet,
        scheduler=pipe.scheduler,
    )


def _start_colours(shape=(40, 56)) -> np.ndarray:
    """Start colours as the instant engine would give them: a warm left, a cool right."""
    ab = np.zeros((*shape, 2), np.float32)
    ab[:, : shape[1] // 2] = (30.0, 40.0)
    ab[:, shape[1] // 2 :] = (-10.0, -35.0)
    return ab


def _encode(pipe, light, ab) -> torch.Tensor:
    """The start image (working-size L* with ``ab``) as the VAE encodes it, scaled."""
    from piggydesk.core.color import lab_to_rgb
    from piggydesk.core.recombine import resize_lightness

    h, w = pipe.working_shape(*light.shape)
    lab = np.concatenate([resize_lightness(light, (h, w))[..., None],
                          pipe._resized(ab, (h, w))], axis=-1)
    image = torch.from_numpy(lab_to_rgb(lab).transpose(2, 0, 1)[None] * 2 - 1).float()
    with torch.no_grad():
        return pipe.vae.encode(image).latent_dist.mode() * pipe.vae.config.scaling_factor


# ------------------------------------------------------------------------- ControlNet guider
def test_controlnet_bundle_layout_and_mode(parts, pipe):
    manifest = json.loads((parts["bundle"] / "piggydesk.json").read_text())
    assert manifest["guider_kind"] == "controlnet"
    assert "controlnet" in manifest["components"] and "guider" not in manifest["components"]
    assert "controlnet/diffusion_pytorch_model.safetensors" in manifest["files"]
    index = json.loads((parts["bundle"] / "model_index.json").read_text())
    assert index["controlnet"] == ["diffusers", "ControlNetModel"]
    assert pipe.guider_kind == "controlnet" and pipe.mode == "ControlNet guider"


def test_controlnet_residuals_reach_the_unet_and_scale_zero_is_unguided(pipe, plain):
    light = gradient_lightness()
    kw = dict(num_inference_steps=STEPS, seeds=[3], output_type="ab")
    guided = pipe(light, **kw)
    unguided = plain(light, strength=1.0, **kw)
    off = pipe(light, controlnet_conditioning_scale=0.0, **kw)
    assert guided.mode == "ControlNet guider" and guided.guider == "controlnet"
    assert np.abs(guided.ab - unguided.ab).mean() > 1e-2
    np.testing.assert_allclose(off.ab, unguided.ab, atol=1e-4)
    half = pipe(light, controlnet_conditioning_scale=0.5, **kw)
    assert 0 < np.abs(half.ab - unguided.ab).mean() < np.abs(guided.ab - unguided.ab).mean()


def test_controlnet_joins_a_plain_base_at_load_and_a_misfit_is_refused(parts, tmp_path):
    joined = load_bundle(parts["base"], dtype=torch.float32, controlnet_dir=parts["controlnet"])
    assert joined.guider_kind == "controlnet"
    other = make_tiny_base(tmp_path / "other")
    from diffusers import ControlNetModel, UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(other / "unet")
    wide = UNet2DConditionModel.from_config({**unet.config, "cross_attention_dim": 48})
    ControlNetModel.from_unet(wide, conditioning_embedding_out_channels=(16, 32)).save_pretrained(
        tmp_path / "misfit", safe_serialization=True
    )
    with pytest.raises(BundleError, match="does not fit .*cross_attention_dim"):
        load_bundle(parts["base"], dtype=torch.float32, controlnet_dir=tmp_path / "misfit")
    with pytest.raises(BundleError, match="one guider"):
        assemble_bundle(parts["base"], tmp_path / "two", guider_dir=parts["controlnet"],
                        controlnet_dir=parts["controlnet"])


# ------------------------------------------------------------------------- refining start colours
def test_strength_zero_returns_the_start_colours_exactly(pipe):
    light = gradient_lightness()
    start = _start_colours()
    out = pipe(light, init_ab=start, strength=0.0, num_inference_steps=STEPS, seeds=[1])
    h, w = out.working_shape
    assert out.steps_run == 0 and out.start == "instant"
    expected = pipe._resized(start, (h, w))
    np.testing.assert_array_equal(out.ab[0], expected)
    lab = rgb_to_lab(out.images[0])
    assert np.abs(lab[..., 0] - light).max() < 0.5


def test_refined_mode_starts_from_the_start_colours(pipe, plain):
    """The first step's latents are the encoded start image, noised: two runs with the same
    seed and different start colours differ there by exactly their encoded difference."""
    light = gradient_lightness()
    warm_cool = _start_colours()
    flipped = -warm_cool
    first = []
    handle = pipe.unet.register_forward_pre_hook(
        lambda m, args: first.append(args[0].detach().clone()) if len(first) % 2 == 0 else None
    )
    kw = dict(num_inference_steps=8, seeds=[2], output_type="ab")
    try:
        a = pipe(light, init_ab=warm_cool, strength=0.25, **kw)
        first.append(None)
        b = pipe(light, init_ab=flipped, strength=0.25, **kw)
    finally:
        handle.remove()
    assert a.mode == "ControlNet guider, refined from instant colours" and b.start == "instant"
    assert a.steps_run == 2 and a.strength == pytest.approx(0.25)
    seen = (first[0] - first[2]).flatten()
    encoded = (_encode(pipe, light, warm_cool) - _encode(pipe, light, flipped)).flatten()
    cosine = float(seen @ encoded / (seen.norm() * encoded.norm()))
    assert cosine > 0.999
    assert 0.5 < float(seen.norm() / encoded.norm()) < 1.0  # scaled by sqrt(alpha_bar_t)
    sdedit = plain(light, init_ab=warm_cool, **kw)
    assert sdedit.mode == "SDEdit, refined from instant colours" and sdedit.strength == 0.6
    assert plain(light, **kw).mode == "SDEdit from the gray photo"


def test_hinted_regions_keep_their_colours(pipe):
    """``keep`` (1 on the hints, fading out over their reach) holds the start colours there."""
    light = gradient_lightness()
    hint = Hint(x=14, y=12, color=(200, 30, 30), radius=4)
    start = _start_colours()
    hint_ab, hint_mask = rasterize_hints((hint,), light.shape, light.shape)
    start[hint_mask[0] > 0] = hint_ab[:, hint_mask[0] > 0].T
    h, w = pipe.working_shape(*light.shape)
    _, mask_work = rasterize_hints((hint,), light.shape, (h, w))
    keep = mask_work[0].astype(np.float32)  # 1 on the hint, 0 elsewhere (the engine fades it)
    kw = dict(init_ab=start, strength=0.8, num_inference_steps=STEPS, seeds=[4])
    free = pipe(light, hints=[hint], **kw)
    kept = pipe(light, hints=[hint], keep=keep, **kw)
    inside = keep > 0
    target = pipe._resized(start, (h, w))[inside]
    assert np.abs(kept.ab[0][inside] - target).max() < 1e-3
    assert np.abs(free.ab[0][inside] - target).mean() > 1.0  # without keep it drifts
    np.testing.assert_array_equal(kept.ab[0][~inside], free.ab[0][~inside])
    full = rgb_to_lab(kept.images[0])
    assert np.abs(full[..., 0] - light).max() < 0.5  # output L = input L


def test_same_seed_same_output_and_cancel_within_a_step(pipe):
    light = gradient_lightness()
    kw = dict(init_ab=_start_colours(), strength=0.75, num_inference_steps=STEPS,
              output_type="ab")
    a = pipe(light, seeds=[9], **kw).ab
    b = pipe(light, seeds=[9], **kw).ab
    c = pipe(light, seeds=[10], **kw).ab
    assert np.array_equal(a, b) and np.abs(a - c).mean() > 1e-3
    cancel = threading.Event()
    calls = []
    handle = pipe.controlnet.register_forward_pre_hook(lambda m, args: calls.append(1))
    try:
        with pytest.raises(PipelineCancelled):
            pipe(light, seeds=[9], cancel=cancel.is_set,
                 callback=lambda step, total: cancel.set() if step == 1 else None, **kw)
    finally:
        handle.remove()
    assert len(calls) == 1


def test_bad_inputs_are_refused_with_a_reason(pipe):
    light = gradient_lightness()
    with pytest.raises(ValueError, match="strength"):
        pipe(light, strength=1.5)
    with pytest.raises(ValueError, match="needs `init_ab`"):
        pipe(light, keep=np.ones((4, 4), np.float32))
    with pytest.raises(ValueError, match="init_ab"):
        pipe(light, init_ab=np.zeros((4, 4), np.float32))


def test_modes_in_words():
    assert describe_mode("paper", "noise") == "paper guider"
    assert describe_mode("controlnet", "noise") == "ControlNet guider"
    assert describe_mode("none", "gray") == "SDEdit from the gray photo"
    assert describe_mode("controlnet", "instant", "LCM-LoRA") == (
        "ControlNet guider, refined from instant colours, fast (LCM-LoRA)"
    )


# ------------------------------------------------------------------------- few-step LoRAs
@pytest.mark.parametrize("spec_name", ["lcm", "hyper"])
def test_lora_fused_once_equals_lora_unfused(parts, spec_name):
    from peft.tuners.tuners_utils import BaseTunerLayer

    spec = {"lcm": LCM_LORA, "hyper": HYPER_SD_8}[spec_name]
    folder = parts[spec_name]
    light = gradient_lightness()
    kw = dict(num_inference_steps=spec.steps, guidance_scale=spec.guidance_scale,
              prompt="a red car", seeds=[5], output_type="ab")
    fused = load_bundle(parts["base"], dtype=torch.float32, fast=(spec, folder))
    assert fused.fast == spec and fused.default_sampler == spec.sampler
    assert not any(isinstance(m, BaseTunerLayer) for m in fused.unet.modules())  # plain UNet
    unfused = load_bundle(parts["base"], dtype=torch.float32)
    unfused.load_lora_weights(str(folder), weight_name=spec.weight_name, adapter_name="fast")
    assert any(isinstance(m, BaseTunerLayer) for m in unfused.unet.modules())
    bare = load_bundle(parts["base"], dtype=torch.float32)
    a = fused(light, **kw)
    b = unfused(light, sampler=spec.sampler, **kw)
    c = bare(light, sampler=spec.sampler, **kw)
    assert a.mode.endswith(f"fast ({spec.name})")
    np.testing.assert_allclose(a.ab, b.ab, atol=2e-3)
    assert np.abs(a.ab - c.ab).mean() > 1e-2  # the LoRA does change the UNet
    with pytest.raises(ValueError, match="already fused"):
        fused.fuse_fast_lora(folder, spec)


def test_lcm_sampling_is_seeded_and_runs_its_steps(parts):
    fused = load_bundle(parts["base"], dtype=torch.float32, fast=(LCM_LORA, parts["lcm"]))
    light = gradient_lightness()
    steps = []
    kw = dict(num_inference_steps=4, guidance_scale=1.0, strength=1.0, output_type="ab")
    a = fused(light, seeds=[1], callback=lambda s, t: steps.append(s), **kw)
    b = fused(light, seeds=[1], **kw)
    assert steps == [1, 2, 3, 4]
    assert np.array_equal(a.ab, b.ab)


def test_a_file_that_is_no_lora_is_refused(parts, tmp_path):
    import shutil

    folder = tmp_path / "notlora"
    folder.mkdir()
    shutil.copy(parts["controlnet"] / "diffusion_pytorch_model.safetensors",
                folder / LCM_LORA.weight_name)
    with pytest.raises(BundleError, match="LCM-LoRA could not be fused"):
        load_bundle(parts["base"], dtype=torch.float32, fast=(LCM_LORA, folder))


# ------------------------------------------------------------------------- the engine
def _install(parts, names):
    import shutil

    from piggydesk.core.paths import models_dir

    root = models_dir()
    root.mkdir(parents=True, exist_ok=True)
    for source, target in names:
        shutil.copytree(parts[source], root / target)
    return root


def test_engine_chooses_the_controlnet_and_refines_the_instant_colours(parts):
    from piggydesk.engines import registry
    from piggydesk.engines.base import ColorizeRequest, EngineUnavailable
    from piggydesk.engines.piggyback import CONTROLNET_ID

    _install(parts, [("base", "sd15"), ("controlnet", CONTROLNET_ID)])
    engine = registry.create_engine("piggyback", device="cpu")
    assert engine.pipe.guider_kind == "controlnet"
    hint = Hint(x=14, y=12, color=(40, 160, 40), radius=3)
    light = gradient_lightness()
    request = ColorizeRequest(light, hints=(hint,), seed=3, steps=STEPS, working_size=32)
    variant = engine.colorize(request)[0]
    assert variant.settings.mode == "ControlNet guider, refined from instant colours"
    assert variant.settings.get("freedom") == 0.6
    assert variant.settings.get("conditioning_scale") == 1.0
    lab = rgb_to_lab(variant.rgb)
    assert np.abs(lab[..., 0] - light).max() < 0.5  # output L = input L
    instant = registry.create_engine("instant", device="cpu").colorize(request)[0]
    instant_lab = rgb_to_lab(instant.rgb)
    # the hinted spot keeps the instant engine's (hinted) colour; elsewhere diffusion redraws
    spot = (slice(11, 14), slice(13, 16))
    assert np.abs(lab[spot][..., 1:] - instant_lab[spot][..., 1:]).mean() < 4.0
    assert np.abs(lab[..., 1:] - instant_lab[..., 1:]).mean() > 1.0
    # freedom 0: the instant colours themselves
    still = engine.colorize(ColorizeRequest(
        light, settings=request.settings.with_values(freedom=0.0)))[0]
    same = np.abs(rgb_to_lab(still.rgb)[..., 1:] - instant_lab[..., 1:])
    assert same.mean() < 0.3 and same.max() < 5.0  # (resampled to the model's working size)
    # fast without an installed LoRA: one clear sentence
    with pytest.raises(EngineUnavailable, match="few-step LoRA"):
        engine.colorize(ColorizeRequest(light, settings=request.settings.with_values(fast=True)))


def test_engine_fast_option_fuses_the_installed_lora(parts):
    from piggydesk.engines import registry
    from piggydesk.engines.base import ColorizeRequest

    _install(parts, [("bundle", "cn-bundle"), ("lcm", LCM_LORA.id)])
    engine = registry.create_engine("piggyback", device="cpu")
    light = gradient_lightness()
    request = ColorizeRequest(light, seed=1, steps=20, working_size=32,
                              options={"fast": True, "freedom": 1.0})
    steps = []
    variant = engine.colorize(request, progress=lambda s, t: steps.append((s, t)))[0]
    assert engine.pipe.fast == LCM_LORA
    assert variant.settings.mode == "ControlNet guider, fast (LCM-LoRA)"
    assert variant.settings.steps == 4 and steps[-1] == (5, 5)
    slow = engine.colorize(ColorizeRequest(light, settings=request.settings.with_values(
        fast=None)))[0]
    assert engine.pipe.fast is None and "fast" not in slow.settings.mode


# ------------------------------------------------------------------------- the command line
def test_models_assemble_controlnet_on_the_command_line(command_lines):
    proc, bad = command_lines["assemble"].results()  # started by the command_lines fixture
    out = command_lines["root"] / "assembled"
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "piggydesk.json").read_text())["guider_kind"] == "controlnet"
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1, bad.stderr  # one sentence, no progress bars
    assert lines[0].startswith("piggydesk: ") and "not a ControlNetModel" in lines[0]


def test_cli_fast_and_freedom(command_lines):
    proc, bad = command_lines["fast"].results()  # started by the command_lines fixture
    assert proc.returncode == 0, proc.stderr
    assert "ControlNet guider, fast (LCM-LoRA)" in proc.stdout
    assert bad.returncode == 2 and "between 0 and 1" in bad.stderr
