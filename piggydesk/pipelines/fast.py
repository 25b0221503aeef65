"""Few-step sampling for SD 1.x through distilled LoRAs, fused into the UNet once at load.

* LCM-LoRA (Luo et al. 2023, "LCM-LoRA: A Universal Stable-Diffusion Acceleration Module";
  ``latent-consistency/lcm-lora-sdv1-5``): ``LCMScheduler``, 4-8 steps, guidance 1-2
  (at 1 the unconditional branch is skipped, so a step costs one UNet pass);
* Hyper-SD (Ren et al. 2024; ``ByteDance/Hyper-SD``, ``Hyper-SD15-8steps-CFG-lora``):
  DDIM with trailing timesteps, 8 steps, keeps classifier-free guidance (5-8) and so
  negative prompts.

``fuse_fast_lora`` loads the LoRA with diffusers' ``load_lora_weights`` (peft), folds it into
the UNet's (and text encoder's) weights with ``fuse_lora`` and removes the LoRA layers with
``unload_lora_weights``: what remains is a plain UNet, so a step costs what a plain step
costs. Fused weights cannot be un-fused exactly in bf16/fp16, so switching Fast off means
loading the model again (``engines.piggyback`` does that).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FastSampling:
    """One distilled LoRA: where it is installed, its file and the recipe it was made for."""

    id: str  # catalogue id and installed folder name
    name: str  # for people: "LCM-LoRA"
    weight_name: str  # the safetensors file inside the folder
    sampler: str  # a name from pipelines.piggyback.SAMPLERS
    steps: int
    guidance_scale: float
    lora_scale: float = 1.0


LCM_LORA = FastSampling(
    id="lcm-lora-sd15",
    name="LCM-LoRA",
    weight_name="pytorch_lora_weights.safetensors",
    sampler="lcm",
    steps=4,
    guidance_scale=1.0,
)
HYPER_SD_8 = FastSampling(
    id="hyper-sd15-8steps-cfg",
    name="Hyper-SD 8-step",
    weight_name="Hyper-SD15-8steps-CFG-lora.safetensors",
    sampler="ddim-trailing",
    steps=8,
    guidance_scale=5.0,
)
FAST_LORAS = (LCM_LORA, HYPER_SD_8)
"""Known few-step LoRAs, preferred first (LCM-LoRA: fewer steps, and no CFG pass)."""


def find_fast_lora(models_root: Path) -> tuple[FastSampling, Path] | None:
    """The first known LoRA installed under ``models_root`` (``<id>/<weight_name>``)."""
    for spec in FAST_LORAS:
        folder = Path(models_root) / spec.id
        if (folder / spec.weight_name).is_file():
            return spec, folder
    return None


def lora_file(folder: Path, spec: FastSampling) -> Path:
    """The LoRA's weights in ``folder`` (the catalogue's name, or a single .safetensors)."""
    folder = Path(folder)
    if folder.is_file():
        return folder
    named = folder / spec.weight_name
    if named.is_file():
        return named
    files = sorted(folder.glob("*.safetensors"))
    if len(files) == 1:
        return files[0]
    raise FileNotFoundError(f"{folder} holds no {spec.weight_name}")


def fuse_fast_lora(pipe, folder: Path, spec: FastSampling) -> None:
    """Load ``spec``'s LoRA from ``folder`` into ``pipe``, fuse it and drop the LoRA layers.

    ``pipe`` is a pipeline with diffusers' ``StableDiffusionLoraLoaderMixin``. Raises
    ``ValueError`` with a readable reason when the file is not a LoRA for this base.
    """
    import peft  # noqa: F401 - diffusers loads LoRAs through peft; stated here so the
    # frozen app (installer/probe_imports.py reads our imports) bundles it

    weights = lora_file(folder, spec)
    try:
        pipe.load_lora_weights(str(weights.parent), weight_name=weights.name, adapter_name="fast")
    except Exception as exc:  # noqa: BLE001 - diffusers/peft raise many kinds
        raise ValueError(f"{weights} is not a LoRA for this base model ({exc})") from exc
    pipe.fuse_lora(lora_scale=spec.lora_scale, adapter_names=["fast"])
    pipe.unload_lora_weights()
    logger.info("fused %s from %s (scale %.2f)", spec.name, weights, spec.lora_scale)
