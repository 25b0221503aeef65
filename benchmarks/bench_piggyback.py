"""Benchmark of the piggyback engine on this machine (not a test; run by hand).

Full-size Stable Diffusion 1.x configs with random weights (speed does not depend on the
values): the SD 1.5 UNet, VAE and CLIP ViT-L/14 text encoder, plus a full guider replica
(E_g + UNet + Eq. 2 fusions) and the lightness-aware decoder's gray encoder G. Per dtype (fp32,
bf16 weights) it measures, in a fresh subprocess so peak RSS is per configuration:

* seconds per denoising step at 256 and 512 px, guider on/off, CFG on/off (batch 1 or 2);
* text-encoder time, VAE decode time, lightness-aware decode time (G + decode);
* one end-to-end variant through the real pipeline (no prompt, guider on, N steps);
* bf16 error against fp32 on the same inputs (UNet+guider output, decoded image);
* with ``--load``: assembling a full bundle on disk (fp16) and ``load_bundle`` time.

Usage: ``python benchmarks/bench_piggyback.py [--sizes 256 512] [--dtypes fp32 bf16]
[--steps 20] [--load] [--out benchmarks/bench_piggyback.json]``. Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.measure import peak_rss_gib, wall_and_cpu  # noqa: E402

logger = logging.getLogger("bench_piggyback")

SD15_UNET = dict(
    sample_size=64,
    in_channels=4,
    out_channels=4,
    down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    block_out_channels=(320, 640, 1280, 1280),
    layers_per_block=2,
    cross_attention_dim=768,
    attention_head_dim=8,
)
SD_VAE = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    block_out_channels=(128, 256, 512, 512),
    layers_per_block=2,
    latent_channels=4,
    sample_size=512,
)
CLIP_L = dict(
    vocab_size=49408,
    hidden_size=768,
    intermediate_size=3072,
    num_hidden_layers=12,
    num_attention_heads=12,
    max_position_embeddings=77,
    hidden_act="quick_gelu",
)


TINY = (  # --tiny: a smoke test of this script with test-sized models
    dict(SD15_UNET, block_out_channels=(32, 64), sample_size=8, cross_attention_dim=768,
         down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
         up_block_types=("UpBlock2D", "CrossAttnUpBlock2D")),
    dict(SD_VAE, block_out_channels=(32, 32, 32, 32)),
    dict(CLIP_L, num_hidden_layers=1, hidden_size=768, intermediate_size=64),
)


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    return statistics.median(wall_and_cpu(fn, repeats)[0])


def build_pipeline(dtype_name: str, workdir: Path):
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from piggydesk.models.guider import DiffusionGuider
    from piggydesk.models.lightness_decoder import GrayEncoder
    from piggydesk.pipelines.piggyback import PiggybackColorizationPipeline, make_scheduler
    from tests.piggyback_helpers import make_tiny_tokenizer

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    unet_cfg, vae_cfg, clip_cfg = TINY if os.environ.get("BENCH_TINY") else (
        SD15_UNET, SD_VAE, CLIP_L)
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # build in the target dtype: peak RSS as when loading
    try:
        unet = UNet2DConditionModel(**unet_cfg)
        vae = AutoencoderKL(**vae_cfg)
        text_encoder = CLIPTextModel(CLIPTextConfig(**clip_cfg))
        guider = DiffusionGuider.from_base(unet, vae)
        gray_encoder = GrayEncoder.from_vae(vae)
    finally:
        torch.set_default_dtype(previous)
    tokenizer = make_tiny_tokenizer(workdir / "tokenizer_src")
    tokenizer.model_max_length = 77
    with torch.no_grad():  # "trained" parts: non-zero fusions/injections, as after training
        for p in [*guider.parameters(), *gray_encoder.injections.parameters()]:
            p.add_(torch.randn_like(p) * 1e-3)
    scheduler = make_scheduler(
        DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012).config
    )
    for module in (unet, vae, text_encoder, guider, gray_encoder):
        module.to(dtype).eval().requires_grad_(False)
    return PiggybackColorizationPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
        scheduler=scheduler, guider=guider, gray_encoder=gray_encoder,
    )


def run_worker(args) -> dict:
    """Measure one dtype in this process; prints one JSON line."""
    import numpy as np
    import torch

    from piggydesk.models.lightness_decoder import inject_lightness

    workdir = Path(args.workdir)
    t0 = time.perf_counter()
    pipe = build_pipeline(args.dtype, workdir)
    result = {"dtype": args.dtype, "build_s": time.perf_counter() - t0, "sizes": {}}
    dtype = pipe.unet.dtype
    outputs = {}
    with torch.inference_mode():
        ids = torch.randint(0, 49408, (1, 77))
        result["text_encoder_s"] = timed(lambda: pipe.text_encoder(ids), args.repeats)
        for size in args.sizes:
            lat = size // 8
            g = torch.Generator().manual_seed(size)
            z = torch.randn(2, 4, lat, lat, generator=g)
            text = torch.randn(2, 77, 768, generator=g)
            hint_in = torch.randn(1, 4, size, size, generator=g)
            gray = torch.rand(1, 1, size, size, generator=g) * 2 - 1
            feats = pipe.guider.encode_hints(hint_in)
            r = {"hint_encoder_s": timed(lambda h=hint_in: pipe.guider.encode_hints(h), 1)}
            for guider in (False, True):
                for cfg in (False, True):
                    b = 2 if cfg else 1
                    zb, tb = z[:b].to(dtype), text[:b].to(dtype)
                    fb = feats.repeat(b, 1, 1, 1)
                    if guider:
                        def step(zb=zb, tb=tb, fb=fb):
                            return pipe._piggybacked(zb, 500, tb, fb)
                    else:
                        def step(zb=zb, tb=tb):
                            return pipe.unet(zb, 500, tb, return_dict=False)[0]
                    key = f"step_s_guider_{'on' if guider else 'off'}_cfg_{'on' if cfg else 'off'}"
                    reps = args.repeats if size <= 256 else 1
                    r[key] = timed(step, reps)
                    if guider and not cfg:
                        outputs[f"eps_{size}"] = (step, zb, tb, fb)
            latents = z[:1].to(dtype)
            r["vae_decode_s"] = timed(lambda z1=latents: pipe.vae.decode(z1).sample, 1)

            def lightness_decode(gray=gray, latents=latents):
                residuals = pipe.gray_encoder(gray.to(dtype))
                with inject_lightness(pipe.vae.decoder, residuals):
                    return pipe.vae.decode(latents).sample

            r["lightness_decode_s"] = timed(lightness_decode, 1)
            outputs[f"rgb_{size}"] = (lightness_decode, gray, latents)
            result["sizes"][str(size)] = r
            logger.info("%s %d px: %s", args.dtype, size, r)
    # end to end, through the real pipeline: no prompt, guider on, N steps, one variant
    light = np.linspace(10, 90, args.e2e_size * args.e2e_size, dtype=np.float32).reshape(
        args.e2e_size, args.e2e_size
    )
    steps_seen = []
    t = time.perf_counter()
    pipe(light, num_inference_steps=args.steps, seeds=[0],
         callback=lambda s, n: steps_seen.append(time.perf_counter()))
    result["end_to_end"] = {
        "size": args.e2e_size, "steps": args.steps, "seconds": time.perf_counter() - t,
    }
    if args.dtype == "fp32":  # the same weights and inputs in bf16: the precision cost
        with torch.inference_mode():
            reference = {k: v[0]().float() for k, v in outputs.items()}
            for module in (pipe.unet, pipe.vae, pipe.text_encoder, pipe.guider, pipe.gray_encoder):
                module.to(torch.bfloat16)
            errors = {}
            for key, (fn, *tensors) in outputs.items():
                low = fn(*(t.to(torch.bfloat16) for t in tensors)).float()
                errors[key] = float((low - reference[key]).norm() / reference[key].norm())
        result["bf16_relative_error"] = errors
    result["peak_rss_gib"] = peak_rss_gib()
    return result


def run_assemble(workdir: Path) -> dict:
    """Write a full-size SD base + trained parts and assemble a bundle (fp16 on disk)."""
    from piggydesk.pipelines.bundle import assemble_bundle

    pipe = build_pipeline("fp32", workdir)
    base = workdir / "sd-base"
    from diffusers import StableDiffusionPipeline

    StableDiffusionPipeline(
        vae=pipe.vae, text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer, unet=pipe.unet,
        scheduler=pipe.scheduler, safety_checker=None, feature_extractor=None,
        requires_safety_checker=False,
    ).save_pretrained(base, safe_serialization=True)
    pipe.guider.save_pretrained(workdir / "guider", safe_serialization=True)
    pipe.gray_encoder.save_pretrained(workdir / "gray", safe_serialization=True)
    del pipe
    t = time.perf_counter()
    bundle = assemble_bundle(base, workdir / "bundle", workdir / "guider", workdir / "gray")
    assemble_s = time.perf_counter() - t
    size_gb = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file()) / 1e9
    return {"assemble_s": assemble_s, "bundle_gb": size_gb}


def run_load(workdir: Path, steps: int, size: int) -> dict:
    """What a user sees: ``load_bundle`` (verified) as the engine does, then one variant."""
    import numpy as np

    from piggydesk.engines.piggyback import choose_dtype
    from piggydesk.pipelines.bundle import load_bundle, verify_bundle

    dtype = choose_dtype("cpu")
    t = time.perf_counter()
    pipe = load_bundle(workdir / "bundle", "cpu", dtype)
    out = {"dtype": str(dtype), "load_verified_s": time.perf_counter() - t}
    t = time.perf_counter()
    verify_bundle(workdir / "bundle")
    out["verify_only_s"] = time.perf_counter() - t
    light = np.linspace(10, 90, size * size, dtype=np.float32).reshape(size, size)
    t = time.perf_counter()
    pipe(light, num_inference_steps=steps, seeds=[0])
    out["variant_s"] = time.perf_counter() - t
    out["variant_size"], out["variant_steps"] = size, steps
    out["peak_rss_gib"] = peak_rss_gib()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--dtypes", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--e2e-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--load", action="store_true", help="also time bundle assemble/load")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "bench_piggyback.json"))
    parser.add_argument("--tiny", action="store_true", help="smoke-test with tiny models")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--load-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--run-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--dtype", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.tiny:
        os.environ["BENCH_TINY"] = "1"  # inherited by the worker processes
    if args.worker:
        print("RESULT " + json.dumps(run_worker(args)), flush=True)
        return 0
    if args.load_worker:
        result = run_assemble(Path(args.workdir))
        print("RESULT " + json.dumps(result), flush=True)
        return 0
    if args.run_worker:
        result = run_load(Path(args.workdir), args.steps, args.e2e_size)
        print("RESULT " + json.dumps(result), flush=True)
        return 0

    import torch

    report = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "date": time.strftime("%Y-%m-%d %H:%M"),
            "load_average": os.getloadavg(),
        },
        "runs": [],
    }
    with tempfile.TemporaryDirectory(prefix="bench_piggyback_") as tmp:
        common = ["--workdir", tmp, "--steps", str(args.steps), "--repeats", str(args.repeats),
                  "--e2e-size", str(args.e2e_size), "--sizes", *map(str, args.sizes)]
        for dtype in sorted(args.dtypes, key=lambda d: d != "fp32"):  # fp32 first: reference
            cmd = [sys.executable, __file__, "--worker", "--dtype", dtype, *common]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
            if proc.returncode or not lines:
                print(proc.stderr[-3000:], file=sys.stderr)
                return 1
            report["runs"].append(json.loads(lines[-1][7:]))
        if args.load:
            report["load"] = {}
            for flag in ("--load-worker", "--run-worker"):
                cmd = [sys.executable, __file__, flag, *common]
                proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
                lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
                if not lines:
                    print(proc.stderr[-3000:], file=sys.stderr)
                    break
                report["load"].update(json.loads(lines[-1][7:]))
    report["machine"]["load_average_after"] = os.getloadavg()
    Path(args.out).write_text(json.dumps(report, indent=2), encoding="utf-8")
    print_table(report)
    return 0


def print_table(report: dict) -> None:
    keys = [
        ("step_s_guider_off_cfg_off", "step, base only"),
        ("step_s_guider_on_cfg_off", "step, guider"),
        ("step_s_guider_off_cfg_on", "step, base + CFG"),
        ("step_s_guider_on_cfg_on", "step, guider + CFG"),
        ("vae_decode_s", "VAE decode"),
        ("lightness_decode_s", "lightness-aware decode"),
        ("hint_encoder_s", "E_g (once per run)"),
    ]
    for run in report["runs"]:
        print(f"\n{run['dtype']}: peak RSS {run['peak_rss_gib']:.2f} GiB, "
              f"text encoder {run['text_encoder_s']:.3f} s")
        for size, r in run["sizes"].items():
            print(f"  {size} px: " + ", ".join(f"{label} {r[k]:.2f} s" for k, label in keys))
        e2e = run["end_to_end"]
        print(f"  end to end {e2e['size']} px, {e2e['steps']} steps, guider on, no prompt: "
              f"{e2e['seconds']:.1f} s")
        if "bf16_relative_error" in run:
            print("  bf16 relative error vs fp32 (same weights): " + ", ".join(
                f"{k} {v:.2%}" for k, v in run["bf16_relative_error"].items()))
    if "load" in report:
        print("\nbundle from disk (engine defaults): " + ", ".join(
            f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
            for k, v in report["load"].items()))


if __name__ == "__main__":
    sys.exit(main())
