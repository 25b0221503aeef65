"""Speed and memory of the issue-16 modes on full-size SD 1.5 configs (not a test; run by hand).

Full-size SD 1.5 UNet, VAE and CLIP ViT-L/14 text encoder, a full-size ControlNet
(``ControlNetModel.from_unet``: the architecture of ``control_v1p_sd15_brightness``) and a
rank-64 LoRA on the UNet's attention projections (LCM-LoRA's size), all with random weights
(speed does not depend on the values), built in bf16 and run through the real pipeline call:
the instant engine's colours for the start (the shipped network, as the engine does), the
hint-reach weights, encode, the denoising steps, decode and the full-resolution
recombination. One subprocess per configuration, so peak RSS is per configuration. No prompt
(no CFG), one variant.

Usage::

    python benchmarks/bench_piggyback_controlnet.py [--configs A B C] [--out FILE.json]
    BENCH_TINY=1 python benchmarks/bench_piggyback_controlnet.py   # smoke test, a minute

Configurations (``CONFIGS``): ``cn512`` ControlNet guider from noise, 8 steps, 512 px;
``cn512-refine`` the engine's default with a ControlNet (refined from the instant colours at
freedom 0.6: 8 scheduled steps, 4 run); ``lcm512`` ControlNet + fused LCM-LoRA, 4 steps
from noise; ``refine256`` a 256-native base (UNet ``sample_size`` 32, as miniSD) refined from
the instant colours at 0.6, 8 scheduled steps, no guider (SDEdit).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.measure import cpu_seconds, peak_rss_gib  # noqa: E402

CONFIGS = {
    "cn512": dict(size=512, controlnet=True, lora=False, steps=8, freedom=1.0),
    "cn512-refine": dict(size=512, controlnet=True, lora=False, steps=8, freedom=0.6),
    "lcm512": dict(size=512, controlnet=True, lora=True, steps=4, freedom=1.0),
    "refine256": dict(size=256, controlnet=False, lora=False, steps=8, freedom=0.6),
}


def write_random_lora(unet, folder: Path, rank: int = 64) -> Path:
    """A diffusers-format LoRA (``unet.<module>.lora_A/B.weight``) on every attention
    projection, LCM-LoRA's rank; random values."""
    import torch
    from safetensors.torch import save_file

    tensors = {}
    g = torch.Generator().manual_seed(0)
    for name, module in unet.named_modules():
        if name.endswith(("to_q", "to_k", "to_v", "to_out.0")) and hasattr(module, "weight"):
            out_f, in_f = module.weight.shape
            tensors[f"unet.{name}.lora_A.weight"] = torch.randn(rank, in_f, generator=g) * 0.01
            tensors[f"unet.{name}.lora_B.weight"] = torch.randn(out_f, rank, generator=g) * 0.01
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(folder / "pytorch_lora_weights.safetensors"))
    return folder


def build(config: dict, workdir: Path):
    import torch
    from diffusers import AutoencoderKL, ControlNetModel, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from benchmarks.bench_piggyback import CLIP_L, SD15_UNET, SD_VAE, TINY
    from piggydesk.pipelines.fast import LCM_LORA
    from piggydesk.pipelines.piggyback import PiggybackColorizationPipeline, make_scheduler
    from tests.piggyback_helpers import make_tiny_tokenizer

    tiny = bool(os.environ.get("BENCH_TINY"))
    unet_cfg, vae_cfg, clip_cfg = TINY if tiny else (SD15_UNET, SD_VAE, CLIP_L)
    if config["size"] == 256 and not tiny:
        unet_cfg = dict(unet_cfg, sample_size=32)
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)  # build in bf16: peak RSS as when loading
    try:
        unet = UNet2DConditionModel(**unet_cfg)
        vae = AutoencoderKL(**vae_cfg)
        text_encoder = CLIPTextModel(CLIPTextConfig(**clip_cfg))
        controlnet = None
        if config["controlnet"]:
            levels = len(vae.config.block_out_channels)
            controlnet = ControlNetModel.from_unet(
                unet, conditioning_embedding_out_channels=(16, 32, 96, 256)[:levels]
            )
    finally:
        torch.set_default_dtype(previous)
    for module in (unet, vae, text_encoder, controlnet):
        if module is not None:
            module.to(torch.bfloat16).eval().requires_grad_(False)
    tokenizer = make_tiny_tokenizer(workdir / "tokenizer_src")
    tokenizer.model_max_length = 77
    scheduler = make_scheduler(
        DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012).config
    )
    pipe = PiggybackColorizationPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
        scheduler=scheduler, controlnet=controlnet,
    )
    if config["lora"]:
        folder = write_random_lora(unet, workdir / "lora", rank=8 if tiny else 64)
        pipe.fuse_fast_lora(folder, LCM_LORA)
    return pipe


def worker(name: str) -> dict:
    import numpy as np

    from piggydesk.core.hints import Hint
    from piggydesk.engines import instant
    from piggydesk.engines.base import ColorizeRequest
    from piggydesk.engines.piggyback import hint_keep_weights

    config = CONFIGS[name]
    result = {"config": name, **config}
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        pipe = build(config, Path(tmp))
        result["build_s"] = time.perf_counter() - t
        result["rss_after_build_gib"] = peak_rss_gib()
        size = config["size"]
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        light = (20 + 60 * (xx / xx.max() + yy / yy.max()) / 2).astype(np.float32)
        hints = (Hint(x=size * 0.4, y=size * 0.5, color=(180, 40, 40), radius=4),)
        t = time.perf_counter()
        cpu = cpu_seconds()
        init_ab = keep = None
        if config["freedom"] < 1.0:
            engine = instant.create("cpu")
            request = ColorizeRequest(light, hints=hints, working_size=size)
            init_ab = engine.predict_ab(request)
            h, w = pipe.working_shape(*light.shape)
            keep = hint_keep_weights(light, hints, (h, w), 24.0 * max(h, w) / 256)
        result["start_colours_s"] = time.perf_counter() - t
        steps_done = []
        out = pipe(
            light, hints=hints, num_inference_steps=config["steps"], seeds=[0],
            strength=config["freedom"], init_ab=init_ab, keep=keep,
            callback=lambda s, total: steps_done.append((time.perf_counter(), cpu_seconds())),
        )
        result["end_to_end_s"] = time.perf_counter() - t
        result["end_to_end_cpu_s"] = cpu_seconds() - cpu
        result["steps_run"] = out.steps_run
        result["mode"] = out.mode
        result["working_shape"] = list(out.working_shape)
        if len(steps_done) > 1:
            marks = np.array(steps_done)
            result["step_s"] = float(np.median(np.diff(marks[:, 0])))
            result["step_cpu_s"] = float(np.median(np.diff(marks[:, 1])))
        result["peak_rss_gib"] = peak_rss_gib()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--out", default=None, help="also write the results as JSON here")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker)))
        return 0
    results = []
    for name in args.configs:
        proc = subprocess.run(
            [sys.executable, __file__, "--worker", name], capture_output=True, text=True,
            check=False,
        )
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        if proc.returncode or not lines:
            print(f"{name}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
            continue
        row = json.loads(lines[-1])
        results.append(row)
        print(json.dumps(row), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
