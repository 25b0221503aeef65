"""The piggyback engine: Liu et al. 2023's piggybacked diffusion colorization behind ``Colorizer``.

Loads a model bundle (``pipelines.bundle``) once and keeps it; runs all variants of a request
as one batch with one seed per variant (``seed + index``), reports progress per denoising step,
stops within one step of a cancel, and tells the user which mode ran, in words
(``pipelines.piggyback.describe_mode``): "paper guider", "ControlNet guider", "... refined
from instant colours", "SDEdit ...", and "fast (LCM-LoRA)" when a few-step LoRA is fused.

The best mode available is chosen by default from what is installed: a bundle with the
paper's trained guider runs the paper's method from noise; otherwise an installed
colorization ControlNet (catalogue ``controlnet-brightness-sd15``, or any diffusers
``ControlNetModel`` folder in the models folder that fits the base) guides the base, and the
run starts from the instant engine's colours for the same request (hints included), noised to
the "Freedom" (``RunSettings`` option ``freedom``, default 0.6; 1 starts from noise, 0 returns
the instant colours). Without any guider the same start makes an SDEdit refinement. Where the
hints reach (edge-aware, as the instant engine spreads them) the result keeps the instant
colours, so hinted regions stay at their hint colours. Options: ``freedom``, ``fast`` (fuse
an installed LCM-LoRA or Hyper-SD LoRA: reloads the model once when switched) and
``conditioning_scale`` (how strongly the ControlNet steers, default 1).

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
CONTROLNET_ID = "controlnet-brightness-sd15"  # the catalogue's colorization ControlNet
NO_DECODER = (
    "This model has no lightness-aware decoder: colours come from the plain VAE decoder and "
    "are recombined with the photo's own lightness."
)
SDEDIT_NOTE = (
    "No guider is installed, so SDEdit ran: the start colours were noised and repainted "
    "following the prompt; colours may drift. Download the ControlNet colorizer in Manage "
    "Models for a guided result."
)
NO_INSTANT = (
    "The instant engine's weights are missing, so the run started from the gray photo with "
    "the hints painted in."
)
NO_FAST = (
    "Fast sampling needs a few-step LoRA: download 'LCM-LoRA for SD 1.5' (lcm-lora-sd15) or "
    "'Hyper-SD 8-step' (hyper-sd15-8steps-cfg) in Manage Models or with 'piggydesk models "
    "download'."
)
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


def run_options(path: Path | None) -> tuple[str, ...]:
    """The options a run of the model in ``path`` reads, from what is installed (cheap):
    ``freedom`` always, ``conditioning_scale`` with a ControlNet, ``fast`` with a LoRA."""
    if path is None:
        return ()
    from piggydesk.pipelines.fast import find_fast_lora

    root = ModelStore().root
    index = _read_json(path / "model_index.json")
    options = ["freedom"]
    has_paper = _has(index, "guider")
    if _has(index, "controlnet") or (not has_paper and find_controlnet(root) is not None):
        options.append("conditioning_scale")
    if find_fast_lora(root) is not None:
        options.append("fast")
    return tuple(options)


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
        options=run_options(path),
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


# --------------------------------------------------------------------------- guiders, LoRAs
def find_controlnet(root: Path) -> Path | None:
    """An installed diffusers ControlNet folder under ``root``: the catalogue's first."""
    if not root.is_dir():
        return None
    preferred = root / CONTROLNET_ID
    candidates = [preferred] + [p for p in sorted(root.iterdir()) if p != preferred]
    for folder in candidates:
        if folder.name.startswith(".") or not folder.is_dir():
            continue
        config = _read_json(folder / "config.json")
        if config.get("_class_name") == "ControlNetModel" and any(folder.glob("*.safetensors")):
            return folder
    return None


def hint_keep_weights(lightness, hints, shape: tuple[int, int], reach: float):
    """Where the result keeps the start colours: 1 on and near the hints, fading to 0 at an
    edge-aware distance ``reach`` (working pixels) from every hint, as the instant engine
    limits its hint spread (``engines.instant_hints.geodesic_distance``). ``None`` without
    hints.
    """
    import numpy as np

    from piggydesk.core.hints import rasterize_hints
    from piggydesk.core.recombine import resize_lightness
    from piggydesk.engines.instant_hints import geodesic_distance

    if not hints:
        return None
    _, mask = rasterize_hints(tuple(hints), lightness.shape, shape)
    sources = mask[0] > 0
    if not sources.any():
        return None
    light = resize_lightness(lightness, shape)
    distance = geodesic_distance(light, sources, reach)
    core = 0.5 * reach
    return np.clip((reach - distance) / (reach - core), 0.0, 1.0).astype(np.float32)


# --------------------------------------------------------------------------- the engine
class PiggybackColorizer:
    """A loaded piggyback pipeline; ``colorize`` runs one request.

    ``controlnet`` / ``fast_lora`` are the installed ControlNet folder joined to a bundle
    without a guider, and the few-step LoRA ``(spec, folder)`` the ``fast`` option fuses
    (the pipeline is loaded again when ``fast`` changes; ``dtype`` is kept for that).
    """

    name = NAME

    def __init__(
        self,
        pipe,
        device: str,
        bundle: Path,
        sampler: str | None = None,
        *,
        dtype=None,
        controlnet: Path | None = None,
        fast_lora=None,
        instant=None,
    ) -> None:
        self.pipe = pipe
        self.device = device
        self.bundle = bundle
        self.sampler = sampler
        self.dtype = dtype if dtype is not None else pipe.dtype
        self.controlnet = controlnet
        self.fast_lora = fast_lora
        self._instant = instant  # the instant engine for start colours; False: unavailable

    @property
    def mode(self) -> str:
        return self.pipe.mode

    def unload(self) -> None:
        """Drop the pipeline's weights (the worker then forgets this engine)."""
        import torch

        self.pipe = None
        self._instant = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    @property
    def native_size(self) -> int:
        return self.pipe.native_size

    # ----------------------------------------------------------------- pieces
    def _ensure_fast(self, fast: bool) -> None:
        """Reload the pipeline with (or without) the few-step LoRA fused, when it changes."""
        if fast == (self.pipe.fast is not None):
            return
        if fast and self.fast_lora is None:
            raise EngineUnavailable(NO_FAST)
        from piggydesk.pipelines.bundle import BundleError, load_bundle

        logger.info("piggyback: reloading %s with fast=%s", self.bundle, fast)
        self.pipe = None
        try:
            self.pipe = load_bundle(
                self.bundle, device=self.device, dtype=self.dtype, verify=False,
                controlnet_dir=self.controlnet, fast=self.fast_lora if fast else None,
            )
        except BundleError as exc:
            raise EngineUnavailable(str(exc)) from None

    def _instant_engine(self):
        if self._instant is None:
            from piggydesk.engines import instant

            try:
                self._instant = instant.create(device=self.device)
            except EngineUnavailable as exc:
                logger.warning("piggyback: no instant colours to start from: %s", exc)
                self._instant = False
        return self._instant or None

    def _start(self, request: ColorizeRequest, freedom: float):
        """``(init_ab, keep, message)``: the instant colours and where the hints keep them."""
        if freedom >= 1.0:
            return None, None, ""
        instant = self._instant_engine()
        if instant is None:
            return None, None, NO_INSTANT
        init_ab = instant.predict_ab(request)
        h, w = self.pipe.working_shape(*request.image_size)
        reach_net = float(getattr(instant, "hint_reach", 0.0)) or 24.0
        reach = reach_net * max(h, w) / float(getattr(instant, "net_long_side", 256))
        keep = hint_keep_weights(request.lightness, request.hints, (h, w), max(reach, 2.0))
        return init_ab, keep, ""

    # ----------------------------------------------------------------- a run
    @out_of_memory_as_error()
    def colorize(
        self,
        request: ColorizeRequest,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> list[Variant]:
        from piggydesk.pipelines.piggyback import GUIDER_NONE, GUIDER_PAPER, PipelineCancelled

        check_cancel(cancel)
        check_min_size(*request.image_size)
        timer = Timer()
        settings = request.settings
        self._ensure_fast(bool(settings.get("fast", False)))
        pipe = self.pipe
        n = max(1, int(request.num_variants))
        seeds = [int(request.seed) + i for i in range(n)]
        steps, guidance = int(request.steps), float(request.guidance_scale)
        if pipe.fast is not None:  # a distilled LoRA runs its own recipe
            steps, guidance = pipe.fast.steps, pipe.fast.guidance_scale
        freedom = settings.get("freedom")
        if freedom is None:
            freedom = 1.0 if pipe.guider_kind == GUIDER_PAPER else pipe.default_strength(True)
        freedom = min(max(float(freedom), 0.0), 1.0)
        scale = float(settings.get("conditioning_scale", 1.0))
        init_ab, keep, note = self._start(request, freedom)
        if init_ab is None and freedom < 1.0 and pipe.guider_kind != GUIDER_PAPER:
            freedom = pipe.default_strength(False)  # from the gray photo

        last_total = [steps]

        def on_step(step: int, total: int) -> None:
            last_total[0] = total
            if progress is not None:
                progress(step, total + 1)  # the last unit is decoding + recombination

        try:
            out = pipe(
                lightness=request.lightness,
                hints=request.hints,
                prompt=request.prompt,
                negative_prompt=request.negative_prompt,
                num_variants=n,
                num_inference_steps=steps,
                guidance_scale=guidance,
                seeds=seeds,
                sampler=self.sampler,
                strength=freedom,
                init_ab=init_ab,
                keep=keep,
                controlnet_conditioning_scale=scale,
                callback=on_step,
                cancel=(lambda: cancel.is_set()) if cancel is not None else None,
            )
        except PipelineCancelled:
            raise Cancelled("The run was cancelled.") from None
        if progress is not None:
            progress(last_total[0] + 1, last_total[0] + 1)
        seconds = timer.elapsed() / n
        notes = [note] if note else []
        if out.guider == GUIDER_NONE and out.steps_run:
            notes.append(SDEDIT_NOTE)
        if pipe.gray_encoder is None and out.guider == GUIDER_PAPER:
            notes.append(NO_DECODER)
        message = " ".join(notes)
        extra = {"freedom": round(out.strength, 3), "fast": pipe.fast is not None or None}
        if out.guider == "controlnet":
            extra["conditioning_scale"] = scale
        variants = []
        for i, rgb in enumerate(out.images):
            variant_settings = settings.for_variant(
                NAME, i, mode=out.mode, seed=seeds[i], working_size=pipe.native_size,
                steps=steps, guidance_scale=guidance, **extra,
            )
            variants.append(
                Variant(rgb=rgb, settings=variant_settings, message=message, seconds=seconds)
            )
        logger.info("piggyback: %d variant(s), mode %s, %.1f s", n, out.mode, timer.elapsed())
        return variants


def create(device: str = "auto", model_path: str | Path | None = None) -> PiggybackColorizer:
    path, reason, _native = resolve_model(model_path)
    if path is None:
        raise EngineUnavailable(f"The piggyback engine cannot run: {reason}")
    from piggydesk.engines.device import pick_device
    from piggydesk.pipelines.bundle import BundleError, load_bundle, read_model_index
    from piggydesk.pipelines.fast import find_fast_lora

    store = ModelStore()
    choice = pick_device(device)
    dtype = choose_dtype(choice.name)
    controlnet = None
    try:
        index = read_model_index(path)
    except BundleError as exc:
        raise EngineUnavailable(str(exc)) from None
    if not (_has(index, "guider") or _has(index, "controlnet")):
        controlnet = find_controlnet(store.root)
    try:
        pipe = load_bundle(
            path, device=choice.name, dtype=dtype, sha256=store.cached_sha256,
            controlnet_dir=controlnet,
        )
    except BundleError as exc:
        if controlnet is None:
            raise EngineUnavailable(str(exc)) from None
        logger.warning("piggyback: without the ControlNet: %s", exc)
        controlnet = None
        try:
            pipe = load_bundle(path, device=choice.name, dtype=dtype, sha256=store.cached_sha256)
        except BundleError as exc2:
            raise EngineUnavailable(str(exc2)) from None
    if should_compile():
        pipe.enable_compile()
    logger.info("piggyback engine: %s on %s (%s), mode %s", path, choice.description, dtype, pipe.mode)
    return PiggybackColorizer(
        pipe, device=choice.name, bundle=path, dtype=dtype, controlnet=controlnet,
        fast_lora=find_fast_lora(store.root),
    )
