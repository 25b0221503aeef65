"""Piggybacked diffusion colorization: Liu et al. 2023, "Improved Diffusion-based Image
Colorization via Piggybacked Models" (sec. 3, 4.1, appendix C), on diffusers.

Components: ``vae`` (AutoencoderKL), ``text_encoder`` (CLIPTextModel), ``tokenizer``
(CLIPTokenizer), ``unet`` (the frozen, unmodified Stable Diffusion 1.x UNet eps_theta),
``scheduler`` (DPM-Solver++ multistep by default, DDIM selectable), and the two optional
trained parts: ``guider`` (the diffusion guider F with E_g and the Eq. 2 fusions,
``models.guider.DiffusionGuider``) and ``gray_encoder`` (G of the lightness-aware decoder,
Eq. 4, ``models.lightness_decoder.GrayEncoder``).

Two kinds of guider, each optional: the paper's ``guider`` (above) or a diffusers
``controlnet`` (``pipelines.controlnet``: a public colorization ControlNet whose residuals go
into the UNet's skip connections at ``controlnet_conditioning_scale``). A pipeline holds one
of them at most.

Where the denoising starts (``strength``, shown to people as "Freedom"):

* ``strength == 1``: from pure noise (the paper's method with its guider);
* ``0 < strength < 1``: image to image (SDEdit, Meng et al. 2022): the start image
  (``init_ab``: the instant engine's colours for the same request, hints included; without
  it the gray photo with the hints painted in) is encoded, noised to ``strength`` and
  denoised with the text and the guider, if any, over the last ``strength`` of the schedule;
* ``strength == 0``: nothing is denoised: the start colours come back unchanged.

``keep`` (weights in [0, 1]) then pulls the result back to the start colours where the
hints reach, so hinted regions stay near their hint colours (``engines.piggyback`` computes
it edge-aware, as the instant engine spreads its hints). The mode that ran is said in words
(``describe_mode``): "paper guider", "ControlNet guider", "... refined from instant
colours", "SDEdit ...", plus the few-step LoRA when one is fused (``pipelines.fast``:
LCM-LoRA or Hyper-SD, fused once at load by ``fuse_fast_lora``).

The trained lightness-aware decoder (Eq. 4) is used whenever ``gray_encoder`` is present,
else the plain VAE decoder. Whatever the mode, only the decoded chroma is kept: it goes
through ``core.recombine.recombine`` with the photo's full-resolution lightness, so the
output's L* equals the input's.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from diffusers import DDIMScheduler, DiffusionPipeline, DPMSolverMultistepScheduler, LCMScheduler
from diffusers.loaders import StableDiffusionLoraLoaderMixin
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor

from piggydesk.core.color import lab_to_rgb, lightness_to_gray_rgb, rgb_to_lab
from piggydesk.core.hints import Hint, rasterize_hints
from piggydesk.core.recombine import recombine, resize_lightness
from piggydesk.core.sizing import area_shape
from piggydesk.models.fusion import PiggybackedUNet
from piggydesk.models.guider import DiffusionGuider
from piggydesk.models.hint_encoder import HintEncoder
from piggydesk.models.lightness_decoder import GrayEncoder, inject_lightness
from piggydesk.pipelines.controlnet import (
    DEFAULT_CONDITIONING_SCALE,
    ControlNetUNet,
    check_controlnet_fits,
    controlnet_condition,
)
from piggydesk.pipelines.fast import FastSampling, fuse_fast_lora

logger = logging.getLogger(__name__)

SDEDIT_STRENGTH = 0.45  # sec. 4.4: "For SDEdit, we set the sampling strength to 0.45."
DEFAULT_STRENGTH = 0.6  # refining the instant colours: keeps their layout, redraws the rest
SAMPLERS = ("dpm++", "ddim", "lcm", "ddim-trailing")
DEFAULT_SAMPLER = "dpm++"

GUIDER_PAPER, GUIDER_CONTROLNET, GUIDER_NONE = "paper", "controlnet", "none"
START_NOISE, START_INSTANT, START_GRAY = "noise", "instant", "gray"


def describe_mode(guider: str, start: str, fast: str | None = None) -> str:
    """The mode in words, e.g. "ControlNet guider, refined from instant colours"."""
    head = {
        GUIDER_PAPER: "paper guider",
        GUIDER_CONTROLNET: "ControlNet guider",
        GUIDER_NONE: "SDEdit",
    }[guider]
    if start == START_INSTANT:
        words = f"{head}, refined from instant colours" if guider != GUIDER_NONE else (
            "SDEdit, refined from instant colours")
    elif start == START_GRAY:
        words = f"{head} from the gray photo"
    else:
        words = head if guider != GUIDER_NONE else "SDEdit from noise (text only)"
    return f"{words}, fast ({fast})" if fast else words


def release_free_memory() -> None:
    """Hand freed heap pages back to the OS (glibc keeps them otherwise).

    Called between the denoising loop and the decoder: the decoder's large activations then
    reuse returned pages instead of growing the process, which keeps a 512-px run of a full
    SD 1.5 bundle in bf16 under 5 GiB peak (4.90 instead of 5.10, benchmarks/RESULTS.md).
    """
    import ctypes
    import gc
    import sys

    gc.collect()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # not glibc (e.g. musl): nothing to do
            pass


class PipelineCancelled(Exception):
    """The cancel check returned True between two denoising steps or two decoder stages."""


@contextmanager
def cancel_points(
    stages: Sequence[torch.nn.Module], cancel: Callable[[], bool] | None, what: str
) -> Iterator[None]:
    """Check ``cancel()`` before each of ``stages`` runs; raise ``PipelineCancelled`` if set.

    The decode after the denoising loop takes 9-34 s on a CPU; checking before each ResNet,
    attention and up-sampling stage of the decoder (and of G) lets a cancel stop it within
    about a second instead of waiting for the whole decode.
    """
    if cancel is None:
        yield
        return

    def check(_module, _args) -> None:
        if cancel():
            raise PipelineCancelled(f"cancelled while {what}")

    handles = [stage.register_forward_pre_hook(check) for stage in stages]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@dataclass
class PiggybackOutput(BaseOutput):
    """``images``: one full-resolution sRGB ``(H, W, 3)`` float32 [0, 1] per variant (empty
    with ``output_type="ab"``); ``ab``: working-size chroma ``(n, h, w, 2)`` in Lab units;
    ``mode``: the mode that ran, in words (``describe_mode``); ``guider`` / ``start``: the
    same as keys (``GUIDER_*``, ``START_*``); ``strength``: where the denoising started;
    ``steps_run``: denoising steps actually run; ``working_shape``: ``(h, w)``."""

    images: list[np.ndarray]
    ab: np.ndarray
    mode: str
    working_shape: tuple[int, int]
    guider: str = GUIDER_NONE
    start: str = START_NOISE
    strength: float = 1.0
    steps_run: int = 0


def make_scheduler(config, sampler: str = DEFAULT_SAMPLER):
    """A fresh scheduler of the chosen kind from any SD scheduler config."""
    if sampler == "dpm++":
        return DPMSolverMultistepScheduler.from_config(
            config, algorithm_type="dpmsolver++", solver_order=2
        )
    if sampler == "ddim":
        return DDIMScheduler.from_config(config)
    if sampler == "ddim-trailing":  # Hyper-SD's recipe
        return DDIMScheduler.from_config(config, timestep_spacing="trailing")
    if sampler == "lcm":
        return LCMScheduler.from_config(config)
    raise ValueError(f"Unknown sampler '{sampler}'; choose one of {', '.join(SAMPLERS)}.")


class _PlainUNet(torch.nn.Module):
    """The base UNet with the guided step's signature (SDEdit modes), for compilation."""

    def __init__(self, unet) -> None:
        super().__init__()
        self.unet = unet

    def forward(self, sample, timestep, encoder_hidden_states):
        return self.unet(sample, timestep, encoder_hidden_states, return_dict=False)[0]


class PiggybackColorizationPipeline(DiffusionPipeline, StableDiffusionLoraLoaderMixin):
    """Text- and hint-guided colorization of a grayscale photo (see the module docstring)."""

    model_cpu_offload_seq = "text_encoder->guider->controlnet->unet->vae"
    _optional_components = ["guider", "gray_encoder", "controlnet"]

    def __init__(
        self,
        vae,
        text_encoder,
        tokenizer,
        unet,
        scheduler,
        guider: DiffusionGuider | None = None,
        gray_encoder: GrayEncoder | None = None,
        controlnet=None,
    ) -> None:
        super().__init__()
        if guider is not None and controlnet is not None:
            raise ValueError("A pipeline takes one guider: the paper's guider or a ControlNet.")
        self.register_modules(
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            unet=unet,
            scheduler=scheduler,
            guider=guider,
            gray_encoder=gray_encoder,
            controlnet=controlnet,
        )
        unet.requires_grad_(False)
        self.vae_scale_factor = 2 ** (len(vae.config.block_out_channels) - 1)
        if controlnet is not None:
            check_controlnet_fits(controlnet, unet, self.vae_scale_factor)
            self._step: torch.nn.Module = ControlNetUNet(unet, controlnet)
        elif guider is not None:
            self._step = PiggybackedUNet(unet, guider)
        else:
            self._step = _PlainUNet(unet)
        self._denoiser: Callable | None = None  # the compiled denoising step, see enable_compile
        self.compiled = False
        self.fast: FastSampling | None = None  # the few-step LoRA fused into the UNet, if any

    # ----------------------------------------------------------------- compilation
    def enable_compile(self) -> None:
        """Compile the denoising step (guider + base UNet + Eq. 2, ControlNet + UNet, or the
        plain UNet) with ``torch.compile`` and inductor *freezing* (weights folded in as
        constants; measured on CPU bf16, see benchmarks/RESULTS.md). The compile happens on
        the first call and again for each new batch shape (variants, CFG); compiled code is
        cached on disk by inductor (``TORCHINDUCTOR_CACHE_DIR``). Only for inference:
        freezing assumes the weights never change afterwards (fuse a LoRA first).
        """
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True
        self._denoiser = torch.compile(self._step, dynamic=False)
        self.compiled = True

    def _denoise(self, model_in, t, text, guide, scale: float) -> torch.Tensor:
        step = self._denoiser if self._denoiser is not None else self._step
        if self.controlnet is not None:
            return step(model_in, t, text, guide, scale)
        if self.guider is not None:
            return step(model_in, t, text, guide)
        return step(model_in, t, text)

    # ----------------------------------------------------------------- few-step LoRAs
    def fuse_fast_lora(self, folder: str | Path, spec: FastSampling) -> None:
        """Fuse a few-step LoRA (``pipelines.fast``) into the UNet, once, before any compile.

        Afterwards ``spec.sampler`` is the default sampler. Raises ``ValueError``.
        """
        if self.fast is not None:
            raise ValueError(f"{self.fast.name} is already fused into this model.")
        if self.compiled:
            raise ValueError("Fuse the LoRA before compiling the denoising step.")
        fuse_fast_lora(self, Path(folder), spec)
        self.unet.requires_grad_(False)
        self.fast = spec

    # ----------------------------------------------------------------- sizes and modes
    @property
    def native_size(self) -> int:
        """The side of the square the base model was trained at (256 miniSD, 512 SD 1.5)."""
        return int(self.unet.config.sample_size) * self.vae_scale_factor

    @property
    def size_multiple(self) -> int:
        """Working sides are multiples of this: VAE factor times the UNet's down-sampling."""
        return self.vae_scale_factor * 2 ** (len(self.unet.config.down_block_types) - 1)

    @property
    def guider_kind(self) -> str:
        if self.guider is not None:
            return GUIDER_PAPER
        return GUIDER_CONTROLNET if self.controlnet is not None else GUIDER_NONE

    @property
    def default_sampler(self) -> str:
        return self.fast.sampler if self.fast is not None else DEFAULT_SAMPLER

    @property
    def mode(self) -> str:
        """The mode of a run without start colours at the default strength, in words."""
        start = START_NOISE if self.guider_kind != GUIDER_NONE else START_GRAY
        return describe_mode(self.guider_kind, start, self.fast.name if self.fast else None)

    def default_strength(self, has_init: bool) -> float:
        """1 (from noise) for a guider without start colours, 0.6 to refine start colours,
        the paper's 0.45 for SDEdit from the gray photo."""
        if has_init:
            return DEFAULT_STRENGTH
        return 1.0 if self.guider_kind != GUIDER_NONE else SDEDIT_STRENGTH

    def working_shape(self, height: int, width: int) -> tuple[int, int]:
        return area_shape(height, width, self.native_size, self.size_multiple)

    # ----------------------------------------------------------------- pieces
    def check_inputs(
        self,
        lightness: np.ndarray,
        num_variants: int,
        num_inference_steps: int,
        guidance_scale: float,
        generator,
        seeds,
        sampler: str,
        strength: float,
        init_ab: np.ndarray | None = None,
        keep: np.ndarray | None = None,
        controlnet_conditioning_scale: float = DEFAULT_CONDITIONING_SCALE,
    ) -> None:
        if not isinstance(lightness, np.ndarray) or lightness.ndim != 2:
            raise ValueError("`lightness` must be a 2-D array of CIE L* values (0-100).")
        if num_variants < 1:
            raise ValueError(f"`num_variants` must be at least 1, not {num_variants}.")
        if num_inference_steps < 1:
            raise ValueError(f"`num_inference_steps` must be at least 1, not {num_inference_steps}.")
        if guidance_scale < 0:
            raise ValueError(f"`guidance_scale` must not be negative, not {guidance_scale}.")
        if sampler not in SAMPLERS:
            raise ValueError(f"Unknown sampler '{sampler}'; choose one of {', '.join(SAMPLERS)}.")
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"`strength` must be in [0, 1], not {strength}.")
        if controlnet_conditioning_scale < 0:
            raise ValueError(
                "`controlnet_conditioning_scale` must not be negative, "
                f"not {controlnet_conditioning_scale}."
            )
        if init_ab is not None and (init_ab.ndim != 3 or init_ab.shape[-1] != 2):
            raise ValueError("`init_ab` must be an (h, w, 2) array of a*, b* values.")
        if keep is not None:
            if init_ab is None:
                raise ValueError("`keep` needs `init_ab`: the colours to keep.")
            if keep.ndim != 2:
                raise ValueError("`keep` must be a 2-D array of weights in [0, 1].")
        if generator is not None and seeds is not None:
            raise ValueError("Pass either `generator` or `seeds`, not both.")
        if isinstance(generator, list) and len(generator) != num_variants:
            raise ValueError(
                f"{len(generator)} generators for {num_variants} variants; pass one per variant."
            )
        if seeds is not None and len(seeds) != num_variants:
            raise ValueError(f"{len(seeds)} seeds for {num_variants} variants; pass one per variant.")

    def encode_prompt(self, prompts: Sequence[str]) -> torch.Tensor:
        """CLIP text embeddings ``(len(prompts), seq, dim)`` in the UNet's dtype."""
        tokens = self.tokenizer(
            list(prompts),
            padding="max_length",
            max_length=self.tokenizer.model_max_length,
            truncation=True,
            return_tensors="pt",
        )
        ids = tokens.input_ids.to(self.text_encoder.device)
        embeds = self.text_encoder(ids)[0]
        return embeds.to(self.unet.dtype)

    def _generators(self, num_variants: int, generator, seeds) -> list[torch.Generator]:
        device = "cpu"  # noise drawn on the CPU: the same seed gives the same image on any device
        if seeds is not None:
            return [torch.Generator(device).manual_seed(int(s)) for s in seeds]
        if generator is None:
            seed = int(torch.randint(0, 2**31 - 1, (1,)).item())
            return [torch.Generator(device).manual_seed(seed + i) for i in range(num_variants)]
        if isinstance(generator, torch.Generator):
            if num_variants != 1:
                raise ValueError("Pass one generator per variant (a list) or `seeds`.")
            return [generator]
        return list(generator)

    def _noise(self, shape: tuple[int, ...], generators: list[torch.Generator]) -> torch.Tensor:
        per_variant = [randn_tensor(shape, generator=g, dtype=torch.float32) for g in generators]
        return torch.cat(per_variant, dim=0).to(self.unet.device)

    def _to_device(self, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array)).to(self.unet.device, torch.float32)

    def decode_stages(self) -> list[torch.nn.Module]:
        """The decoder's stages (and G's) where a cancel is checked, in running order."""
        stages: list[torch.nn.Module] = []
        if self.gray_encoder is not None:
            for block in self.gray_encoder.down_blocks:
                stages.extend(block.resnets)
        decoder = self.vae.decoder
        for block in (decoder.mid_block, *decoder.up_blocks):
            for name in ("resnets", "attentions", "upsamplers"):
                stages.extend(m for m in (getattr(block, name, None) or []) if m is not None)
        stages.append(decoder.conv_out)
        return stages

    def _decode(
        self, latents: torch.Tensor, gray: torch.Tensor, cancel: Callable[[], bool] | None = None
    ) -> torch.Tensor:
        """z_c to [-1, 1] RGB: Eq. 4's lightness-aware decoder when G is present."""
        latents = (latents / self.vae.config.scaling_factor).to(self.vae.dtype)
        with cancel_points(self.decode_stages(), cancel, "decoding"):
            if self.gray_encoder is None:
                return self.vae.decode(latents, return_dict=False)[0]
            residuals = self.gray_encoder(gray.to(self.gray_encoder.dtype))
            with inject_lightness(self.vae.decoder, residuals):
                return self.vae.decode(latents, return_dict=False)[0]

    @staticmethod
    def _resized(array: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        h, w = shape
        if array.shape[:2] == (h, w):
            return np.asarray(array, dtype=np.float32)
        interp = cv2.INTER_AREA if array.shape[0] > h else cv2.INTER_LINEAR
        out = cv2.resize(np.asarray(array, dtype=np.float32), (w, h), interpolation=interp)
        return out.reshape(h, w, *array.shape[2:])

    # ----------------------------------------------------------------- the call
    @torch.inference_mode()
    def __call__(
        self,
        lightness: np.ndarray,
        hints: Sequence[Hint] = (),
        prompt: str = "",
        negative_prompt: str = "",
        num_variants: int = 1,
        num_inference_steps: int = 20,
        guidance_scale: float = 7.5,
        generator: torch.Generator | list[torch.Generator] | None = None,
        seeds: Sequence[int] | None = None,
        sampler: str | None = None,
        strength: float | None = None,
        init_ab: np.ndarray | None = None,
        keep: np.ndarray | None = None,
        controlnet_conditioning_scale: float = DEFAULT_CONDITIONING_SCALE,
        callback: Callable[[int, int], None] | None = None,
        cancel: Callable[[], bool] | None = None,
        output_type: str = "rgb",
    ) -> PiggybackOutput:
        """Colorize ``lightness`` (full-resolution CIE L*, ``(H, W)`` float32).

        ``init_ab``: start colours ``(h', w', 2)`` (a*, b*) at any size, e.g. the instant
        engine's; ``strength`` in [0, 1] (default ``default_strength``); ``keep``: weights
        ``(h'', w'')`` in [0, 1] at any size pulling the result back to ``init_ab``.
        ``sampler`` defaults to the fused LoRA's or DPM-Solver++. ``callback(step, total)``
        runs after every denoising step; ``cancel()`` is checked before every step and every
        decoder stage and raises ``PipelineCancelled``. ``output_type="ab"`` skips the full-resolution
        recombination.
        """
        # 1. Check inputs
        sampler = sampler or self.default_sampler
        if strength is None:
            strength = self.default_strength(init_ab is not None)
        self.check_inputs(
            lightness, num_variants, num_inference_steps, guidance_scale, generator, seeds,
            sampler, strength, init_ab, keep, controlnet_conditioning_scale,
        )
        device = self.unet.device
        generators = self._generators(num_variants, generator, seeds)
        n = num_variants
        if strength >= 1.0:
            start = START_NOISE
        else:
            start = START_INSTANT if init_ab is not None else START_GRAY
        mode = describe_mode(self.guider_kind, start, self.fast.name if self.fast else None)

        # 2. Working size (the model's native area, aspect kept) and inputs at that size
        H, W = lightness.shape
        h, w = self.working_shape(H, W)
        light_work = resize_lightness(np.asarray(lightness, dtype=np.float32), (h, w))
        hint_ab, hint_mask = rasterize_hints(tuple(hints), (H, W), (h, w))
        gray01 = lightness_to_gray_rgb(light_work)[..., 0]
        gray = self._to_device(gray01 * 2.0 - 1.0)[None, None]  # (1, 1, h, w) in [-1, 1]
        if init_ab is not None:
            start_ab = self._resized(init_ab, (h, w))
        else:  # the gray photo with the hints painted in (the paper's SDEdit input)
            start_ab = (hint_ab * hint_mask[:1]).transpose(1, 2, 0).astype(np.float32)

        # 3. Scheduler and timesteps (a fresh scheduler per call: its state is per run)
        scheduler = make_scheduler(self.scheduler.config, sampler)
        scheduler.set_timesteps(num_inference_steps, device=device)
        timesteps = scheduler.timesteps
        if start != START_NOISE:
            init_steps = min(int(num_inference_steps * strength), num_inference_steps)
            t_start = max(num_inference_steps - init_steps, 0)
            timesteps = timesteps[t_start * scheduler.order :]
            if hasattr(scheduler, "set_begin_index"):
                scheduler.set_begin_index(t_start * scheduler.order)

        if len(timesteps) == 0:  # no freedom: the start colours, exactly
            ab = np.repeat(start_ab[None], n, axis=0)
            return self._finish(lightness, ab, n, output_type, mode, start, strength, 0, (h, w))

        # 4. Text embeddings; CFG on the text only, skipped without any prompt
        do_cfg = bool(prompt.strip() or negative_prompt.strip()) and guidance_scale > 1.0
        cond = self.encode_prompt([prompt]).repeat(n, 1, 1)
        if do_cfg:
            uncond = self.encode_prompt([negative_prompt]).repeat(n, 1, 1)
            text = torch.cat([uncond, cond], dim=0)
        else:
            text = cond
        batch = text.shape[0]

        # 5. The guider's input: E_g's features (paper guider) or the condition (ControlNet)
        guide = None
        if self.guider is not None:
            hint_input = HintEncoder.prepare_input(
                gray, self._to_device(hint_ab)[None], self._to_device(hint_mask)[None]
            )
            guide = self.guider.encode_hints(hint_input).repeat(batch, 1, 1, 1)
        elif self.controlnet is not None:
            guide = controlnet_condition((gray + 1.0) / 2.0).repeat(batch, 1, 1, 1)

        # 6. Initial latents: pure noise, or the start image encoded and noised (SDEdit)
        latent_shape = (1, int(self.unet.config.in_channels), h // self.vae_scale_factor,
                        w // self.vae_scale_factor)
        noise = self._noise(latent_shape, generators)
        if start == START_NOISE:
            latents = noise * scheduler.init_noise_sigma
        else:
            lab = np.concatenate([light_work[..., None], start_ab], axis=-1)
            image = self._to_device(lab_to_rgb(lab).transpose(2, 0, 1) * 2.0 - 1.0)[None]
            posterior = self.vae.encode(image.to(self.vae.dtype)).latent_dist
            init = posterior.mode().float() * self.vae.config.scaling_factor
            latents = scheduler.add_noise(init.repeat(n, 1, 1, 1), noise, timesteps[:1])

        # 7. Denoising loop (cancel checked between steps)
        step_kwargs = {}
        if "generator" in inspect.signature(scheduler.step).parameters:
            step_kwargs["generator"] = generators  # LCM re-noises between steps: seeded
        total = len(timesteps)
        for i, t in enumerate(timesteps):
            if cancel is not None and cancel():
                raise PipelineCancelled(f"cancelled before step {i + 1} of {total}")
            model_in = torch.cat([latents] * 2) if do_cfg else latents
            model_in = scheduler.scale_model_input(model_in, t).to(self.unet.dtype)
            eps = self._denoise(model_in, t, text, guide, controlnet_conditioning_scale).float()
            if do_cfg:
                eps_uncond, eps_cond = eps.chunk(2)
                eps = eps_uncond + guidance_scale * (eps_cond - eps_uncond)
            latents = scheduler.step(eps, t, latents, return_dict=False, **step_kwargs)[0]
            if callback is not None:
                callback(i + 1, total)

        # 8. Decode z_c (Eq. 4 when G is present) and keep the chroma
        release_free_memory()
        rgb = self._decode(latents, gray.repeat(n, 1, 1, 1), cancel)  # cancel between stages
        rgb01 = ((rgb.float() + 1.0) / 2.0).clamp(0.0, 1.0).permute(0, 2, 3, 1).cpu().numpy()
        ab = rgb_to_lab(rgb01)[..., 1:].astype(np.float32)

        # 9. Hinted regions keep the start colours (which carry the hints) where told
        if keep is not None:
            weight = np.clip(self._resized(keep, (h, w)), 0.0, 1.0)[None, ..., None]
            ab = (weight * start_ab[None] + (1.0 - weight) * ab).astype(np.float32)
        return self._finish(lightness, ab, n, output_type, mode, start, strength, total, (h, w))

    def _finish(self, lightness, ab, n, output_type, mode, start, strength, steps_run, shape):
        """Full-resolution recombination: the output keeps the input's lightness exactly."""
        images = []
        if output_type == "rgb":
            full = np.asarray(lightness, dtype=np.float32)
            images = [recombine(full, ab[k]) for k in range(n)]
        elif output_type != "ab":
            raise ValueError(f"`output_type` must be 'rgb' or 'ab', not '{output_type}'.")
        return PiggybackOutput(
            images=images, ab=ab, mode=mode, working_shape=shape, guider=self.guider_kind,
            start=start, strength=float(strength), steps_run=int(steps_run),
        )
