"""Shared machinery of the piggyback training scripts: checkpoints, EMA, contact sheets.

Checkpoints (``OUT/checkpoints/step-00000100/``) hold everything needed to resume a run
*exactly*: the trainable weights (safetensors), the optimisers' and the fp16 grad scaler's
states, the EMA weights, the RNG states (the training noise generator, torch's global RNGs)
and ``state.json`` (step, samples seen, the run's arguments). Checkpoints are our own files, so
optimiser states are stored with ``torch.save`` and read back with ``weights_only=True``
(no arbitrary unpickling). A checkpoint is written to a temporary folder and renamed into
place, so an interrupted save never leaves a half checkpoint that ``latest_checkpoint`` picks.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.utils.checkpoint
from PIL import Image, ImageDraw
from safetensors.torch import load_file, save_file
from torch import nn

from piggydesk.core.color import lab_to_rgb, lightness_to_gray_rgb, rgb_to_lab
from piggydesk.training.piggyback_data import find_images, read_rgb8
from piggydesk.training.slic_hints import HintConfig, slic_hints

logger = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
DEFAULT_WORKERS = min(8, max((os.cpu_count() or 2) - 1, 1))
"""Data-loader processes: SLIC hints cost about 65 ms per 256-px sample on one core."""
_PREFIX = "step-"


def make_accelerator(mixed_precision: str, cpu: bool):
    """A single-process ``accelerate.Accelerator`` (device placement, autocast, fp16 scaling).

    accelerate keeps a process-wide state that refuses a second, different configuration;
    a training run owns its process, so a previous run's state (notebooks, tests) is reset.
    """
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    return Accelerator(mixed_precision=mixed_precision, cpu=cpu)


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


def count_parameters(params: Iterable[torch.Tensor]) -> int:
    return sum(p.numel() for p in params)


class EMA:
    """Exponential moving average of a set of parameters (kept in fp32 on their device)."""

    def __init__(self, named_params: Mapping[str, torch.Tensor], decay: float) -> None:
        self.decay = float(decay)
        self.shadow = {name: p.detach().float().clone() for name, p in named_params.items()}

    @torch.no_grad()
    def update(self, named_params: Mapping[str, torch.Tensor], step: int) -> None:
        # the usual warm-up so early averages are not dominated by the initial weights
        decay = min(self.decay, (1 + step) / (10 + step))
        for name, p in named_params.items():
            self.shadow[name].lerp_(p.detach().float(), 1.0 - decay)

    @torch.no_grad()
    def copy_to(self, named_params: Mapping[str, torch.Tensor]) -> None:
        for name, p in named_params.items():
            p.copy_(self.shadow[name].to(p.dtype))

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {name: t.contiguous() for name, t in self.shadow.items()}

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        for name in self.shadow:
            self.shadow[name].copy_(state[name])


@dataclass
class RunState:
    """Counters that a checkpoint stores besides tensors."""

    step: int = 0
    samples_seen: int = 0
    extra: dict = field(default_factory=dict)


def checkpoint_root(out_dir: Path) -> Path:
    return Path(out_dir) / CHECKPOINT_DIR


def list_checkpoints(out_dir: Path) -> list[Path]:
    root = checkpoint_root(out_dir)
    if not root.is_dir():
        return []
    found = [
        p
        for p in root.iterdir()
        if p.is_dir() and p.name.startswith(_PREFIX) and (p / "state.json").is_file()
    ]
    return sorted(found, key=lambda p: int(p.name[len(_PREFIX) :]))


def latest_checkpoint(out_dir: Path) -> Path | None:
    found = list_checkpoints(out_dir)
    return found[-1] if found else None


def _rng_state(generator: torch.Generator | None) -> dict[str, torch.Tensor]:
    state = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            state[f"torch_cuda_{i}"] = s
    if generator is not None:
        state["generator"] = generator.get_state()
    return state


def _restore_rng(state: Mapping[str, torch.Tensor], generator: torch.Generator | None) -> None:
    torch.set_rng_state(state["torch_cpu"])
    if torch.cuda.is_available():
        cuda = [state[k] for k in sorted(state) if k.startswith("torch_cuda_")]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
    if generator is not None and "generator" in state:
        generator.set_state(state["generator"])


def save_checkpoint(
    out_dir: Path,
    run: RunState,
    weights: Mapping[str, Mapping[str, torch.Tensor]],
    optimizers: Mapping[str, torch.optim.Optimizer],
    scaler: object | None = None,
    generator: torch.Generator | None = None,
    keep: int = 3,
) -> Path:
    """Write ``OUT/checkpoints/step-N`` atomically and keep only the newest ``keep`` of them.

    ``weights`` maps a file stem to a state dict (trainable weights, EMA weights...).
    """
    root = checkpoint_root(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{_PREFIX}{run.step:08d}"
    tmp = root / f".tmp-{final.name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    for stem, state in weights.items():
        save_file(
            {k: v.detach().contiguous().cpu() for k, v in state.items()},
            tmp / f"{stem}.safetensors",
        )
    for name, optimizer in optimizers.items():
        torch.save(optimizer.state_dict(), tmp / f"optimizer-{name}.pt")
    if scaler is not None and hasattr(scaler, "state_dict"):
        torch.save(scaler.state_dict(), tmp / "scaler.pt")
    torch.save(_rng_state(generator), tmp / "rng.pt")
    (tmp / "state.json").write_text(
        json.dumps(
            {"step": run.step, "samples_seen": run.samples_seen, "extra": run.extra}, indent=2
        ),
        encoding="utf-8",
    )
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for old in list_checkpoints(out_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    logger.info("checkpoint saved: %s", final)
    return final


def load_checkpoint(
    path: Path,
    weights: Mapping[str, Mapping[str, torch.Tensor] | nn.Module | EMA],
    optimizers: Mapping[str, torch.optim.Optimizer],
    scaler: object | None = None,
    generator: torch.Generator | None = None,
) -> RunState:
    """Restore what ``save_checkpoint`` wrote into the given live objects; returns the counters.

    ``weights`` maps a file stem to an ``nn.Module`` / ``EMA`` (``load_state_dict``) or to a
    dict of live tensors that are overwritten in place.
    """
    path = Path(path)
    for stem, target in weights.items():
        file = path / f"{stem}.safetensors"
        if not file.is_file():
            raise FileNotFoundError(f"The checkpoint {path} has no {file.name}.")
        state = load_file(file)
        if isinstance(target, nn.Module):
            target.load_state_dict(state, strict=True)
        elif isinstance(target, EMA):
            target.load_state_dict(state)
        else:
            with torch.no_grad():
                for name, tensor in target.items():
                    tensor.copy_(state[name])
    for name, optimizer in optimizers.items():
        optimizer.load_state_dict(torch.load(path / f"optimizer-{name}.pt", weights_only=True))
    if scaler is not None and (path / "scaler.pt").is_file() and hasattr(scaler, "load_state_dict"):
        scaler.load_state_dict(torch.load(path / "scaler.pt", weights_only=True))
    _restore_rng(torch.load(path / "rng.pt", weights_only=True), generator)
    data = json.loads((path / "state.json").read_text(encoding="utf-8"))
    logger.info("resumed from %s (step %d)", path, data["step"])
    return RunState(
        step=int(data["step"]), samples_seen=int(data["samples_seen"]), extra=data.get("extra", {})
    )


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(np.asarray(rgb, np.float32) * 255.0), 0, 255).astype(np.uint8)


def contact_sheet(
    rows: list[list[np.ndarray]], column_titles: list[str], tile: int = 160
) -> Image.Image:
    """A grid of (H,W,3) float [0,1] images, each fitted into ``tile``² with column titles."""
    title_h = 16
    n_cols = max(len(r) for r in rows)
    sheet = Image.new("RGB", (n_cols * tile, title_h + len(rows) * tile), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    for c, title in enumerate(column_titles[:n_cols]):
        draw.text((c * tile + 4, 2), title, fill=(230, 230, 230))
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            pil = Image.fromarray(to_uint8(image))
            pil.thumbnail((tile, tile), Image.Resampling.LANCZOS)
            x = c * tile + (tile - pil.width) // 2
            y = title_h + r * tile + (tile - pil.height) // 2
            sheet.paste(pil, (x, y))
    return sheet


def hint_overlay(
    gray_rgb: np.ndarray, hint_ab: np.ndarray, hint_mask: np.ndarray, lightness: np.ndarray
) -> np.ndarray:
    """The gray image with the hint regions painted in their hint colour (for contact sheets)."""
    lab = np.stack([lightness, hint_ab[0], hint_ab[1]], axis=-1)
    painted = lab_to_rgb(lab)
    m = hint_mask[0][..., None] > 0.5
    return np.where(m, painted, gray_rgb)


class StepTimer:
    """Mean seconds per optimiser step over the last logging window."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.count = 0

    def tick(self) -> None:
        self.count += 1

    def lap(self) -> float:
        now = time.perf_counter()
        mean = (now - self.start) / max(self.count, 1)
        self.start, self.count = now, 0
        return mean


def check_finite(value: float, step: int) -> None:
    if not math.isfinite(value):
        raise FloatingPointError(
            f"The training loss became {value} at step {step}; lower the learning rate or use "
            "bf16/fp32 instead of fp16."
        )


def center_crop(rgb8: np.ndarray, size: int) -> np.ndarray:
    """Resize so the short side is ``size`` and take the central ``size``² square."""
    h, w = rgb8.shape[:2]
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    img = np.asarray(Image.fromarray(rgb8).resize((nw, nh), Image.Resampling.BICUBIC))
    y, x = (nh - size) // 2, (nw - size) // 2
    return np.ascontiguousarray(img[y : y + size, x : x + size])


def enable_checkpointing(module: torch.nn.Module) -> int:
    """Turn on diffusers' activation checkpointing in every sub-module that has it."""

    def func(block, *args):
        return torch.utils.checkpoint.checkpoint(block.__call__, *args, use_reentrant=False)

    count = 0
    for sub in module.modules():
        if hasattr(sub, "gradient_checkpointing"):
            sub.gradient_checkpointing = True
            sub._gradient_checkpointing_func = func
            count += 1
    return count


def pick_validation(data: Path, val_data: Path | None, num_val: int) -> tuple[Path, list[str]]:
    """Validation photos: ``num_val`` from ``val_data``, or evenly spaced ones held out of ``data``."""
    root = val_data or data
    images = find_images(root)
    if num_val <= 0 or not images:
        return root, []
    idx = np.linspace(0, len(images) - 1, min(num_val, len(images))).round().astype(int)
    return root, [images[i] for i in sorted(set(idx.tolist()))]


def held_out(data: Path, val_data: Path | None, val_rels: list[str]) -> set[str]:
    """Validation photos taken from the training folder are left out of training, unless that
    would leave fewer than twice as many photos to train on (tiny test sets)."""
    if val_data is not None:
        return set()
    n = len(find_images(data))
    return set(val_rels) if n - len(val_rels) >= 2 * len(val_rels) else set()


def validation_samples(root: Path, rels: list[str], size: int, seed: int) -> list[dict]:
    """Fixed centre crops of the validation photos with fixed SLIC hints (same every time)."""
    samples = []
    for i, rel in enumerate(rels):
        rgb = center_crop(read_rgb8(root / rel), size).astype(np.float32) / 255.0
        lab = rgb_to_lab(rgb)
        hints = slic_hints(rgb, np.random.default_rng([seed, 77, i]), HintConfig(), lab)
        samples.append(
            {
                "rgb": rgb,
                "lightness": lab[..., 0],
                "gray_rgb": lightness_to_gray_rgb(lab[..., 0]),
                "hint_ab": hints.ab,
                "hint_mask": hints.mask,
            }
        )
    return samples


def add_stage_arguments(p: argparse.ArgumentParser) -> None:
    """The options both piggyback training stages share (data, optimiser, checkpoints, logging)."""
    p.add_argument(
        "--val-data", type=Path, help="validation photos (default: a few held out of --data)"
    )
    p.add_argument("--num-val", type=int, default=4, help="photos in the validation contact sheet")
    p.add_argument(
        "--resolution", type=int, help="crop size (default: the base model's native size)"
    )
    p.add_argument("--max-zoom", type=float, default=1.0, help="random zoom before cropping (>= 1)")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--grad-accum", type=int, default=1, help="micro-batches per optimiser step")
    p.add_argument("--max-steps", type=int, default=10000, help="optimiser steps in total")
    p.add_argument("--lr", type=float, default=1e-5, help="AdamW learning rate (paper: 1e-5)")
    p.add_argument("--lr-warmup-steps", type=int, default=0)
    p.add_argument("--weight-decay", type=float, default=1e-2)
    p.add_argument("--max-grad-norm", type=float, default=1.0)
    p.add_argument("--mixed-precision", choices=("no", "fp16", "bf16"), default="no")
    p.add_argument("--gradient-checkpointing", action="store_true")
    p.add_argument("--ema-decay", type=float, default=0.0, help="EMA of the weights (0 = off)")
    p.add_argument("--checkpoint-every", type=int, default=1000)
    p.add_argument("--keep-checkpoints", type=int, default=2)
    p.add_argument("--validate-every", type=int, default=1000, help="0 = only at the end")
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="data-loader processes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cpu", action="store_true", help="train on the CPU even if a GPU is present")
    p.add_argument("--no-resume", action="store_true", help="refuse to resume (OUT must be fresh)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar")
