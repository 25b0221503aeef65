"""Stage 2 of the piggyback recipe: train the lightness-aware decoder (Liu et al. 2023, Eq. 4-5).

    x_rec = D'(E(x), I_g)      D' = frozen VAE decoder + G's shortcuts (Eq. 4)
    L = L1(x_rec, x) + 0.1 * L_p(x_rec, x) + lambda_d * L_d                             (Eq. 5)

The VAE encoder E and decoder D are frozen; the grayscale encoder G and its zero-initialised
1x1 convolutions (``GrayEncoder``) learn to restore the detail the latent loses. ``L_p`` is
LPIPS on VGG16 (weights from ``--perceptual-weights``; without them the term is off and the log
says so). ``L_d`` is the hinge-loss PatchGAN generator term with the adaptive weight of
Esser et al. 2021, computed at the last decoder layer (``vae.decoder.conv_out``), switched on
from ``--disc-start``; the discriminator trains from that step too.

    python -m piggydesk.training.train_decoder --base SD_DIR --data DIR --out OUT \\
        [--perceptual-weights vgg16.safetensors [lpips_lin.pth]] [--disc-start 5000] ...

``OUT`` receives the trained gray encoder (what ``piggydesk models assemble --decoder OUT``
takes), ``train_decoder.log``, ``metrics.jsonl``, contact sheets and ``OUT/checkpoints``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from piggydesk.logging_setup import close_logging, setup_logging
from piggydesk.training import common
from piggydesk.training.decoder_losses import (
    PatchDiscriminator,
    Perceptual,
    PerceptualWeightsError,
    adaptive_weight,
    hinge_d_loss,
)
from piggydesk.training.piggyback_data import CounterSampler, DataError, build_dataset, collate

logger = logging.getLogger(__name__)

LOG_NAME = "train_decoder"
PERCEPTUAL_WEIGHT = 0.1  # lambda_p of Eq. 5


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m piggydesk.training.train_decoder",
        description="Train the piggyback lightness-aware decoder (stage 2, Eq. 5 of Liu et al. 2023).",
    )
    p.add_argument("--base", required=True, type=Path, help="diffusers SD 1.x model folder")
    p.add_argument("--data", required=True, type=Path, help="folder of colour photos")
    p.add_argument(
        "--out", required=True, type=Path, help="output folder (resumes if it has checkpoints)"
    )
    p.add_argument(
        "--perceptual-weights",
        type=Path,
        nargs="+",
        help="local VGG16 / LPIPS weight file(s); without them the perceptual term is off",
    )
    p.add_argument("--perceptual-weight", type=float, default=PERCEPTUAL_WEIGHT, help="lambda_p")
    p.add_argument("--disc-start", type=int, default=5000, help="step the discriminator starts at")
    p.add_argument("--disc-weight", type=float, default=1.0, help="factor on the adaptive weight")
    p.add_argument("--disc-lr", type=float, help="discriminator learning rate (default --lr)")
    p.add_argument("--no-disc", action="store_true", help="no adversarial term at all")
    common.add_stage_arguments(p)
    return p


def load_vae(base: Path):
    from diffusers import AutoencoderKL, UNet2DConditionModel

    if not (base / "vae").is_dir():
        raise DataError(f"{base} is not a diffusers Stable Diffusion folder (it has no vae/).")
    vae = AutoencoderKL.from_pretrained(
        base, subfolder="vae", use_safetensors=True, local_files_only=True
    )
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    native = int(vae.config.sample_size)
    if (base / "unet" / "config.json").is_file():
        native = int(UNet2DConditionModel.load_config(base / "unet")["sample_size"]) * factor
    return vae, native


@torch.no_grad()
def validate(vae, decoder, samples: list[dict], device, path: Path) -> Path:
    """Plain VAE reconstruction vs lightness-aware reconstruction, as a contact sheet."""
    was_training = decoder.gray_encoder.training
    decoder.gray_encoder.eval()
    x = torch.from_numpy(np.stack([s["rgb"] for s in samples])).permute(0, 3, 1, 2) * 2 - 1
    gray = torch.from_numpy(np.stack([s["gray_rgb"][None, ..., 0] for s in samples])) * 2 - 1
    x, gray = x.to(device, vae.dtype), gray.to(device)
    z = vae.encode(x).latent_dist.mode()
    plain = vae.decode(z, return_dict=False)[0]
    aware = decoder(z, gray)

    def to_np(t):
        return ((t.float().clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).cpu().numpy()

    plain_np, aware_np = to_np(plain), to_np(aware)
    rows = [[s["gray_rgb"], plain_np[i], aware_np[i], s["rgb"]] for i, s in enumerate(samples)]
    sheet = common.contact_sheet(rows, ["gray", "VAE decode", "lightness-aware", "truth"])
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    decoder.gray_encoder.train(was_training)
    logger.info("validation sheet: %s", path)
    return path


def train(args: argparse.Namespace) -> Path:
    """Run (or resume) stage 2; returns the output folder holding the trained gray encoder."""
    from piggydesk.models.lightness_decoder import (
        GrayEncoder,
        LightnessAwareDecoder,
        inject_lightness,
    )

    out: Path = args.out
    setup_logging(out / f"{LOG_NAME}.log", console=True)
    if args.no_resume and common.latest_checkpoint(out) is not None:
        raise DataError(f"{out} already holds checkpoints; remove them or drop --no-resume.")
    resume_from = None if args.no_resume else common.latest_checkpoint(out)

    accelerator = common.make_accelerator(args.mixed_precision, args.cpu)
    device = accelerator.device
    common.seed_everything(args.seed)

    vae, native = load_vae(args.base)
    size = int(args.resolution or native)
    gray_encoder = GrayEncoder.from_vae(vae)
    gray_encoder.check_compatible(vae)
    # The VAE stays in fp32 (autocast handles speed): the adaptive weight differentiates at
    # its last layer and fp16 weight gradients there would under/overflow.
    vae.to(device).eval()
    gray_encoder.to(device).train()
    decoder = LightnessAwareDecoder(vae, gray_encoder)  # freezes the whole VAE
    last_layer = vae.decoder.conv_out.weight
    use_disc = not args.no_disc
    if use_disc:
        # gradient *measured* here for lambda_d; never stepped (not in any optimiser)
        last_layer.requires_grad_(True)
    if args.gradient_checkpointing:
        n = common.enable_checkpointing(vae.decoder) + common.enable_checkpointing(gray_encoder)
        logger.info("gradient checkpointing on (%d modules)", n)

    perceptual = None
    if args.perceptual_weights:
        perceptual = Perceptual.from_files(args.perceptual_weights).to(device)
    else:
        logger.warning(
            "no --perceptual-weights given: the perceptual term (0.1 x LPIPS) of Eq. 5 is OFF; "
            "the decoder trains with L1 (+ adversarial) only"
        )
    discriminator = PatchDiscriminator().to(device).train() if use_disc else None

    val_root, val_rels = common.pick_validation(args.data, args.val_data, args.num_val)
    dataset = build_dataset(
        args.data,
        size,
        hints=None,
        seed=args.seed,
        caption_dropout=0.0,
        max_zoom=args.max_zoom,
        exclude=common.held_out(args.data, args.val_data, val_rels),
    )
    val_samples = common.validation_samples(val_root, val_rels, size, args.seed)

    params = [p for p in gray_encoder.parameters() if p.requires_grad]
    named = {n: p for n, p in gray_encoder.named_parameters() if p.requires_grad}
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)
    optimizers = {"gray_encoder": optimizer}
    d_params: list[torch.Tensor] = []
    if discriminator is not None:
        d_params = list(discriminator.parameters())
        optimizers["discriminator"] = torch.optim.AdamW(
            d_params, lr=args.disc_lr or args.lr, betas=(0.5, 0.9), weight_decay=0.0
        )
    names = list(optimizers)
    prepared = accelerator.prepare(*optimizers.values())
    prepared = prepared if isinstance(prepared, tuple) else (prepared,)
    optimizers = dict(zip(names, prepared))
    optimizer = optimizers["gray_encoder"]
    d_optimizer = optimizers.get("discriminator")
    ema = common.EMA(named, args.ema_decay) if args.ema_decay > 0 else None
    generator = torch.Generator(device=device).manual_seed(args.seed)
    logger.info(
        "stage 2 (lightness-aware decoder): %d trainable parameters in G, native size %d, "
        "batch %d x %d accum, lr %g, perceptual %s, discriminator %s, device %s",
        common.count_parameters(params),
        size,
        args.batch_size,
        args.grad_accum,
        args.lr,
        "on" if perceptual is not None else "OFF",
        f"from step {args.disc_start}" if use_disc else "off",
        device,
    )

    run = common.RunState()
    if resume_from is not None:
        weights: dict = {"gray_encoder": gray_encoder}
        if discriminator is not None:
            weights["discriminator"] = discriminator
        if ema is not None:
            weights["ema"] = ema
        run = common.load_checkpoint(
            resume_from, weights, optimizers, accelerator.scaler, generator
        )

    per_step = args.batch_size * args.grad_accum
    remaining = max(args.max_steps - run.step, 0)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=args.batch_size,
        sampler=CounterSampler(run.samples_seen, remaining * per_step),
        num_workers=args.workers,
        collate_fn=collate,
        drop_last=True,
    )
    progress = None
    if not args.no_progress:
        from tqdm.auto import tqdm

        progress = tqdm(total=args.max_steps, initial=run.step, desc="decoder", dynamic_ncols=True)

    def save() -> Path:
        weights = {"gray_encoder": gray_encoder.state_dict()}
        if discriminator is not None:
            weights["discriminator"] = discriminator.state_dict()
        if ema is not None:
            weights["ema"] = ema.state_dict()
        return common.save_checkpoint(
            out, run, weights, optimizers, accelerator.scaler, generator, args.keep_checkpoints
        )

    metrics_path = out / "metrics.jsonl"
    timer = common.StepTimer()
    window: dict[str, list[float]] = {}
    sums: dict[str, float] = {}
    micro_index = 0
    last_loss = float("nan")
    for batch in loader:
        x = batch["pixel_values"].to(device)
        gray = batch["gray"].to(device)
        disc_on = discriminator is not None and run.step >= args.disc_start
        with torch.no_grad():
            z = vae.encode(x).latent_dist.sample(generator)
        # D'(z, I_g) (Eq. 4), spelled out rather than via LightnessAwareDecoder.forward so that
        # G's residual hooks stay in place through the backward pass: with gradient
        # checkpointing the decoder's blocks are recomputed there and must see them again.
        with accelerator.autocast():
            residuals = gray_encoder(gray)
        with inject_lightness(vae.decoder, residuals):
            with accelerator.autocast():
                rec = vae.decode(z, return_dict=False)[0]
            rec = rec.float()
            l1 = (rec - x).abs().mean()
            rec_loss = l1
            terms = {"l1": l1.item()}
            if perceptual is not None:
                p_loss = perceptual(rec, x).mean()
                rec_loss = rec_loss + args.perceptual_weight * p_loss
                terms["perceptual"] = p_loss.item()
            loss = rec_loss
            if disc_on:
                g_loss = -discriminator(rec).mean()
                d_weight = adaptive_weight(rec_loss, g_loss, last_layer) * args.disc_weight
                loss = loss + d_weight * g_loss
                terms["g_adv"] = g_loss.item()
                terms["d_weight"] = d_weight.item()
            accelerator.backward(loss / args.grad_accum, inputs=params)
        terms["loss"] = loss.item()
        if disc_on:
            d_loss = hinge_d_loss(discriminator(x), discriminator(rec.detach()))
            accelerator.backward(d_loss / args.grad_accum, inputs=d_params)
            terms["d_loss"] = d_loss.item()
        for key, value in terms.items():
            sums[key] = sums.get(key, 0.0) + value / args.grad_accum
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
        if disc_on:
            d_optimizer.step()
        if d_optimizer is not None:
            d_optimizer.zero_grad(set_to_none=True)
        run.step += 1
        run.samples_seen += per_step
        if ema is not None:
            ema.update(named, run.step)
        common.check_finite(sums["loss"], run.step)
        last_loss = sums["loss"]
        for key, value in sums.items():
            window.setdefault(key, []).append(value)
        sums = {}
        timer.tick()
        if progress is not None:
            progress.update(1)
            progress.set_postfix(loss=f"{last_loss:.4f}")
        if run.step % args.log_every == 0 or run.step == args.max_steps:
            record = {"step": run.step, **{k: float(np.mean(v)) for k, v in window.items()}}
            record.update(lr=lr, sec_per_step=timer.lap(), samples_seen=run.samples_seen)
            if device.type == "cuda":
                record["gpu_mem_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
            logger.info(
                "step %d %s lr %.2e %.3f s/step",
                run.step,
                " ".join(f"{k} {record[k]:.5f}" for k in window),
                lr,
                record["sec_per_step"],
            )
            with metrics_path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
            window = {}
        if args.checkpoint_every > 0 and run.step % args.checkpoint_every == 0:
            save()
        if val_samples and args.validate_every > 0 and run.step % args.validate_every == 0:
            validate(
                vae, decoder, val_samples, device, out / "validation" / f"step-{run.step:08d}.png"
            )
    if progress is not None:
        progress.close()
    if run.step < args.max_steps:
        raise DataError("The data loader stopped early; the dataset may have become unreadable.")
    if args.checkpoint_every > 0 and run.step % args.checkpoint_every != 0:
        save()
    if ema is not None:
        ema.copy_to(named)
        logger.info("the saved gray encoder holds the EMA weights (decay %g)", args.ema_decay)
    gray_encoder.save_pretrained(out, safe_serialization=True)
    if val_samples:
        validate(vae, decoder, val_samples, device, out / "validation" / "final.png")
    info = {
        "stage": "decoder",
        "steps": run.step,
        "samples_seen": run.samples_seen,
        "last_loss": last_loss,
        "base": str(args.base),
        "native_size": size,
        "perceptual": bool(perceptual is not None),
        "discriminator_start": args.disc_start if use_disc else None,
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    (out / "training_info.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    logger.info("gray encoder saved to %s (%d steps, last loss %.5f)", out, run.step, last_loss)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        train(args)
    except (DataError, PerceptualWeightsError, FloatingPointError, ValueError, OSError) as exc:
        logger.error("%s", exc)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        close_logging()
    return 0


if __name__ == "__main__":
    sys.exit(main())
