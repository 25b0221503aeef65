"""Piggyback training recipes on a tiny random Stable Diffusion: data, hints, both stages.

Everything runs on the CPU with the tiny base of ``tests/piggyback_helpers.py`` (native size
32 px) and a dozen generated photos, through the real command-line entry points.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from piggydesk.core.color import rgb_to_lab
from piggydesk.engines import registry
from piggydesk.engines.base import ColorizeRequest
from piggydesk.pipelines.bundle import assemble_bundle
from piggydesk.training import train_decoder, train_guider
from piggydesk.training.decoder_losses import Perceptual, PerceptualWeightsError
from piggydesk.training.piggyback_data import (
    DUMMY_CAPTIONS,
    build_dataset,
    draw_caption,
    imagenet_captions,
    load_imagenet_labels,
)
from piggydesk.training.slic_hints import HintConfig, point_hints, sample_hints, slic_hints
from tests.piggyback_helpers import gradient_lightness, make_tiny_base


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The CI machine has 2 cores; one torch thread is faster for these tiny models."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _photo(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A colourful synthetic photo: a few coloured blobs on a gradient, with mild noise."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.empty((h, w, 3), np.float32)
    c0, c1 = rng.random(3), rng.random(3)
    img[:] = c0 * (xx / w)[..., None] + c1 * (1 - xx / w)[..., None]
    for _ in range(4):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(h / 8, h / 3)
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.random(3)
    img += rng.normal(0, 0.02, img.shape)
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """12 photos (some in a sub-folder, odd sizes) and a captions JSON (strings and lists)."""
    root = tmp_path_factory.mktemp("photos")
    (root / "family").mkdir()
    rng = np.random.default_rng(0)
    captions = {}
    for i in range(12):
        rel = f"family/p{i:02d}.png" if i % 2 else f"p{i:02d}.jpg"
        Image.fromarray(_photo(rng, int(rng.integers(36, 60)), int(rng.integers(36, 80)))).save(
            root / rel
        )
        captions[rel] = ["a red car", "an old car"] if i % 3 else "a blue sky"
    (root / "captions.json").write_text(json.dumps(captions), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def four_photos(photos, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("four")
    for path in sorted(photos.glob("*.jpg"))[:4]:
        shutil.copy(path, root / path.name)
    return root


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return make_tiny_base(tmp_path_factory.mktemp("sd") / "base")


# --------------------------------------------------------------------------- hints
def test_slic_hints_keep_30_to_50_percent_with_ground_truth_colours():
    rng = np.random.default_rng(1)
    rgb = _photo(rng, 96, 128).astype(np.float32) / 255.0
    lab = rgb_to_lab(rgb)
    config = HintConfig()
    for seed in range(6):
        sample = slic_hints(rgb, np.random.default_rng(seed), config, lab)
        n_regions = len(np.unique(sample.segments))
        assert n_regions >= 20
        assert 0.3 <= len(sample.kept) / n_regions <= 0.5
        assert sample.ab.shape == (2, 96, 128) and sample.mask.shape == (1, 96, 128)
        inside = sample.mask[0] > 0
        assert np.array_equal(inside, np.isin(sample.segments, sample.kept))
        assert not sample.ab[:, ~inside].any()
        for region in sample.kept:
            pixels = sample.segments == region
            truth = lab[pixels][:, 1:].mean(axis=0)
            hint = sample.ab[:, pixels]
            assert np.ptp(hint, axis=1).max() == 0  # one flat colour per region
            # quantised to a 10-unit grid: within half a step of the true mean on each axis
            assert np.abs(hint[:, 0] - truth).max() <= config.quant_step / 2 + 1e-3


def test_point_hints_are_small_discs_with_the_local_colour():
    rng = np.random.default_rng(2)
    rgb = _photo(rng, 80, 80).astype(np.float32) / 255.0
    lab = rgb_to_lab(rgb)
    config = HintConfig(points_min=3, points_max=3, radius_min=2, radius_max=2)
    sample = point_hints(rgb, np.random.default_rng(3), config, lab)
    assert sample.mode == "points"
    assert 0 < sample.mask.sum() <= 3 * 13  # three discs of radius 2 (13 pixels each)
    inside = sample.mask[0] > 0
    # each hint colour is its disc's mean ground truth (8-bit sRGB rounding aside);
    # overlapping discs may mix colours, so compare on the whole: most pixels are close
    err = np.abs(sample.ab[:, inside].T - lab[inside][:, 1:])
    assert np.median(err) < 6.0


def test_hint_modes_follow_their_shares():
    rgb = _photo(np.random.default_rng(4), 32, 32).astype(np.float32) / 255.0
    rng = np.random.default_rng(5)
    config = HintConfig(p_none=0.25, p_slic=0.5, p_points=0.25, n_segments=(8, 16))
    modes = [sample_hints(rgb, rng, config).mode for _ in range(400)]
    counts = {m: modes.count(m) / len(modes) for m in ("none", "slic", "points")}
    assert abs(counts["none"] - 0.25) < 0.07 and abs(counts["slic"] - 0.5) < 0.08
    none = sample_hints(rgb, np.random.default_rng(0), HintConfig(1, 0, 0))
    assert none.mode == "none" and not none.mask.any() and not none.ab.any()


# --------------------------------------------------------------------------- data
def test_caption_dropout_is_half_over_many_draws():
    rng = np.random.default_rng(6)
    draws = [draw_caption(["a red car", "an old car"], rng, 0.5) for _ in range(6000)]
    dummy = [c for c in draws if c in DUMMY_CAPTIONS]
    assert abs(len(dummy) / len(draws) - 0.5) < 0.025
    assert set(dummy) == set(DUMMY_CAPTIONS)
    assert {c for c in draws if c not in DUMMY_CAPTIONS} == {"a red car", "an old car"}
    assert draw_caption(None, rng, 0.5) in DUMMY_CAPTIONS  # no caption: always a dummy


def test_dataset_crops_flips_gray_and_captions(photos):
    ds = build_dataset(photos, 32, hints=HintConfig(n_segments=(8, 16)), seed=3)
    assert len(ds) == 12 and len(ds.captions) == 12
    item = ds[5]
    assert item["pixel_values"].shape == (3, 32, 32) and item["gray"].shape == (1, 32, 32)
    assert item["hint_ab"].shape == (2, 32, 32) and item["hint_mask"].shape == (1, 32, 32)
    rgb = (item["pixel_values"].numpy().transpose(1, 2, 0) + 1) / 2
    assert float(item["pixel_values"].min()) >= -1 and float(item["pixel_values"].max()) <= 1
    np.testing.assert_allclose(item["lightness"][0].numpy(), rgb_to_lab(rgb)[..., 0], atol=1e-3)
    assert item["caption"] in {"a red car", "an old car", "a blue sky", *DUMMY_CAPTIONS}
    # sample k is a pure function of (seed, k): resumed runs see the same data
    again = ds[5]
    assert torch.equal(item["pixel_values"], again["pixel_values"])
    assert item["caption"] == again["caption"]
    # one epoch visits every photo once
    assert sorted(ds.photo_index(k) for k in range(12)) == list(range(12))
    captions = [ds.sample(k)["caption"] for k in range(120)]
    assert 0.35 < sum(c in DUMMY_CAPTIONS for c in captions) / 120 < 0.65


def test_imagenet_label_files_become_captions(tmp_path):
    labels = tmp_path / "LOC_synset_mapping.txt"
    labels.write_text("n01440764 tench, Tinca tinca\nn02123045 tabby, tabby cat\n")
    images = ["n01440764/a.JPEG", "val/n02123045_42.png", "other/x.png"]
    captions = imagenet_captions(images, load_imagenet_labels(labels))
    assert captions == {
        "n01440764/a.JPEG": ["a photo of a tench"],
        "val/n02123045_42.png": ["a photo of a tabby"],
    }
    index = tmp_path / "imagenet_class_index.json"
    index.write_text(json.dumps({"0": ["n01440764", "tench"]}))
    assert load_imagenet_labels(index) == {"n01440764": "tench"}


# --------------------------------------------------------------------------- perceptual
@pytest.fixture(scope="module")
def perceptual_files(tmp_path_factory) -> list[Path]:
    """Random VGG16 weights in torchvision layout + LPIPS lin layers in the lpips layout."""
    root = tmp_path_factory.mktemp("lpips")
    torch.manual_seed(0)
    model = Perceptual()
    vgg = {f"features.{k}": v.clone() for k, v in model.features.state_dict().items()}
    save_file(vgg, root / "vgg16.safetensors")
    lin = {
        f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1)
        for i, c in enumerate((64, 128, 256, 512, 512))
    }
    torch.save(lin, root / "lpips_vgg.pth")
    return [root / "vgg16.safetensors", root / "lpips_vgg.pth"]


def test_perceptual_loader_accepts_torchvision_and_lpips_layouts(perceptual_files, tmp_path):
    model = Perceptual.from_files(perceptual_files)
    assert model.learned_lin
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.allclose(model(x, x), torch.zeros(2), atol=1e-6)
    assert (model(x, x.flip(-1)) > 0).all()
    # the taming-transformers layout (net.sliceK.N.*) gives the same network
    vgg = load_file(perceptual_files[0])
    taming = {}
    for key, value in vgg.items():
        index = int(key.split(".")[1])
        k = next(
            i
            for i, (a, b) in enumerate(((0, 4), (4, 9), (9, 16), (16, 23), (23, 30)))
            if a <= index < b
        )
        taming[f"net.slice{k + 1}.{index}.{key.split('.')[2]}"] = value
    save_file(taming, tmp_path / "taming.safetensors")
    plain = Perceptual.from_files([tmp_path / "taming.safetensors"])
    assert not plain.learned_lin
    assert torch.equal(plain.features[0].weight, model.features[0].weight)
    with pytest.raises(PerceptualWeightsError, match="lack the VGG16"):
        Perceptual.from_files([perceptual_files[1]])


# --------------------------------------------------------------------------- stage 1
def _guider_args(base, data, out, *extra) -> list[str]:
    return [
        "--base", str(base), "--data", str(data), "--out", str(out), "--cpu",
        "--workers", "0", "--no-progress", "--batch-size", "2", "--lr", "1e-4",
        "--log-every", "1", *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def guider_run(base, photos, tmp_path_factory) -> Path:
    """Four guider steps with checkpoints every 2 steps, EMA and a validation sheet."""
    out = tmp_path_factory.mktemp("guider") / "run"
    args = _guider_args(
        base,
        photos,
        out,
        "--max-steps",
        "4",
        "--checkpoint-every",
        "2",
        "--ema-decay",
        "0.9",
        "--validate-every",
        "0",
        "--num-val",
        "2",
        "--val-steps",
        "2",
        "--grad-accum",
        "2",
    )
    assert train_guider.main(args) == 0
    return out


def test_guider_stage_trains_with_finite_loss_and_writes_its_outputs(guider_run):
    records = [json.loads(line) for line in (guider_run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    assert all(np.isfinite(r["loss"]) and r["lr"] == 1e-4 for r in records)
    assert (guider_run / "config.json").is_file()
    assert (guider_run / "diffusion_pytorch_model.safetensors").is_file()
    sheet = Image.open(guider_run / "validation" / "final.png")
    assert sheet.width == 5 * 160 and sheet.height == 16 + 2 * 160
    log = (guider_run / "train_guider.log").read_text()
    assert "step 4 loss" in log and "EMA weights" in log
    info = json.loads((guider_run / "training_info.json").read_text())
    assert info["steps"] == 4 and info["samples_seen"] == 16 and info["native_size"] == 32


def test_guider_resumes_bit_identically(guider_run, base, photos, tmp_path):
    out = tmp_path / "resumed"
    (out / "checkpoints").mkdir(parents=True)
    shutil.copytree(
        guider_run / "checkpoints" / "step-00000002", out / "checkpoints" / "step-00000002"
    )
    args = _guider_args(
        base,
        photos,
        out,
        "--max-steps",
        "4",
        "--checkpoint-every",
        "2",
        "--ema-decay",
        "0.9",
        "--validate-every",
        "0",
        "--num-val",
        "2",
        "--val-steps",
        "2",
        "--grad-accum",
        "2",
    )
    assert train_guider.main(args) == 0
    assert "resumed from" in (out / "train_guider.log").read_text()
    for stem in ("guider", "ema"):
        a = load_file(guider_run / "checkpoints" / "step-00000004" / f"{stem}.safetensors")
        b = load_file(out / "checkpoints" / "step-00000004" / f"{stem}.safetensors")
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), stem
    final_a = load_file(guider_run / "diffusion_pytorch_model.safetensors")
    final_b = load_file(out / "diffusion_pytorch_model.safetensors")
    assert all(torch.equal(final_a[k], final_b[k]) for k in final_a)


def test_guider_overfits_four_photos(base, four_photos, tmp_path):
    out = tmp_path / "overfit"
    args = _guider_args(
        base,
        four_photos,
        out,
        "--max-steps",
        "60",
        "--resolution",
        "16",
        "--lr",
        "2e-3",
        "--checkpoint-every",
        "0",
        "--num-val",
        "0",
        "--log-every",
        "10",
        "--max-grad-norm",
        "0",
        "--p-no-hints",
        "1",
        "--p-slic-hints",
        "0",
        "--p-point-hints",
        "0",
    )
    assert train_guider.main(args) == 0
    losses = [json.loads(line)["loss"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(losses) == 6
    assert losses[-1] < 0.5 * losses[0], losses


# --------------------------------------------------------------------------- stage 2
def _decoder_args(base, data, out, *extra) -> list[str]:
    return [
        "--base", str(base), "--data", str(data), "--out", str(out), "--cpu",
        "--workers", "0", "--no-progress", "--batch-size", "2", "--log-every", "1", *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def decoder_run(base, photos, perceptual_files, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("decoder") / "run"
    args = _decoder_args(
        base,
        photos,
        out,
        "--max-steps",
        "4",
        "--checkpoint-every",
        "2",
        "--disc-start",
        "1",
        "--perceptual-weights",
        *map(str, perceptual_files),
        "--num-val",
        "2",
        "--validate-every",
        "0",
        "--lr",
        "1e-4",
    )
    assert train_decoder.main(args) == 0
    return out


def test_decoder_stage_trains_with_all_loss_terms(decoder_run):
    records = [
        json.loads(line) for line in (decoder_run / "metrics.jsonl").read_text().splitlines()
    ]
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    for r in records:
        assert all(np.isfinite(r[k]) for k in ("loss", "l1", "perceptual"))
    # the discriminator starts after step 1: adaptive weight and both GAN losses appear
    assert "d_weight" not in records[0]
    assert all(np.isfinite(r["d_weight"]) and r["d_weight"] >= 0 for r in records[1:])
    assert all(np.isfinite(r["d_loss"]) and np.isfinite(r["g_adv"]) for r in records[1:])
    log = (decoder_run / "train_decoder.log").read_text()
    assert "learned LPIPS weights" in log
    assert (decoder_run / "diffusion_pytorch_model.safetensors").is_file()
    assert (decoder_run / "validation" / "final.png").is_file()


def test_decoder_resumes_bit_identically(decoder_run, base, photos, perceptual_files, tmp_path):
    out = tmp_path / "resumed"
    (out / "checkpoints").mkdir(parents=True)
    shutil.copytree(
        decoder_run / "checkpoints" / "step-00000002", out / "checkpoints" / "step-00000002"
    )
    args = _decoder_args(
        base,
        photos,
        out,
        "--max-steps",
        "4",
        "--checkpoint-every",
        "2",
        "--disc-start",
        "1",
        "--perceptual-weights",
        *map(str, perceptual_files),
        "--num-val",
        "2",
        "--validate-every",
        "0",
        "--lr",
        "1e-4",
    )
    assert train_decoder.main(args) == 0
    for stem in ("gray_encoder", "discriminator"):
        a = load_file(decoder_run / "checkpoints" / "step-00000004" / f"{stem}.safetensors")
        b = load_file(out / "checkpoints" / "step-00000004" / f"{stem}.safetensors")
        assert all(torch.equal(a[k], b[k]) for k in a), stem


def test_decoder_overfits_four_photos_and_says_when_perceptual_is_off(
    base, four_photos, tmp_path, caplog
):
    from diffusers import AutoencoderKL

    from piggydesk.models.lightness_decoder import GrayEncoder, LightnessAwareDecoder
    from piggydesk.training.common import validation_samples

    out = tmp_path / "overfit"
    args = _decoder_args(
        base,
        four_photos,
        out,
        "--max-steps",
        "60",
        "--lr",
        "1e-2",
        "--no-disc",
        "--checkpoint-every",
        "0",
        "--num-val",
        "0",
        "--log-every",
        "10",
        "--max-grad-norm",
        "0",
    )
    with caplog.at_level(logging.WARNING):
        assert train_decoder.main(args) == 0
    assert "perceptual term" in caplog.text and "OFF" in caplog.text
    # reconstruction error on the four photos: the plain VAE decoder vs the trained one
    vae = AutoencoderKL.from_pretrained(base / "vae")
    samples = validation_samples(four_photos, sorted(p.name for p in four_photos.iterdir()), 32, 0)
    x = torch.from_numpy(np.stack([s["rgb"] for s in samples])).permute(0, 3, 1, 2) * 2 - 1
    gray = torch.from_numpy(np.stack([s["gray_rgb"][None, ..., 0] for s in samples])) * 2 - 1
    with torch.no_grad():
        z = vae.encode(x).latent_dist.mode()
        plain = (vae.decode(z).sample - x).abs().mean()
        trained = LightnessAwareDecoder(vae, GrayEncoder.from_pretrained(out))(z, gray)
        trained = (trained - x).abs().mean()
    assert trained < 0.8 * plain, (float(plain), float(trained))


# --------------------------------------------------------------------------- bundle
def test_trained_outputs_assemble_into_a_bundle_the_engine_runs(
    base, guider_run, decoder_run, tmp_path
):
    bundle = assemble_bundle(
        base, tmp_path / "bundle", guider_dir=guider_run, decoder_dir=decoder_run
    )
    manifest = json.loads((bundle / "piggydesk.json").read_text())
    assert {"guider", "gray_encoder"} <= set(manifest["components"])
    engine = registry.create_engine("piggyback", device="cpu", model_path=bundle)
    request = ColorizeRequest(lightness=gradient_lightness(), steps=2, seed=1)
    variant = engine.colorize(request)[0]
    assert variant.settings.mode == "paper guider"
    assert variant.rgb.shape == (*request.lightness.shape, 3)
    assert np.isfinite(variant.rgb).all()
    assert np.abs(rgb_to_lab(variant.rgb)[..., 0] - request.lightness).max() < 0.5


def test_decoder_gradient_checkpointing_and_bf16_train_the_same_model(base, four_photos, tmp_path):
    runs = {}
    for name, extra in (("plain", []), ("ckpt", ["--gradient-checkpointing"])):
        out = tmp_path / name
        args = _decoder_args(
            base,
            four_photos,
            out,
            "--max-steps",
            "2",
            "--lr",
            "1e-3",
            "--disc-start",
            "1",
            "--checkpoint-every",
            "0",
            "--num-val",
            "0",
            *extra,
        )
        assert train_decoder.main(args) == 0
        runs[name] = load_file(out / "diffusion_pytorch_model.safetensors")
    for key, value in runs["plain"].items():
        torch.testing.assert_close(runs["ckpt"][key], value, rtol=1e-4, atol=1e-6)
    out = tmp_path / "bf16"
    args = _decoder_args(
        base,
        four_photos,
        out,
        "--max-steps",
        "2",
        "--mixed-precision",
        "bf16",
        "--checkpoint-every",
        "0",
        "--num-val",
        "1",
        "--disc-start",
        "1",
    )
    assert train_decoder.main(args) == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["loss"]) for r in records)


def test_an_unreadable_photo_is_skipped_not_fatal(four_photos, tmp_path, caplog):
    data = tmp_path / "data"
    shutil.copytree(four_photos, data)
    (data / "broken.jpg").write_bytes(b"not a jpeg at all")
    ds = build_dataset(data, 32, hints=None)
    broken = ds.images.index("broken.jpg")
    k = next(k for k in range(50) if ds.photo_index(k) == broken)
    with caplog.at_level(logging.WARNING):
        item = ds[k]
    assert item["path"] != "broken.jpg" and "broken.jpg" in caplog.text
