"""A public guider: a diffusers ``ControlNetModel`` steering the frozen SD UNet from the gray photo.

The paper's guider F (Liu et al. 2023, sec. 3.2.2, Eq. 2) is a trainable replica of the UNet
that *fuses* its features into the frozen UNet. Until someone publishes trained weights for
it, a ControlNet of the same family (Zhang et al. 2023: a trainable copy of the UNet's encoder
whose zero-initialised outputs are *added* to the frozen UNet's skip connections) can take
its place: colorization ControlNets such as ``latentcat/control_v1p_sd15_brightness`` were
trained on millions of gray/colour pairs with the gray photo as their condition.

``ControlNetUNet`` is the guided denoising step: the ControlNet reads ``z_t``, the text and
the condition (the gray photo as a 3-channel image in [0, 1] at the working size) and its
residuals go into the UNet through ``down_block_additional_residuals`` /
``mid_block_additional_residual``, scaled by ``conditioning_scale`` (0 = the plain UNet).
``check_controlnet_fits`` says in one sentence why a ControlNet does not fit a base.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

logger = logging.getLogger(__name__)

DEFAULT_CONDITIONING_SCALE = 1.0


def controlnet_condition(gray01: torch.Tensor) -> torch.Tensor:
    """The ControlNet's condition from the gray photo ``(1, 1, h, w)`` in [0, 1]: the same
    values on three channels, in [0, 1] (diffusers' ControlNet pipelines do not normalise)."""
    return gray01.repeat(1, 3, 1, 1)


def check_controlnet_fits(controlnet, unet, vae_scale_factor: int) -> None:
    """Raise ``ValueError`` naming the mismatch when ``controlnet`` was not made for ``unet``."""
    mine, theirs = controlnet.config, unet.config
    for key in ("block_out_channels", "down_block_types", "cross_attention_dim",
                "layers_per_block", "in_channels"):
        a, b = getattr(mine, key), getattr(theirs, key)
        if list(_as_list(a)) != list(_as_list(b)):
            raise ValueError(
                f"The ControlNet was made for a different base model ({key}: {a} in the "
                f"ControlNet, {b} in the base UNet)."
            )
    embedding = list(mine.conditioning_embedding_out_channels or ())
    factor = 2 ** max(len(embedding) - 1, 0)
    if factor != vae_scale_factor:
        raise ValueError(
            f"The ControlNet reads its condition at 1/{factor} of the latent resolution's "
            f"pixels, but the base model's VAE works at 1/{vae_scale_factor}."
        )


class ControlNetUNet(nn.Module):
    """eps = UNet(z_t, t, text, + ControlNet(z_t, t, text, condition) * scale).

    ``forward(sample, timestep, encoder_hidden_states, condition, scale)``; ``condition`` is
    already batched like ``sample``. The UNet and the ControlNet are frozen and unmodified.
    """

    def __init__(self, unet: nn.Module, controlnet: nn.Module) -> None:
        super().__init__()
        unet.requires_grad_(False)
        controlnet.requires_grad_(False)
        self.unet = unet
        self.controlnet = controlnet

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        encoder_hidden_states: torch.Tensor,
        condition: torch.Tensor,
        scale: float = DEFAULT_CONDITIONING_SCALE,
    ) -> torch.Tensor:
        down, mid = self.controlnet(
            sample,
            timestep,
            encoder_hidden_states=encoder_hidden_states,
            controlnet_cond=condition.to(self.controlnet.dtype),
            conditioning_scale=float(scale),
            return_dict=False,
        )
        return self.unet(
            sample,
            timestep,
            encoder_hidden_states,
            down_block_additional_residuals=down,
            mid_block_additional_residual=mid,
            return_dict=False,
        )[0]


def _as_list(value):
    return value if isinstance(value, list | tuple) else [value]
