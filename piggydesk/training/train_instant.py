"""Train the instant engine's network (``models.instant_net``) on a folder of colour photos.

Usage::

    python -m piggydesk.training.train_instant train --data ~/data/photos --run ~/runs/instant
    python -m piggydesk.training.train_instant train --data ... --run ... --resume
    python -m piggydesk.training.train_instant train --data ... --run ... \
        --init-from resources/models/instant
    python -m piggydesk.training.train_instant export --run ~/runs/instant \
        --out resources/models/instant [--checkpoint best]

``--data`` is a photo folder or a training pack (``training.pack``: one zip of small JPEGs,
balanced by content, with validation photos). ``--max-minutes 10 --resume`` runs the training
in pieces that each end with a checkpoint (e.g. 10-minute jobs on a borrowed GPU);
``--workers N`` makes the batches ahead in N processes (``batch_workers``), which a GPU needs.

Losses (per sample, on random multi-scale crops with simulated hints, ``point_hints``):

* regression: smooth-L1 (Huber) between predicted and true ab (Zhang et al. 2017, Eq. 3),
  optionally weighted per pixel by the class-rebalancing weight of the true colour raised to
  ``--reg-rebalance`` (pushes rare, saturated colours against the grey/sepia mean);
* classification: cross-entropy over the quantised ab bins at 1/4 resolution, weighted by the
  rebalancing weight of the true bin (Zhang et al. 2016, Eq. 2 and 4).

The run folder holds ``train.log``, ``metrics.jsonl`` (loss and validation scores),
``last.pt`` (written every ``--ckpt-minutes``: model, EMA, optimiser, step, all RNG states, so
``--resume`` continues exactly), ``best.pt`` (best validation score) and, at every validation,
``snapshots/ema_<step>.pt`` (the EMA weights alone, to export any of them later).

Sampling (``--sampling``): ``content`` (default) draws photos by ``photos.content_weights`` (a
third people, food and flowers a small share, no source above 12 %); ``sources`` balances
source folders only. The class-rebalancing prior (Zhang et al. 2016, Eq. 4) is recomputed from
the training photos weighted by how often each is drawn, so it matches what the net sees.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save

from piggydesk.core.atomic import atomic_write_bytes, open_atomic
from piggydesk.core.color import lab_to_rgb, rgb_to_lab
from piggydesk.logging_setup import close_logging, setup_logging
from piggydesk.models import ab_bins
from piggydesk.models.instant_net import InstantNet, InstantNetConfig, count_parameters
from piggydesk.training.batch_workers import BatchWorkers
from piggydesk.training.metrics import colourfulness, hue_hits, psnr
from piggydesk.training.pack import is_pack, load_pack
from piggydesk.training.photos import (
    SOURCE_CAP,
    BalancedCropSampler,
    PhotoCache,
    center_crop,
    content_weights,
    emphasise_sky_and_foliage,
)
from piggydesk.training.point_hints import HintSimulation, simulate_hints

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


@dataclass
class TrainConfig:
    batch: int = 16
    sizes: tuple[int, ...] = (128, 144, 160, 176)
    lr: float = 1.5e-3
    weight_decay: float = 1e-4
    warmup: int = 300
    schedule: str = "constant"  # or "cosine" (down to 5% at --steps)
    steps: int = 1_000_000
    ema: float = 0.999
    cls_weight: float = 0.5
    reg_rebalance: float = 0.5
    grad_clip: float = 2.0
    cache_side: int = 192
    val_count: int = 96
    val_size: int = 176
    val_every: int = 500
    log_every: int = 25
    ckpt_minutes: float = 5.0
    seed: int = 0
    p_none: float = 0.3
    sampling: str = "content"  # or "sources" (see photos.BalancedCropSampler)
    # Content sampling settings; set, they re-weight a pack too: "people=0.4,closeup=0.04,..."
    group_shares: str = ""
    source_cap: float = SOURCE_CAP
    min_scale: float = 0.55  # smallest crop, as a share of the photo's short side
    freeze_encoder: bool = False  # train only the decoder, context branch and heads
    freeze_bn: bool = False  # batch norm uses and keeps its running statistics (fine-tuning)
    # Zhang et al. 2016 Eq. 4 lambda: the share of the uniform distribution mixed into the prior;
    # lower rebalances harder (rare, saturated colours weigh more against common browns/greys)
    rebalance_lambda: float = 0.5
    # Inside each content group, draw a photo 1 + this x (its share of blue and green pixels)
    # times as often (photos.emphasise_sky_and_foliage); 0 = off
    sky_foliage_emphasis: float = 0.0


def _lab_batch(rgb_u8: np.ndarray) -> np.ndarray:
    """uint8 (B, H, W, 3) -> float32 Lab (B, 3, H, W)."""
    lab = rgb_to_lab(rgb_u8)
    return np.ascontiguousarray(lab.transpose(0, 3, 1, 2))


def class_histogram(
    cache: PhotoCache,
    rng: np.random.Generator,
    per_image: int = 400,
    photo_probs: np.ndarray | None = None,
) -> np.ndarray:
    """Counts of ab bins over a pixel sample of every cached training photo, each photo
    weighted by how often training draws it (``photo_probs``; uniform without)."""
    hist = np.zeros(ab_bins.num_bins(), dtype=np.float64)
    n = len(cache.images)
    for i, img in enumerate(cache.images):
        flat = img.reshape(-1, 3)
        idx = rng.integers(0, len(flat), size=min(per_image, len(flat)))
        ab = rgb_to_lab(flat[idx])[:, 1:]
        weight = 1.0 if photo_probs is None else float(photo_probs[i]) * n
        hist += weight * np.bincount(ab_bins.encode(ab), minlength=len(hist))
    return hist


class Trainer:
    """Holds the model, its EMA copy, the optimiser and the data; one ``step()`` per batch."""

    def __init__(
        self,
        train_cache: PhotoCache,
        val_cache: PhotoCache | None,
        run_dir: Path,
        cfg: TrainConfig,
        net_cfg: InstantNetConfig,
        device: torch.device,
    ) -> None:
        self.cfg = cfg
        self.net_cfg = net_cfg
        self.device = device
        self.run_dir = run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(cfg.seed)
        self.model = InstantNet(net_cfg).to(device)
        self.ema = InstantNet(net_cfg).to(device)
        self.ema.load_state_dict(self.model.state_dict())
        self.ema.eval()
        for p in self.ema.parameters():
            p.requires_grad_(False)
        if cfg.freeze_encoder:
            for module in self._encoder():
                for p in module.parameters():
                    p.requires_grad_(False)
        decay, no_decay = [], []
        for name, p in self.model.named_parameters():
            if not p.requires_grad:
                continue
            (no_decay if p.ndim <= 1 or "bn" in name else decay).append(p)
        self.opt = torch.optim.AdamW(
            [
                {"params": decay, "weight_decay": cfg.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=cfg.lr,
        )
        weights = None
        if cfg.sampling == "content" and (cfg.group_shares or cfg.source_cap != SOURCE_CAP):
            shares = {
                k.strip(): float(v)
                for k, v in (item.split("=") for item in cfg.group_shares.split(",") if item)
            }
            weights = content_weights(train_cache.entries, shares or None, cfg.source_cap)
        if cfg.sampling == "content" and cfg.sky_foliage_emphasis > 0:
            base = weights if weights is not None else train_cache.weights
            base = base if base is not None else content_weights(train_cache.entries)
            weights = emphasise_sky_and_foliage(
                train_cache.entries, train_cache.images, base, cfg.sky_foliage_emphasis
            )
        self.sampler = BalancedCropSampler(
            train_cache, min_scale=cfg.min_scale, sampling=cfg.sampling, weights=weights
        )
        self.rng = np.random.default_rng(cfg.seed)
        self.workers: BatchWorkers | None = None  # start_workers: batches made ahead
        self.hint_sim = HintSimulation(p_none=cfg.p_none)
        hist = class_histogram(
            train_cache, np.random.default_rng(cfg.seed + 1), photo_probs=self.sampler.photo_probs
        )
        self.class_weights = torch.from_numpy(
            ab_bins.rebalance_weights(hist, lam=cfg.rebalance_lambda)
        ).to(device)
        self.lookup = torch.from_numpy(ab_bins.grid_lookup_table()).to(device)
        self.precision = "fp32"  # or "bf16": autocast on the forward pass (a runtime choice)
        self.step_num = 0
        self.elapsed = 0.0  # training wall time over all sessions, seconds
        self.best_score = -math.inf
        self.val_batch = self._make_val_batch(val_cache) if val_cache is not None else None
        logger.info(
            "model: %d parameters; %d training photos in %d sources; %d validation crops",
            count_parameters(self.model),
            len(train_cache),
            len(self.sampler.sources),
            0 if self.val_batch is None else len(self.val_batch[0]),
        )
        for s, p in zip(self.sampler.sources, self.sampler.source_probs):
            logger.info("  source %-45s n=%5d p=%.3f", s, len(self.sampler.by_source[s]), p)
        logger.info("  content groups: %s", " ".join(
            f"{g}={p:.3f}" for g, p in sorted(self.sampler.group_shares().items())))

    def _encoder(self) -> list[torch.nn.Module]:
        m = self.model
        return [m.stem, m.down_convs, m.downs, m.hint_projs]

    # ----------------------------------------------------------------------------- data
    def _make_val_batch(self, val_cache: PhotoCache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = min(self.cfg.val_count, len(val_cache))
        order = np.random.default_rng(1234).permutation(len(val_cache))[:n]
        self.val_people = np.array([val_cache.entries[i].people for i in order], dtype=bool)
        rgb = np.stack([center_crop(val_cache.images[i], self.cfg.val_size) for i in order])
        lab = _lab_batch(rgb)
        rng = np.random.default_rng(4321)
        hint_sim = HintSimulation(p_none=0.0, p_geometric=1.0 / 10, max_points=10)
        hints = [simulate_hints(lab[i, 1:], rng, hint_sim) for i in range(n)]
        hab = np.stack([h[0] for h in hints])
        hmask = np.stack([h[1] for h in hints])
        return lab, hab, hmask

    def batch_arrays(self, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        """One batch drawn with ``rng``: Lab crops ``(B, 3, s, s)``, hint colours and mask."""
        size = int(self.cfg.sizes[int(rng.integers(0, len(self.cfg.sizes)))])
        rgb = self.sampler.batch(self.cfg.batch, size, rng)
        lab = _lab_batch(rgb)
        hints = [simulate_hints(lab[i, 1:], rng, self.hint_sim) for i in range(len(lab))]
        hab = np.stack([h[0] for h in hints])
        hmask = np.stack([h[1] for h in hints])
        return lab, hab, hmask

    def start_workers(self, count: int) -> None:
        """From now on the batches are made ahead by ``count`` processes, batch ``s`` from
        its own step's seed (``batch_workers``), instead of in the loop from ``self.rng``."""
        if count > 0:
            side = max(self.cfg.sizes)  # Lab (3), hint colours (2) and mask (1), float32
            self.workers = BatchWorkers(self.batch_arrays, count, self.cfg.seed,
                                        slot_bytes=self.cfg.batch * 6 * side * side * 4)

    def stop_workers(self) -> None:
        if self.workers is not None:
            self.workers.close()
            self.workers = None

    def _batch(self) -> tuple[torch.Tensor, ...]:
        if self.workers is not None:
            lab, hab, hmask = self.workers.batch(self.step_num)
        else:
            lab, hab, hmask = self.batch_arrays(self.rng)
        pin = self.device.type == "cuda"
        t = [torch.from_numpy(x) for x in (lab, hab, hmask)]
        t = [(x.pin_memory() if pin else x).to(self.device, non_blocking=pin) for x in t]
        return t[0][:, :1], t[0][:, 1:], t[1], t[2]

    # ----------------------------------------------------------------------------- loss
    def _bins(self, ab: torch.Tensor) -> torch.Tensor:
        n = self.lookup.shape[0]
        idx = torch.clamp(torch.round((ab + ab_bins.AB_RANGE) / ab_bins.GRID), 0, n - 1).long()
        return self.lookup[idx[:, 0], idx[:, 1]]

    def losses(self, model: InstantNet, L, ab, hab, hmask) -> dict[str, torch.Tensor]:
        out = model(L, hab, hmask)
        out.ab, out.logits = out.ab.float(), out.logits.float()  # losses in fp32 under autocast
        bins_full = self._bins(ab)
        w_pix = self.class_weights[bins_full] ** self.cfg.reg_rebalance
        huber = F.smooth_l1_loss(out.ab / 110.0, ab / 110.0, beta=0.02, reduction="none").sum(1)
        reg = (huber * w_pix).mean() * 10.0
        ab_q = F.avg_pool2d(ab, 4)
        target = self._bins(ab_q)
        ce = F.cross_entropy(out.logits, target, reduction="none")
        cls = (ce * self.class_weights[target]).mean()
        total = reg + self.cfg.cls_weight * cls
        return {"loss": total, "reg": reg, "cls": cls}

    def lr_at(self, step: int) -> float:
        cfg = self.cfg
        warm = min(1.0, (step + 1) / max(cfg.warmup, 1))
        if cfg.schedule == "cosine":
            t = min(step / max(cfg.steps, 1), 1.0)
            return cfg.lr * warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))
        return cfg.lr * warm

    def step(self) -> dict[str, float]:
        self.model.train()
        if self.cfg.freeze_encoder:  # frozen: its batch-norm statistics stay as they are too
            for module in self._encoder():
                module.eval()
        if self.cfg.freeze_bn:  # a scene branch grown onto loaded weights still learns its own
            for name, module in self.model.named_modules():
                if isinstance(module, torch.nn.BatchNorm2d) and not name.startswith("scene."):
                    module.eval()
        L, ab, hab, hmask = self._batch()
        for group in self.opt.param_groups:
            group["lr"] = self.lr_at(self.step_num)
        with torch.autocast(
            self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"
        ):
            parts = self.losses(self.model, L, ab, hab, hmask)
        self.opt.zero_grad(set_to_none=True)
        parts["loss"].backward()
        if self.cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.opt.step()
        self._update_ema()
        self.step_num += 1
        return {k: float(v.detach()) for k, v in parts.items()}

    @torch.no_grad()
    def _update_ema(self) -> None:
        d = min(self.cfg.ema, (1 + self.step_num) / (10 + self.step_num))
        for pe, pm in zip(self.ema.parameters(), self.model.parameters()):
            pe.mul_(d).add_(pm.detach(), alpha=1 - d)
        for be, bm in zip(self.ema.buffers(), self.model.buffers()):
            be.copy_(bm)

    # ----------------------------------------------------------------------------- validation
    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """PSNR / colourfulness on fixed validation crops, automatic and with ~10 hints, for the
        regression head (reg), the annealed mean (am) and their mean (mix, what the engine
        shows); automatic mix also per group (people / scenes) with the hue hit rates."""
        if self.val_batch is None:
            return {}
        lab, hab, hmask = self.val_batch
        truth = lab_to_rgb(lab.transpose(0, 2, 3, 1))
        self.ema.eval()
        res: dict[str, list[float]] = {}
        people = getattr(self, "val_people", np.zeros(len(lab), bool))
        for name, use_hints in (("k0", False), ("hints", True)):
            for start in range(0, len(lab), 16):
                sl = slice(start, start + 16)
                L = torch.from_numpy(lab[sl, :1]).to(self.device)
                h_ab = torch.from_numpy(hab[sl] if use_hints else np.zeros_like(hab[sl]))
                h_m = torch.from_numpy(hmask[sl] if use_hints else np.zeros_like(hmask[sl]))
                out = self.ema(L, h_ab.to(self.device), h_m.to(self.device))
                preds = {"reg": out.ab.float().cpu().numpy()}
                probs = torch.softmax(out.logits.float(), 1)
                am = ab_bins.annealed_mean(probs.cpu().numpy(), 0.38, axis=1)
                am = torch.from_numpy(am).permute(0, 3, 1, 2)
                preds["am"] = F.interpolate(
                    am, size=L.shape[-2:], mode="bilinear", align_corners=False
                ).numpy()
                preds["mix"] = 0.5 * (preds["reg"] + preds["am"])
                for mode, pab in preds.items():
                    lab_p = np.concatenate([lab[sl, :1], pab], 1).transpose(0, 2, 3, 1)
                    rgb = lab_to_rgb(lab_p)
                    for i in range(len(rgb)):
                        j = start + i
                        res.setdefault(f"psnr_{name}_{mode}", []).append(psnr(rgb[i], truth[j]))
                        if name != "k0":
                            continue
                        res.setdefault(f"colourful_{name}_{mode}", []).append(
                            colourfulness(rgb[i])
                        )
                        if mode == "mix":
                            group = "people" if people[j] else "scenes"
                            res.setdefault(f"psnr_k0_mix_{group}", []).append(
                                psnr(rgb[i], truth[j])
                            )
                            res.setdefault(f"colourful_k0_mix_{group}", []).append(
                                colourfulness(rgb[i])
                            )
                            for key, v in hue_hits(rgb[i], truth[j]).items():
                                res.setdefault(f"{key}_k0_mix_{group}", []).append(v)
        out_metrics = {
            k: float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
            for k, v in ((k, np.asarray(v, np.float64)) for k, v in res.items())
        }
        gray = lab.copy()
        gray[:, 1:] = 0
        gray_rgb = lab_to_rgb(gray.transpose(0, 2, 3, 1))
        gray_psnr = np.array([psnr(g, t) for g, t in zip(gray_rgb, truth)])
        out_metrics["psnr_gray"] = float(np.mean(gray_psnr))
        for group, sel in (("people", people), ("scenes", ~people)):
            if sel.any():
                out_metrics[f"psnr_gray_{group}"] = float(np.mean(gray_psnr[sel]))
        out_metrics["colourful_truth"] = float(np.mean([colourfulness(t) for t in truth]))
        return out_metrics

    @staticmethod
    def score(m: dict[str, float]) -> float:
        """Validation score for 'best': PSNR gain automatic + with hints + colourfulness bonus."""
        if not m:
            return 0.0
        colour = min(m.get("colourful_k0_mix", m.get("colourful_k0_reg", 0.0)), 30.0) / 10.0
        hits = [m.get(f"{c}_hit_k0_mix_scenes", 0.0) for c in ("green", "blue")]
        hits = [h if np.isfinite(h) else 0.0 for h in hits]
        return (m.get("psnr_k0_mix", m["psnr_k0_reg"]) + m["psnr_hints_reg"] + colour
                + float(np.mean(hits)))

    # ----------------------------------------------------------------------------- checkpoints
    def state(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "opt": self.opt.state_dict(),
            "step": self.step_num,
            "elapsed": self.elapsed,
            "best_score": self.best_score,
            "np_rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "py_rng": random.getstate(),
            "net_config": self.net_cfg.to_dict(),
            "train_config": asdict(self.cfg),
            "class_weights": self.class_weights.cpu(),
        }

    def save(self, path: Path) -> None:
        with open_atomic(path) as handle:  # an interrupted save keeps the previous file
            torch.save(self.state(), handle)

    def load(self, path: Path) -> None:
        state = torch.load(path, map_location=self.device, weights_only=False)
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.opt.load_state_dict(state["opt"])
        self.step_num = int(state["step"])
        self.elapsed = float(state.get("elapsed", 0.0))
        self.best_score = float(state.get("best_score", -math.inf))
        self.rng.bit_generator.state = state["np_rng"]
        torch.set_rng_state(state["torch_rng"])
        random.setstate(state["py_rng"])
        self.class_weights = state["class_weights"].to(self.device)
        logger.info("resumed from %s at step %d", path, self.step_num)

    def init_from(self, model_dir: Path) -> None:
        weights = load_file(str(Path(model_dir) / WEIGHTS_FILE))
        weights = {k: v.float() for k, v in weights.items()}
        own = self.model.state_dict()
        resized = [k for k, v in weights.items() if k in own and own[k].shape != v.shape]
        missing = [k for k in own if k not in weights]
        grown = [k for k in missing if k.startswith("scene.")]
        unexpected = [k for k in weights if k not in own]
        if resized or unexpected or len(grown) != len(missing):
            odd = (resized + unexpected + sorted(set(missing) - set(grown)))[:3]
            raise ValueError(
                f"The weights in {model_dir} do not fit this network (--widths, --depths, "
                f"--scene-blocks): {', '.join(odd)} differ."
            )
        self.model.load_state_dict(weights, strict=False)
        self.ema.load_state_dict(self.model.state_dict())
        logger.info("initialised from %s%s", model_dir, " (scene branch new)" if grown else "")


def export(
    checkpoint: Path, out_dir: Path, extra: dict | None = None, use_ema: bool = True
) -> Path:
    """Write fp16 ``model.safetensors`` + ``config.json`` for the engine from a checkpoint."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    weights = state["ema" if use_ema else "model"]
    tensors = {
        k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in weights.items()
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out_dir / WEIGHTS_FILE, save(tensors, metadata={"format": "pt"}))
    config_path = out_dir / CONFIG_FILE
    config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    config.update(
        {
            "architecture": "InstantNet",
            "net": state["net_config"],
            "ab_bins": {
                "grid": ab_bins.GRID,
                "range": ab_bins.AB_RANGE,
                "num_bins": ab_bins.num_bins(),
            },
            "training": {
                "steps": int(state["step"]),
                "wall_time_hours": round(float(state.get("elapsed", 0.0)) / 3600.0, 2),
                "batch": state["train_config"]["batch"],
                "crop_sizes": list(state["train_config"]["sizes"]),
                "weights": "ema" if use_ema else "raw",
            },
        }
    )
    config.setdefault("net_long_side", 256)
    config.setdefault("output", "regression")
    config.setdefault("temperature", 0.38)
    config.update(extra or {})
    atomic_write_bytes(config_path, (json.dumps(config, indent=2) + "\n").encode("utf-8"))
    logger.info("exported %s (step %d) to %s", checkpoint, state["step"], out_dir)
    return out_dir


def train(args: argparse.Namespace) -> int:
    run_dir = Path(args.run).expanduser()
    setup_logging(run_dir / "train.log", console=True)
    try:
        return _train(args, run_dir)
    finally:
        close_logging()


def _train(args: argparse.Namespace, run_dir: Path) -> int:
    torch.set_num_threads(args.threads)
    if args.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(args.device)
    cfg = TrainConfig(
        batch=args.batch,
        sizes=tuple(int(s) for s in args.sizes.split(",")),
        lr=args.lr,
        warmup=args.warmup,
        schedule=args.schedule or TrainConfig.schedule,
        steps=args.steps,
        ema=args.ema,
        val_count=args.val_count,
        val_every=args.val_every,
        log_every=args.log_every,
        ckpt_minutes=args.ckpt_minutes,
        seed=args.seed,
        cache_side=args.cache_side,
        reg_rebalance=args.reg_rebalance,
        cls_weight=args.cls_weight,
        sampling=args.sampling,
        min_scale=args.min_scale,
        group_shares=args.group_shares,
        source_cap=args.source_cap,
        freeze_encoder=args.freeze_encoder,
        rebalance_lambda=args.rebalance_lambda,
        freeze_bn=args.freeze_bn,
        sky_foliage_emphasis=args.sky_foliage_emphasis or 0.0,
        p_none=args.no_hints_share,
    )
    net_cfg = InstantNetConfig(
        widths=tuple(int(s) for s in args.widths.split(",")),
        depths=tuple(int(s) for s in args.depths.split(",")),
        num_bins=ab_bins.num_bins(),
        scene_blocks=args.scene_blocks,
        scene_width=args.scene_width,
    )
    last = run_dir / "last.pt"
    if args.resume and last.is_file():  # the saved configs win, so the run continues as it was
        saved = torch.load(last, map_location="cpu", weights_only=False)
        net_cfg = InstantNetConfig.from_dict(saved["net_config"])
        keep = {
            k: v for k, v in saved["train_config"].items() if k in TrainConfig.__dataclass_fields__
        }
        keep["sizes"] = tuple(keep["sizes"])
        keep["steps"] = args.steps if args.steps != TrainConfig.steps else keep["steps"]
        if args.schedule is not None:  # e.g. switch a constant run to a cosine finish
            keep["schedule"] = args.schedule
        if args.sky_foliage_emphasis is not None:  # re-weight the draw from here on
            keep["sky_foliage_emphasis"] = args.sky_foliage_emphasis
        cfg = TrainConfig(**keep)
        del saved
    cache_dir = Path(args.cache_dir).expanduser() if args.cache_dir else None
    if is_pack(Path(args.data).expanduser()):
        train_cache = load_pack(Path(args.data).expanduser(), "train")
        val_cache = load_pack(Path(args.data).expanduser(), "val")
    else:
        train_cache = PhotoCache.load_or_build(
            args.data, "train", cache_dir, cfg.cache_side, args.limit
        )
        val_cache = PhotoCache.load_or_build(
            args.data, "val", cache_dir, cfg.cache_side, args.limit
        )
    if len(train_cache) == 0:
        logger.error("no training photos under %s", args.data)
        return 2
    trainer = Trainer(
        train_cache, val_cache if len(val_cache) else None, run_dir, cfg, net_cfg, device
    )
    trainer.precision = args.precision
    if args.resume and last.is_file():
        trainer.load(last)
    elif args.init_from:
        try:
            trainer.init_from(Path(args.init_from))
        except ValueError as exc:
            logger.error("%s", exc)
            return 2
    (run_dir / "command.txt").write_text(" ".join(sys.argv) + "\n")
    with (run_dir / "metrics.jsonl").open("a") as metrics_file:
        return _loop(trainer, cfg, args, run_dir, metrics_file)


def _loop(trainer: Trainer, cfg: TrainConfig, args: argparse.Namespace, run_dir: Path,
          metrics_file) -> int:
    last = run_dir / "last.pt"
    last_ckpt = time.monotonic()
    t0 = time.monotonic()
    running: dict[str, float] = {}
    stop_at = time.monotonic() + args.max_minutes * 60 if args.max_minutes else math.inf

    def _stop(signum, frame):  # `kill PID` (SIGTERM) saves last.pt before exiting
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _stop)
    trainer.start_workers(args.workers)
    try:
        while trainer.step_num < cfg.steps and time.monotonic() < stop_at:
            start = time.perf_counter()
            parts = trainer.step()
            trainer.elapsed += time.perf_counter() - start
            for k, v in parts.items():
                running[k] = running.get(k, 0.0) + v
            n = trainer.step_num
            if n % cfg.log_every == 0:
                avg = {k: v / cfg.log_every for k, v in running.items()}
                running = {}
                rate = n / max(trainer.elapsed, 1e-9)
                logger.info(
                    "step %d loss %.4f reg %.4f cls %.4f lr %.2e (%.2f s/step avg)",
                    n,
                    avg["loss"],
                    avg["reg"],
                    avg["cls"],
                    trainer.lr_at(n),
                    1.0 / max(rate, 1e-9),
                )
                metrics_file.write(json.dumps({"step": n, "time": time.time(), **avg}) + "\n")
                metrics_file.flush()
            if n % cfg.val_every == 0:
                m = trainer.validate()
                score = trainer.score(m)
                logger.info(
                    "val step %d score %.3f %s",
                    n,
                    score,
                    " ".join(f"{k}={v:.2f}" for k, v in sorted(m.items())),
                )
                metrics_file.write(json.dumps({"step": n, "val": m, "score": score}) + "\n")
                metrics_file.flush()
                snapshots = run_dir / "snapshots"
                snapshots.mkdir(exist_ok=True)
                with open_atomic(snapshots / f"ema_{n:06d}.pt") as handle:
                    torch.save(
                        {"ema": trainer.ema.state_dict(), "step": n, "elapsed": trainer.elapsed,
                         "net_config": trainer.net_cfg.to_dict(), "train_config": asdict(cfg)},
                        handle,
                    )
                if score > trainer.best_score:
                    trainer.best_score = score
                    trainer.save(run_dir / "best.pt")
                    logger.info("new best (score %.3f) saved", score)
            if time.monotonic() - last_ckpt > cfg.ckpt_minutes * 60:
                trainer.save(last)
                last_ckpt = time.monotonic()
    except KeyboardInterrupt:
        logger.info("interrupted")
    finally:
        trainer.stop_workers()
        signal.signal(signal.SIGTERM, previous)
    trainer.save(last)
    logger.info(
        "stopped at step %d after %.1f min this session",
        trainer.step_num,
        (time.monotonic() - t0) / 60,
    )
    return 0


def export_cmd(args: argparse.Namespace) -> int:
    run_dir = Path(args.run).expanduser()
    ckpt = (
        Path(args.checkpoint)
        if args.checkpoint.endswith(".pt")
        else run_dir / f"{args.checkpoint}.pt"
    )
    extra = json.loads(args.set) if args.set else None
    setup_logging(run_dir / "train.log", console=True)  # the export is part of the run's log
    try:
        export(ckpt, Path(args.out), extra=extra, use_ema=not args.raw)
    finally:
        close_logging()
    return 0


def _share(text: str) -> float:
    """A command-line share: a number from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a share from 0 to 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m piggydesk.training.train_instant", description=__doc__.split("\n")[0]
    )
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train (or resume) the instant network")
    t.add_argument(
        "--data", required=True,
        help="photo folder (sub-folders per source) or a training pack (.zip, training.pack)",
    )
    t.add_argument("--run", required=True, help="run folder: logs and checkpoints")
    t.add_argument("--cache-dir", default=None, help="where to keep the resized photo cache")
    t.add_argument("--resume", action="store_true", help="continue from RUN/last.pt")
    t.add_argument("--init-from", default=None, help="start from exported weights (a folder)")
    t.add_argument("--device", default="auto")
    t.add_argument("--threads", type=int, default=2)
    t.add_argument(
        "--workers", type=int, default=0,
        help="processes making the batches ahead, each from its step's seed (a GPU needs "
             "several; 0: made in the training loop, as runs began before)",
    )
    t.add_argument("--batch", type=int, default=TrainConfig.batch)
    t.add_argument("--sizes", default="128,144,160,176")
    t.add_argument("--lr", type=float, default=TrainConfig.lr)
    t.add_argument("--warmup", type=int, default=TrainConfig.warmup)
    t.add_argument(
        "--schedule", choices=("constant", "cosine"), default=None,
        help="learning-rate schedule (default constant; with --resume it replaces the saved one)",
    )
    t.add_argument(
        "--precision", choices=("fp32", "bf16"), default="fp32",
        help="bf16 autocast: 1.7x faster steps on CPUs with AVX-512 bf16",
    )
    t.add_argument("--steps", type=int, default=TrainConfig.steps)
    t.add_argument("--ema", type=float, default=TrainConfig.ema)
    t.add_argument("--reg-rebalance", type=float, default=TrainConfig.reg_rebalance)
    t.add_argument("--cls-weight", type=float, default=TrainConfig.cls_weight)
    t.add_argument("--widths", default="32,64,128,256")
    t.add_argument("--depths", default="1,1,2,2")
    t.add_argument(
        "--scene-blocks", type=int, default=0,
        help="blocks of a 1/32 scene branch (grown onto --init-from weights, starts as a no-op)",
    )
    t.add_argument("--scene-width", type=int, default=InstantNetConfig.scene_width)
    t.add_argument("--cache-side", type=int, default=TrainConfig.cache_side)
    t.add_argument(
        "--sampling", choices=("content", "sources"), default=TrainConfig.sampling,
        help="draw photos by content shares (default) or balance source folders only",
    )
    t.add_argument(
        "--rebalance-lambda", type=float, default=TrainConfig.rebalance_lambda,
        help="class-rebalancing lambda (Zhang et al. 2016 Eq. 4); lower weighs rare colours more",
    )
    t.add_argument(
        "--sky-foliage-emphasis", type=float, default=None,
        help="content sampling: inside each group draw a photo 1 + this x its share of blue "
             "and green pixels times as often (skies, water, vegetation); with --resume it "
             "replaces the saved value (default 0)",
    )
    t.add_argument(
        "--freeze-bn", action="store_true",
        help="keep batch-norm running statistics (fine-tuning: measured, 40 steps of updating "
             "them on training batches alone cost 0.5 dB on validation)",
    )
    t.add_argument(
        "--no-hints-share", type=_share, default=TrainConfig.p_none,
        help="share of samples trained without hints (automatic colorization), 0 to 1; the "
             f"rest get simulated hint points (default {TrainConfig.p_none})",
    )
    t.add_argument(
        "--freeze-encoder", action="store_true",
        help="train only the decoder, context branch and heads (fine-tuning; cheaper steps)",
    )
    t.add_argument(
        "--group-shares", default="",
        help='content sampling shares, e.g. "people=0.33,closeup=0.06,scenes=0.61" (the default)',
    )
    t.add_argument(
        "--source-cap", type=float, default=SOURCE_CAP,
        help="content sampling: the most any one source may take (default 0.12)",
    )
    t.add_argument(
        "--min-scale", type=float, default=TrainConfig.min_scale,
        help="smallest random crop as a share of the photo's short side (1: whole photo)",
    )
    t.add_argument("--val-count", type=int, default=TrainConfig.val_count)
    t.add_argument("--val-every", type=int, default=TrainConfig.val_every)
    t.add_argument("--log-every", type=int, default=TrainConfig.log_every)
    t.add_argument("--ckpt-minutes", type=float, default=TrainConfig.ckpt_minutes)
    t.add_argument("--max-minutes", type=float, default=0.0, help="stop after this long")
    t.add_argument("--limit", type=int, default=None, help="use only the first N photos")
    t.add_argument("--seed", type=int, default=0)
    t.set_defaults(func=train)
    e = sub.add_parser("export", help="write fp16 weights + config for the engine")
    e.add_argument("--run", default=".", help="run folder")
    e.add_argument("--checkpoint", default="best", help="best, last, or a .pt path")
    e.add_argument("--out", required=True)
    e.add_argument("--raw", action="store_true", help="export the raw weights, not the EMA")
    e.add_argument(
        "--set", default=None, help='JSON merged into config.json, e.g. {"output": "regression"}'
    )
    e.set_defaults(func=export_cmd)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
