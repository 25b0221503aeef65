"""Piggybacked diffusion colorization: Liu et al. 2023, "Improved Diffusion-based Image
Colorization via Piggybacked Models" (sec. 3, 4.1, appendix C), on diffusers.

Components: ``vae`` (AutoencoderKL), ``text_encoder`` (CLIPTextModel), ``tokenizer``
(CLIPTokenizer), ``unet`` (the frozen, unmodified Stable Diffusion 1.x UNet eps_theta),
``scheduler`` (DPM-Solver++ multistep by default, DDIM selectable), and the two optional
trained parts: ``guider`` (the diffusion guider F with E_g and the Eq. 2 fusions,
``models.guider.DiffusionGuider``) and ``gray_encoder`` (G of the lightness-aware decoder,
Eq. 4, ``models.lightness_decoder.GrayEncoder``).

Modes (``PiggybackColorizationPipeline.mode``), so a bundle missing parts degrades honestly:

* ``guided+lightness``: the paper's method: F steers eps_theta from pure noise (Eq. 2), the
  lightness-aware decoder D' decodes z_c with the gray photo's features (Eq. 4);
* ``guided+vae``: no G in the bundle: plain VAE decode;
* ``sdedit+lightness`` / ``sdedit+vae``: no guider: the paper's SDEdit baseline (sec. 4.4):
  the gray photo with the hints painted in is encoded, noised to strength 0.45 and denoised
  with the text by the plain base UNet.

Whatever the mode, only the decoded chroma is kept: it goes through
``core.recombine.recombine`` with the photo's full-resolution lightness, so the output's L*
equals the input's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from diffusers import DDIMScheduler, DiffusionPipeline, DPMSolverMultistepScheduler
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

logger = logging.getLogger(__name__)

SDEDIT_STRENGTH = 0.45  # sec. 4.4: "For SDEdit, we set the sampling strength to 0.45."
SAMPLERS = ("dpm++", "ddim")
DEFAULT_SAMPLER = "dpm++"


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
    ``mode``: which of the pipeline's modes ran; ``working_shape``: ``(h, w)``."""

    images: list[np.ndarray]
    ab: np.ndarray
    mode: str
    working_shape: tuple[int, int]


def make_scheduler(config, sampler: str = DEFAULT_SAMPLER):
    """A fresh scheduler of the chosen kind from any SD scheduler config."""
    if sampler == "dpm++":
        return DPMSolverMultistepScheduler.from_config(
            config, algorithm_type="dpmsolver++", solver_order=2
        )
    if sampler == "ddim":
        return DDIMScheduler.from_config(config)
    raise ValueError(f"Unknown sampler '{sampler}'; choose one of {', '.join(SAMPLERS)}.")


class _PlainUNet(torch.nn.Module):
    """The base UNet with the guided step's signature (SDEdit modes), for compilation."""

    def __init__(self, unet) -> None:
        super().__init__()
        self.unet = unet

    def forward(self, sample, timestep, encoder_hidden_states, _hint_features=None):
        return self.unet(sample, timestep, encoder_hidden_states, return_dict=False)[0]


class PiggybackColorizationPipeline(DiffusionPipeline):
    """Text- and hint-guided colorization of a grayscale photo (see the module docstring)."""

    model_cpu_offload_seq = "text_encoder->guider->unet->vae"
    _optional_components = ["guider", "gray_encoder"]

    def __init__(
        self,
        vae,
        text_encoder,
        tokenizer,
        unet,
        scheduler,
        guider: DiffusionGuider | None = None,
        gray_encoder: GrayEncoder | None = None,
    ) -> None:
        super().__init__()
        self.register_modules(
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            unet=unet,
            scheduler=scheduler,
            guider=guider,
            gray_encoder=gray_encoder,
        )
        unet.requires_grad_(False)
        self.vae_scale_factor = 2 ** (len(vae.config.block_out_channels) - 1)
        self._piggybacked = PiggybackedUNet(unet, guider) if guider is not None else None
        self._denoiser: Callable | None = None  # the compiled denoising step, see enable_compile
        self.compiled = False

    # ----------------------------------------------------------------- compilation
    def enable_compile(self) -> None:
        """Compile the denoising step (guider + base UNet + Eq. 2, or the plain UNet) with
        ``torch.compile`` and inductor *freezing* (weights folded in as constants; measured
        on CPU bf16, see benchmarks/RESULTS.md). The compile happens on the first call and
        again for each new batch shape (variants, CFG); compiled code is cached on disk by
        inductor (``TORCHINDUCTOR_CACHE_DIR``). Only for inference: freezing assumes the
        weights never change afterwards.
        """
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True
        module = self._piggybacked if self._piggybacked is not None else _PlainUNet(self.unet)
        self._denoiser = torch.compile(module, dynamic=False)
        self.compiled = True

    def _denoise(self, model_in, t, text, hint_features) -> torch.Tensor:
        if self._denoiser is not None:
            return self._denoiser(model_in, t, text, hint_features)
        if self._piggybacked is not None:
            return self._piggybacked(model_in, t, text, hint_features)
        return self.unet(model_in, t, text, return_dict=False)[0]

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
    def mode(self) -> str:
        first = "guided" if self.guider is not None else "sdedit"
        second = "lightness" if self.gray_encoder is not None else "vae"
        return f"{first}+{second}"

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
        if not 0.0 < strength <= 1.0:
            raise ValueError(f"`strength` must be in (0, 1], not {strength}.")
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
        sampler: str = DEFAULT_SAMPLER,
        strength: float = SDEDIT_STRENGTH,
        callback: Callable[[int, int], None] | None = None,
        cancel: Callable[[], bool] | None = None,
        output_type: str = "rgb",
    ) -> PiggybackOutput:
        """Colorize ``lightness`` (full-resolution CIE L*, ``(H, W)`` float32).

        ``callback(step, total)`` runs after every denoising step; ``cancel()`` is checked
        before every step and raises ``PipelineCancelled``. ``strength`` only matters in the
        SDEdit modes. ``output_type="ab"`` skips the full-resolution recombination.
        """
        # 1. Check inputs
        self.check_inputs(
            lightness, num_variants, num_inference_steps, guidance_scale, generator, seeds,
            sampler, strength,
        )
        device = self.unet.device
        generators = self._generators(num_variants, generator, seeds)
        n = num_variants

        # 2. Working size (the model's native area, aspect kept) and inputs at that size
        H, W = lightness.shape
        h, w = self.working_shape(H, W)
        light_work = resize_lightness(np.asarray(lightness, dtype=np.float32), (h, w))
        hint_ab, hint_mask = rasterize_hints(tuple(hints), (H, W), (h, w))
        gray01 = lightness_to_gray_rgb(light_work)[..., 0]
        gray = self._to_device(gray01 * 2.0 - 1.0)[None, None]  # (1, 1, h, w) in [-1, 1]

        # 3. Text embeddings; CFG on the text only, skipped without any prompt
        do_cfg = bool(prompt.strip() or negative_prompt.strip()) and guidance_scale > 1.0
        cond = self.encode_prompt([prompt]).repeat(n, 1, 1)
        if do_cfg:
            uncond = self.encode_prompt([negative_prompt]).repeat(n, 1, 1)
            text = torch.cat([uncond, cond], dim=0)
        else:
            text = cond

        # 4. Scheduler and timesteps (a fresh scheduler per call: its state is per run)
        scheduler = make_scheduler(self.scheduler.config, sampler)
        scheduler.set_timesteps(num_inference_steps, device=device)
        timesteps = scheduler.timesteps
        latent_shape = (1, int(self.unet.config.in_channels), h // self.vae_scale_factor,
                        w // self.vae_scale_factor)
        noise = self._noise(latent_shape, generators)

        # 5. Initial latents: pure noise (guided) or the noised hinted gray photo (SDEdit)
        hint_features = None
        if self.guider is not None:
            latents = noise * scheduler.init_noise_sigma
            hint_input = HintEncoder.prepare_input(
                gray, self._to_device(hint_ab)[None], self._to_device(hint_mask)[None]
            )
            hint_features = self.guider.encode_hints(hint_input)
            hint_features = hint_features.repeat(text.shape[0], 1, 1, 1)
        else:
            init_steps = min(int(num_inference_steps * strength), num_inference_steps)
            t_start = max(num_inference_steps - init_steps, 0)
            timesteps = timesteps[t_start * scheduler.order :]
            if hasattr(scheduler, "set_begin_index"):
                scheduler.set_begin_index(t_start * scheduler.order)
            lab = np.stack(
                [light_work, hint_ab[0] * hint_mask[0], hint_ab[1] * hint_mask[0]], axis=-1
            )
            hinted = self._to_device(lab_to_rgb(lab).transpose(2, 0, 1) * 2.0 - 1.0)[None]
            posterior = self.vae.encode(hinted.to(self.vae.dtype)).latent_dist
            init = posterior.mode().float() * self.vae.config.scaling_factor
            if len(timesteps):
                latents = scheduler.add_noise(init.repeat(n, 1, 1, 1), noise, timesteps[:1])
            else:
                latents = init.repeat(n, 1, 1, 1)

        # 6. Denoising loop (cancel checked between steps)
        total = len(timesteps)
        for i, t in enumerate(timesteps):
            if cancel is not None and cancel():
                raise PipelineCancelled(f"cancelled before step {i + 1} of {total}")
            model_in = torch.cat([latents] * 2) if do_cfg else latents
            model_in = scheduler.scale_model_input(model_in, t).to(self.unet.dtype)
            eps = self._denoise(model_in, t, text, hint_features).float()
            if do_cfg:
                eps_uncond, eps_cond = eps.chunk(2)
                eps = eps_uncond + guidance_scale * (eps_cond - eps_uncond)
            latents = scheduler.step(eps, t, latents, return_dict=False)[0]
            if callback is not None:
                callback(i + 1, total)

        # 7. Decode z_c (Eq. 4 when G is present) and keep the chroma
        release_free_memory()
        rgb = self._decode(latents, gray.repeat(n, 1, 1, 1), cancel)  # cancel between stages
        rgb01 = ((rgb.float() + 1.0) / 2.0).clamp(0.0, 1.0).permute(0, 2, 3, 1).cpu().numpy()
        ab = rgb_to_lab(rgb01)[..., 1:].astype(np.float32)

        # 8. Full-resolution recombination: the output keeps the input's lightness exactly
        images = []
        if output_type == "rgb":
            full = np.asarray(lightness, dtype=np.float32)
            images = [recombine(full, ab[k]) for k in range(n)]
        elif output_type != "ab":
            raise ValueError(f"`output_type` must be 'rgb' or 'ab', not '{output_type}'.")
        return PiggybackOutput(images=images, ab=ab, mode=self.mode, working_shape=(h, w))
