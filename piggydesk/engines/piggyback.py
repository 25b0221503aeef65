"""The piggyback engine: Liu et al. 2023's piggybacked diffusion colorization behind ``Colorizer``.

Loads a model bundle (``pipelines.bundle``) once and keeps it; runs all variants of a request
as one batch with one seed per variant (``seed + index``), reports progress per denoising step,
stops within one step of a cancel, and tells the user which mode ran (full method, plain VAE
decoder, or the SDEdit fallback for a bare Stable Diffusion base).

Which model runs is the model store's decision (``ModelStore.candidates``: one ranking rule
for the app, the CLI and the tests); this module receives its path, or ``model_path`` when the
user names a folder. Whether the model is intact is checked at load against the bundle's
manifest with the store's cached hashes, so an unchanged bundle is not re-read every time.
``engine_info`` stays cheap and torch-free: it only reads JSON files.

Precision defaults (measured, see ``benchmarks/RESULTS.md``): CUDA and MPS fp16; CPU bf16
weights when the CPU has native bf16 (AVX512-BF16 or AMX: about 2x faster than fp32, since
SD inference on CPU is memory-bound), else fp32. ``PIGGYDESK_CPU_DTYPE=float32|bfloat16``
overrides the CPU choice.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

from piggydesk.core.sizing import check_min_size
from piggydesk.engines.base import (
    Cancelled,
    CancelToken,
    ColorizeRequest,
    EngineInfo,
    EngineUnavailable,
    ProgressCallback,
    Timer,
    Variant,
    check_cancel,
)
from piggydesk.engines.device import out_of_memory_as_error
from piggydesk.modelstore.store import ModelStore

logger = logging.getLogger(__name__)

NAME = "piggyback"
DISPLAY_NAME = "Piggyback (diffusion)"
DESCRIPTION = (
    "Stable Diffusion guided by your photo, colour hints and an optional text prompt "
    "(Liu et al. 2023). Slow on a CPU; several variants per run."
)
MODE_MESSAGES = {
    "guided+lightness": "",
    "guided+vae": (
        "This model has no lightness-aware decoder: colours come from the plain VAE decoder "
        "and are recombined with the photo's own lightness."
    ),
    "sdedit+lightness": (
        "This model has no trained guider, so the SDEdit fallback ran: the photo is lightly "
        "noised and repainted following the prompt; colours may drift from the content."
    ),
    "sdedit+vae": (
        "This is a plain Stable Diffusion model without the piggyback guider, so the SDEdit "
        "fallback ran: the photo is lightly noised and repainted following the prompt, and "
        "colours may drift from the content."
    ),
}
NO_MODEL = (
    "no piggyback model is installed. Install one with 'piggydesk models', or build one "
    "from a Stable Diffusion 1.x folder with 'piggydesk models assemble'."
)


# --------------------------------------------------------------------------- finding models
def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _has(index: dict, component: str) -> bool:
    entry = index.get(component)
    return isinstance(entry, list) and len(entry) == 2 and bool(entry[1])


def describe_model(path: Path) -> tuple[bool, str, int]:
    """``(usable, reason, native_size)`` for a folder, from its JSON files only (fast)."""
    if not path.exists():
        return False, f"the model folder {path} does not exist.", 0
    if not path.is_dir():
        return False, f"{path} is not a model folder (a bundle is a folder).", 0
    index = _read_json(path / "model_index.json")
    if not index:
        return False, f"{path} has no readable model_index.json.", 0
    missing = [c for c in ("vae", "text_encoder", "tokenizer", "unet", "scheduler") if not _has(index, c)]
    if missing:
        return False, f"the model in {path} lacks {', '.join(missing)}.", 0
    native = int(_read_json(path / "piggydesk.json").get("native_size", 0) or 0)
    if not native:
        unet = _read_json(path / "unet" / "config.json")
        vae = _read_json(path / "vae" / "config.json")
        levels = len(vae.get("block_out_channels", [0, 0, 0, 0]))
        native = int(unet.get("sample_size", 64)) * 2 ** (levels - 1)
    return True, "", native


def resolve_model(model_path: str | Path | None) -> tuple[Path | None, str, int]:
    if model_path is not None:
        path = Path(model_path).expanduser()
        usable, reason, native = describe_model(path)
        return (path if usable else None), reason, native
    for path in ModelStore().candidates():  # best first
        usable, _reason, native = describe_model(path)
        if usable:
            return path, "", native
    return None, NO_MODEL, 0


def engine_info(model_path: str | Path | None = None) -> EngineInfo:
    path, reason, native = resolve_model(model_path)
    return EngineInfo(
        name=NAME,
        display_name=DISPLAY_NAME,
        description=DESCRIPTION,
        available=path is not None,
        reason=reason,
        needs_hints=False,
        uses_prompt=True,
        uses_steps=True,
        default_working_size=native or 512,
    )


# --------------------------------------------------------------------------- precision
def cpu_has_bf16() -> bool:
    """Native bf16 arithmetic on this CPU (AVX512-BF16 or AMX), where it pays off."""
    choice = os.environ.get("PIGGYDESK_CPU_DTYPE", "").strip().lower()
    if choice in ("float32", "fp32"):
        return False
    if choice in ("bfloat16", "bf16"):
        return True
    if sys.platform.startswith("linux"):
        try:
            flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return False
        return "avx512_bf16" in flags or "amx_bf16" in flags
    if sys.platform == "win32":
        import torch

        try:  # oneDNN's own check (AVX512 core or better)
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    return False  # macOS: the MPS GPU is used; Apple CPUs run fp32


def choose_dtype(device: str):
    import torch

    if device in ("cuda", "mps"):
        return torch.float16
    return torch.bfloat16 if cpu_has_bf16() else torch.float32


def should_compile() -> bool:
    """Whether to compile the denoising step (``PIGGYDESK_COMPILE``: on, off or auto).

    Auto is off on every device. Measured on CPU (benchmarks/RESULTS.md): compiled steps are
    1.46x faster at 256 px and 1.15x at 512 px, but each app session first spends 95-150 s
    compiling (again for each new batch shape) and inductor's freezing keeps a second copy of
    all weights, doubling peak memory to 9.7 GiB. Not measured on CUDA/MPS.
    """
    choice = os.environ.get("PIGGYDESK_COMPILE", "auto").strip().lower()
    return choice in ("1", "on", "true", "yes")


# --------------------------------------------------------------------------- the engine
class PiggybackColorizer:
    """A loaded piggyback pipeline; ``colorize`` runs one request."""

    name = NAME

    def __init__(self, pipe, device: str, bundle: Path, sampler: str = "dpm++") -> None:
        self.pipe = pipe
        self.device = device
        self.bundle = bundle
        self.sampler = sampler

    @property
    def mode(self) -> str:
        return self.pipe.mode

    def unload(self) -> None:
        """Drop the pipeline's weights (the worker then forgets this engine)."""
        import torch

        self.pipe = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    @property
    def native_size(self) -> int:
        return self.pipe.native_size

    @out_of_memory_as_error()
    def colorize(
        self,
        request: ColorizeRequest,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> list[Variant]:
        from piggydesk.pipelines.piggyback import PipelineCancelled

        check_cancel(cancel)
        check_min_size(*request.image_size)
        timer = Timer()
        n = max(1, int(request.num_variants))
        seeds = [int(request.seed) + i for i in range(n)]

        last_total = [int(request.steps)]

        def on_step(step: int, total: int) -> None:
            last_total[0] = total
            if progress is not None:
                progress(step, total + 1)  # the last unit is decoding + recombination

        try:
            out = self.pipe(
                lightness=request.lightness,
                hints=request.hints,
                prompt=request.prompt,
                negative_prompt=request.negative_prompt,
                num_variants=n,
                num_inference_steps=int(request.steps),
                guidance_scale=float(request.guidance_scale),
                seeds=seeds,
                sampler=self.sampler,
                callback=on_step,
                cancel=(lambda: cancel.is_set()) if cancel is not None else None,
            )
        except PipelineCancelled:
            raise Cancelled("The run was cancelled.") from None
        if progress is not None:
            progress(last_total[0] + 1, last_total[0] + 1)
        seconds = timer.elapsed() / n
        message = MODE_MESSAGES.get(out.mode, "")
        variants = []
        for i, rgb in enumerate(out.images):
            settings = request.settings.for_variant(
                NAME, i, mode=out.mode, seed=seeds[i], working_size=self.pipe.native_size
            )
            variants.append(Variant(rgb=rgb, settings=settings, message=message, seconds=seconds))
        logger.info("piggyback: %d variant(s), mode %s, %.1f s", n, out.mode, timer.elapsed())
        return variants


def create(device: str = "auto", model_path: str | Path | None = None) -> PiggybackColorizer:
    path, reason, _native = resolve_model(model_path)
    if path is None:
        raise EngineUnavailable(f"The piggyback engine cannot run: {reason}")
    from piggydesk.engines.device import pick_device
    from piggydesk.pipelines.bundle import BundleError, load_bundle

    choice = pick_device(device)
    dtype = choose_dtype(choice.name)
    try:
        pipe = load_bundle(
            path, device=choice.name, dtype=dtype, sha256=ModelStore().cached_sha256
        )
    except BundleError as exc:
        raise EngineUnavailable(str(exc)) from None
    if should_compile():
        pipe.enable_compile()
    logger.info("piggyback engine: %s on %s (%s), mode %s", path, choice.description, dtype, pipe.mode)
    return PiggybackColorizer(pipe, device=choice.name, bundle=path)
