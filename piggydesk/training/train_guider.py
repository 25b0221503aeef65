"""Stage 1 of the piggyback recipe: train the latent diffusion guider (Liu et al. 2023, Eq. 3).

    L = E_{E(x), eps ~ N(0,1), t} || eps - F(eps_theta, z_t, t, text, I_g, I_h) ||^2       (Eq. 3)

The base Stable Diffusion UNet eps_theta, the VAE and the text encoder are frozen; the guider
``DiffusionGuider`` (the hint/gray encoder E_g, the UNet replica with its widened input layer
and the Eq. 2 fusions) is trained with the epsilon-prediction MSE (the velocity target if the
base model is a v-prediction model). Training data and hints follow section 4.1 (see
``piggyback_data`` and ``slic_hints``).

    python -m piggydesk.training.train_guider --base SD_DIR --data DIR --out OUT \\
        [--captions FILE] [--max-steps N] [--batch-size B] [--grad-accum K] \\
        [--mixed-precision fp16|bf16|no] [--gradient-checkpointing] [--ema-decay 0.9999] ...

``OUT`` receives the trained guider (``config.json`` + ``diffusion_pytorch_model.safetensors``,
what ``piggydesk models assemble --guider OUT`` takes), the log ``train_guider.log``,
``metrics.jsonl``, contact sheets in ``OUT/validation`` and resumable checkpoints in
``OUT/checkpoints`` (a rerun with the same ``--out`` resumes from the newest one).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from piggydesk.logging_setup import close_logging, setup_logging
from piggydesk.training import common
from piggydesk.training.piggyback_data import (
    CAPTION_DROPOUT,
    CounterSampler,
    DataError,
    build_dataset,
    collate,
)
from piggydesk.training.slic_hints import HintConfig

logger = logging.getLogger(__name__)

LOG_NAME = "train_guider"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m piggydesk.training.train_guider",
        description="Train the piggyback diffusion guider (stage 1, Eq. 3 of Liu et al. 2023).",
    )
    p.add_argument("--base", required=True, type=Path, help="diffusers SD 1.x model folder")
    p.add_argument("--data", required=True, type=Path, help="folder of colour photos")
    p.add_argument(
        "--out", required=True, type=Path, help="output folder (resumes if it has checkpoints)"
    )
    p.add_argument(
        "--captions",
        type=Path,
        help="JSON {relative path: caption(s)} (default DATA/captions.json)",
    )
    p.add_argument(
        "--imagenet-labels", type=Path, help="ImageNet synset label file -> 'a photo of a {label}'"
    )
    common.add_stage_arguments(p)
    p.add_argument("--caption-dropout", type=float, default=CAPTION_DROPOUT)
    p.add_argument("--p-no-hints", type=float, default=0.25, help="share of samples without hints")
    p.add_argument("--p-slic-hints", type=float, default=0.5, help="share with SLIC-region hints")
    p.add_argument(
        "--p-point-hints", type=float, default=0.25, help="share with clicked-point hints"
    )
    p.add_argument("--val-steps", type=int, default=20, help="denoising steps for validation")
    return p


@dataclass
class Frozen:
    """The frozen Stable Diffusion parts and what derives from them."""

    vae: torch.nn.Module
    text_encoder: torch.nn.Module
    tokenizer: object
    unet: torch.nn.Module
    noise_scheduler: object
    native_size: int


def load_base(base: Path) -> Frozen:
    """The base model's components from a diffusers folder (offline, safetensors preferred)."""
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    if not (base / "unet").is_dir() or not (base / "vae").is_dir():
        raise DataError(
            f"{base} is not a diffusers Stable Diffusion folder (it needs unet/, vae/, "
            "text_encoder/, tokenizer/ and scheduler/)."
        )
    # local safetensors only, as everywhere in PiggyDesk (no downloads, no unpickling)
    offline = {"local_files_only": True}
    weights = {"use_safetensors": True, **offline}
    vae = AutoencoderKL.from_pretrained(base, subfolder="vae", **weights)
    unet = UNet2DConditionModel.from_pretrained(base, subfolder="unet", **weights)
    text_encoder = CLIPTextModel.from_pretrained(base, subfolder="text_encoder", **weights)
    tokenizer = CLIPTokenizer.from_pretrained(base, subfolder="tokenizer", **offline)
    noise_scheduler = DDPMScheduler.from_pretrained(base, subfolder="scheduler", **offline)
    vae_factor = 2 ** (len(vae.config.block_out_channels) - 1)
    native = int(unet.config.sample_size) * vae_factor
    return Frozen(vae, text_encoder, tokenizer, unet, noise_scheduler, native)


def encode_text(frozen: Frozen, captions: Sequence[str], device: torch.device) -> torch.Tensor:
    tok = frozen.tokenizer(
        list(captions),
        padding="max_length",
        max_length=frozen.tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    )
    return frozen.text_encoder(tok.input_ids.to(device), return_dict=False)[0]


@torch.no_grad()
def sample_latents(
    frozen: Frozen,
    model: torch.nn.Module,
    hint_features: torch.Tensor,
    text: torch.Tensor,
    steps: int,
    seed: int,
) -> torch.Tensor:
    """Plain DDIM sampling with the piggybacked UNet (no CFG), for validation sheets."""
    from diffusers import DDIMScheduler

    scheduler = DDIMScheduler.from_config(frozen.noise_scheduler.config)
    scheduler.set_timesteps(steps, device=hint_features.device)
    b, _, h, w = hint_features.shape
    gen = torch.Generator("cpu").manual_seed(seed)
    c = int(frozen.unet.config.in_channels)
    latents = torch.randn((b, c, h, w), generator=gen).to(hint_features.device, text.dtype)
    latents = latents * scheduler.init_noise_sigma
    for t in scheduler.timesteps:
        inp = scheduler.scale_model_input(latents, t)
        pred = model(inp, t, text, hint_features)
        latents = scheduler.step(pred, t, latents).prev_sample
    return latents


@torch.no_grad()
def validate(
    frozen: Frozen,
    guider: torch.nn.Module,
    samples: list[dict],
    device: torch.device,
    weight_dtype: torch.dtype,
    steps: int,
    seed: int,
    path: Path,
) -> Path:
    """Colorize the validation photos without and with hints; write a contact sheet PNG."""
    from piggydesk.core.color import lab_to_rgb, rgb_to_lab
    from piggydesk.models.fusion import PiggybackedUNet
    from piggydesk.models.hint_encoder import HintEncoder

    was_training = guider.training
    guider.eval()
    model = PiggybackedUNet(frozen.unet, guider)
    autocast = torch.autocast(
        device.type, dtype=weight_dtype, enabled=weight_dtype != torch.float32
    )
    rows = []
    text = encode_text(frozen, [""] * len(samples), device).to(weight_dtype)
    gray = torch.from_numpy(np.stack([s["gray_rgb"][None, ..., 0] for s in samples])) * 2 - 1
    outputs = {}
    for label, with_hints in (("no hints", False), ("hints", True)):
        ab = torch.from_numpy(np.stack([s["hint_ab"] for s in samples]))
        mask = torch.from_numpy(np.stack([s["hint_mask"] for s in samples]))
        if not with_hints:
            ab, mask = torch.zeros_like(ab), torch.zeros_like(mask)
        hint_in = HintEncoder.prepare_input(gray, ab, mask).to(device)
        with autocast:
            feats = guider.encode_hints(hint_in).to(weight_dtype)
            latents = sample_latents(frozen, model, feats, text, steps, seed)
        latents = latents / frozen.vae.config.scaling_factor
        images = frozen.vae.decode(latents.to(frozen.vae.dtype), return_dict=False)[0]
        outputs[label] = ((images.float().clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).cpu().numpy()
    for i, s in enumerate(samples):
        row = [
            s["gray_rgb"],
            common.hint_overlay(s["gray_rgb"], s["hint_ab"], s["hint_mask"], s["lightness"]),
        ]
        for label in ("no hints", "hints"):
            decoded = outputs[label][i]
            ab = rgb_to_lab(decoded)[..., 1:]  # keep the input's lightness exactly
            row.append(lab_to_rgb(np.concatenate([s["lightness"][..., None], ab], axis=-1)))
        row.append(s["rgb"])
        rows.append(row)
    sheet = common.contact_sheet(rows, ["gray", "hints", "no hints", "with hints", "truth"])
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    guider.train(was_training)
    logger.info("validation sheet: %s", path)
    return path


def train(args: argparse.Namespace) -> Path:
    """Run (or resume) stage 1; returns the output folder holding the trained guider."""
    from piggydesk.models.fusion import PiggybackedUNet
    from piggydesk.models.guider import DiffusionGuider
    from piggydesk.models.hint_encoder import HintEncoder

    out: Path = args.out
    setup_logging(out / f"{LOG_NAME}.log", console=True)
    resume_from = None if args.no_resume else common.latest_checkpoint(out)
    if args.no_resume and common.latest_checkpoint(out) is not None:
        raise DataError(f"{out} already holds checkpoints; remove them or drop --no-resume.")

    accelerator = common.make_accelerator(args.mixed_precision, args.cpu)
    device = accelerator.device
    weight_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(
        args.mixed_precision, torch.float32
    )
    common.seed_everything(args.seed)

    frozen = load_base(args.base)
    size = int(args.resolution or frozen.native_size)
    guider = DiffusionGuider.from_base(frozen.unet, frozen.vae)
    guider.check_compatible(frozen.unet)
    for module in (frozen.vae, frozen.text_encoder, frozen.unet):
        module.requires_grad_(False)
        module.eval()
        module.to(device)
        if weight_dtype != torch.float32:
            module.to(weight_dtype)
    guider.to(device)
    guider.train()
    if args.gradient_checkpointing:
        n = common.enable_checkpointing(guider) + common.enable_checkpointing(frozen.unet)
        logger.info("gradient checkpointing on (%d modules)", n)
    model = PiggybackedUNet(frozen.unet, guider)

    val_root, val_rels = common.pick_validation(args.data, args.val_data, args.num_val)
    exclude = common.held_out(args.data, args.val_data, val_rels)
    hints = HintConfig(
        p_none=args.p_no_hints, p_slic=args.p_slic_hints, p_points=args.p_point_hints
    )
    dataset = build_dataset(
        args.data,
        size,
        captions_file=args.captions,
        labels_file=args.imagenet_labels,
        hints=hints,
        seed=args.seed,
        caption_dropout=args.caption_dropout,
        max_zoom=args.max_zoom,
        exclude=exclude,
    )
    val_samples = common.validation_samples(val_root, val_rels, size, args.seed)

    params = [p for p in guider.parameters() if p.requires_grad]
    named = {n: p for n, p in guider.named_parameters() if p.requires_grad}
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)
    optimizer = accelerator.prepare(optimizer)
    ema = common.EMA(named, args.ema_decay) if args.ema_decay > 0 else None
    generator = torch.Generator(device=device).manual_seed(args.seed)
    logger.info(
        "stage 1 (guider): %d trainable parameters, native size %d, batch %d x %d accum, "
        "lr %g, mixed precision %s, device %s",
        common.count_parameters(params),
        size,
        args.batch_size,
        args.grad_accum,
        args.lr,
        args.mixed_precision,
        device,
    )

    run = common.RunState()
    if resume_from is not None:
        weights = {"guider": guider}
        if ema is not None:
            weights["ema"] = ema
        run = common.load_checkpoint(
            resume_from, weights, {"guider": optimizer}, accelerator.scaler, generator
        )

    micro = args.batch_size
    per_step = micro * args.grad_accum
    remaining = max(args.max_steps - run.step, 0)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=micro,
        sampler=CounterSampler(run.samples_seen, remaining * per_step),
        num_workers=args.workers,
        collate_fn=collate,
        drop_last=True,
    )
    metrics_path = out / "metrics.jsonl"
    timer = common.StepTimer()
    window: list[float] = []
    last_loss = float("nan")
    progress = None
    if not args.no_progress:
        from tqdm.auto import tqdm

        progress = tqdm(total=args.max_steps, initial=run.step, desc="guider", dynamic_ncols=True)

    vae_scale = frozen.vae.config.scaling_factor
    n_train_t = int(frozen.noise_scheduler.config.num_train_timesteps)
    prediction_type = frozen.noise_scheduler.config.prediction_type
    accum_loss = 0.0
    micro_index = 0
    for batch in loader:
        pixel = batch["pixel_values"].to(device, weight_dtype)
        with torch.no_grad():
            latents = frozen.vae.encode(pixel).latent_dist.sample(generator) * vae_scale
            text = encode_text(frozen, batch["caption"], device)
        noise = torch.randn(latents.shape, generator=generator, device=device, dtype=latents.dtype)
        t = torch.randint(0, n_train_t, (latents.shape[0],), generator=generator, device=device)
        noisy = frozen.noise_scheduler.add_noise(latents, noise, t)
        if prediction_type == "v_prediction":
            target = frozen.noise_scheduler.get_velocity(latents, noise, t)
        else:
            target = noise
        hint_in = HintEncoder.prepare_input(
            batch["gray"].to(device), batch["hint_ab"].to(device), batch["hint_mask"].to(device)
        )
        with accelerator.autocast():
            feats = guider.encode_hints(hint_in)
            pred = model(noisy, t, text, feats)
            loss = F.mse_loss(pred.float(), target.float())  # Eq. 3
        accelerator.backward(loss / args.grad_accum)
        accum_loss += loss.item() / args.grad_accum
        micro_index += 1
        if micro_index < args.grad_accum:
            continue
        micro_index = 0
        lr = args.lr * min(1.0, (run.step + 1) / max(args.lr_warmup_steps, 1))
        for group in optimizer.param_groups:
            group["lr"] = lr
        if args.max_grad_norm > 0:
            accelerator.clip_grad_norm_(params, args.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        run.step += 1
        run.samples_seen += per_step
        if ema is not None:
            ema.update(named, run.step)
        common.check_finite(accum_loss, run.step)
        last_loss = accum_loss
        window.append(accum_loss)
        accum_loss = 0.0
        timer.tick()
        if progress is not None:
            progress.update(1)
            progress.set_postfix(loss=f"{last_loss:.4f}")
        if run.step % args.log_every == 0 or run.step == args.max_steps:
            record = {
                "step": run.step,
                "loss": float(np.mean(window)),
                "lr": lr,
                "sec_per_step": timer.lap(),
                "samples_seen": run.samples_seen,
            }
            if torch.cuda.is_available() and device.type == "cuda":
                record["gpu_mem_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
            logger.info(
                "step %d loss %.5f lr %.2e %.3f s/step",
                record["step"],
                record["loss"],
                lr,
                record["sec_per_step"],
            )
            with metrics_path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
            window = []
        if args.checkpoint_every > 0 and run.step % args.checkpoint_every == 0:
            save(out, run, guider, ema, optimizer, accelerator, generator, args.keep_checkpoints)
        if val_samples and args.validate_every > 0 and run.step % args.validate_every == 0:
            validate(
                frozen,
                guider,
                val_samples,
                device,
                weight_dtype,
                args.val_steps,
                args.seed,
                out / "validation" / f"step-{run.step:08d}.png",
            )
    if progress is not None:
        progress.close()

    if run.step < args.max_steps:
        raise DataError("The data loader stopped early; the dataset may have become unreadable.")
    if args.checkpoint_every > 0 and run.step % args.checkpoint_every != 0:
        save(out, run, guider, ema, optimizer, accelerator, generator, args.keep_checkpoints)
    if ema is not None:
        ema.copy_to(named)
        logger.info("the saved guider holds the EMA weights (decay %g)", args.ema_decay)
    guider.save_pretrained(out, safe_serialization=True)
    if val_samples:
        validate(
            frozen,
            guider,
            val_samples,
            device,
            weight_dtype,
            args.val_steps,
            args.seed,
            out / "validation" / "final.png",
        )
    info = {
        "stage": "guider",
        "steps": run.step,
        "samples_seen": run.samples_seen,
        "last_loss": last_loss,
        "base": str(args.base),
        "native_size": size,
        "ema_decay": args.ema_decay,
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    (out / "training_info.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    logger.info("guider saved to %s (%d steps, last loss %.5f)", out, run.step, last_loss)
    return out


def save(out, run, guider, ema, optimizer, accelerator, generator, keep) -> Path:
    weights = {"guider": guider.state_dict()}
    if ema is not None:
        weights["ema"] = ema.state_dict()
    return common.save_checkpoint(
        out, run, weights, {"guider": optimizer}, accelerator.scaler, generator, keep
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        train(args)
    except (DataError, FloatingPointError, ValueError, OSError) as exc:
        logger.error("%s", exc)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        close_logging()
    return 0


if __name__ == "__main__":
    sys.exit(main())
