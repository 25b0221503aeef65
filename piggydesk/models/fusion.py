"""Feature injection from the diffusion guider into the frozen Stable Diffusion UNet (Eq. 2).

Liu et al. 2023, sec. 3.2.2: the guider's feature maps F_F,i at the output of each
down-sampling block, each up-sampling block and the output layer are injected into the
corresponding layer of the denoising UNet eps_theta as

    F'_i = Conv1x1( Concat( F_eps,i , Conv1x1(F_F,i) ) )                           (Eq. 2)

and F'_i replaces F_eps,i for the rest of the UNet's forward pass.

The base UNet stays frozen and *unmodified*: ``PiggybackedUNet`` runs the base UNet's own
``forward`` with temporary forward hooks on ``down_blocks[i]``, ``up_blocks[i]`` and
``conv_out`` that apply the fusions, and removes them afterwards, so the same UNet object
still computes plain Stable Diffusion outside a guided call (the SDEdit mode uses that).

Initialisation: the outer 1x1 convolution is the identity on the UNet half of its input and
zero on the guider half, so an untrained guider leaves the base UNet's computation exactly
unchanged. The inner 1x1 convolution (guider path) starts as the identity where the channel
counts match (default init otherwise); it must not also start at zero, or no gradient would
ever reach either convolution.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from piggydesk.models.guider import DiffusionGuider, GuiderFeatures

logger = logging.getLogger(__name__)


class FeatureFusion(nn.Module):
    """One Eq. 2 fusion: ``fuse(cat(f_unet, guider_proj(f_guider)))``, identity at init."""

    def __init__(self, unet_channels: int, guider_channels: int | None = None) -> None:
        super().__init__()
        guider_channels = int(guider_channels or unet_channels)
        self.unet_channels = int(unet_channels)
        self.guider_proj = nn.Conv2d(guider_channels, unet_channels, kernel_size=1)
        self.fuse = nn.Conv2d(2 * unet_channels, unet_channels, kernel_size=1)
        self.reset_to_identity()

    @torch.no_grad()
    def reset_to_identity(self) -> None:
        """Identity on the UNet path, zero on the guider path (see the module docstring)."""
        c = self.unet_channels
        if self.guider_proj.in_channels == c:
            self.guider_proj.weight.zero_()
            self.guider_proj.weight[:, :, 0, 0].copy_(torch.eye(c))
            self.guider_proj.bias.zero_()
        self.fuse.weight.zero_()
        self.fuse.weight[:, :c, 0, 0].copy_(torch.eye(c))
        self.fuse.bias.zero_()

    def forward(self, f_unet: torch.Tensor, f_guider: torch.Tensor) -> torch.Tensor:
        guided = self.guider_proj(f_guider.to(self.guider_proj.weight.dtype))
        return self.fuse(torch.cat([f_unet, guided.to(f_unet.dtype)], dim=1))


@contextmanager
def inject_guidance(
    unet: nn.Module,
    features: GuiderFeatures,
    down_fusions: Sequence[FeatureFusion],
    up_fusions: Sequence[FeatureFusion],
    out_fusion: FeatureFusion,
) -> Iterator[None]:
    """Temporarily hook Eq. 2 into ``unet`` (a diffusers ``UNet2DConditionModel``).

    A down block returns ``(sample, res_samples)`` whose last skip tensor *is* the block's
    output; the fused map replaces both, so the next block and the matching skip connection
    see F'. Up blocks and ``conv_out`` return a tensor, which is replaced by F'.
    """
    if len(down_fusions) != len(unet.down_blocks) or len(up_fusions) != len(unet.up_blocks):
        raise ValueError(
            "The guider's fusions do not match the base UNet's blocks "
            f"({len(down_fusions)}/{len(up_fusions)} fusions for "
            f"{len(unet.down_blocks)}/{len(unet.up_blocks)} down/up blocks)."
        )
    handles = []

    def down_hook(index: int):
        def hook(_module, _args, output):
            sample, res_samples = output
            fused = down_fusions[index](sample, features.down[index])
            if len(res_samples) and res_samples[-1] is sample:
                res_samples = (*res_samples[:-1], fused)
            return fused, res_samples

        return hook

    def up_hook(index: int):
        def hook(_module, _args, output):
            return up_fusions[index](output, features.up[index])

        return hook

    def out_hook(_module, _args, output):
        return out_fusion(output, features.out)

    try:
        for i, block in enumerate(unet.down_blocks):
            handles.append(block.register_forward_hook(down_hook(i)))
        for i, block in enumerate(unet.up_blocks):
            handles.append(block.register_forward_hook(up_hook(i)))
        handles.append(unet.conv_out.register_forward_hook(out_hook))
        yield
    finally:
        for handle in handles:
            handle.remove()


class PiggybackedUNet(nn.Module):
    """F(eps_theta, I_g, I_h): the frozen base UNet steered by the guider through Eq. 2.

    ``forward(sample, timestep, encoder_hidden_states, hint_features) -> noise prediction``,
    shapes as for the base UNet; ``hint_features`` is E_g's output (computed once per run by
    ``DiffusionGuider.encode_hints``). The base UNet is frozen here (``requires_grad_(False)``)
    and never modified; only the guider (E_g, the UNet replica and the fusions) trains.
    """

    def __init__(self, unet: nn.Module, guider: DiffusionGuider) -> None:
        super().__init__()
        unet.requires_grad_(False)
        self.unet = unet
        self.guider = guider

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        encoder_hidden_states: torch.Tensor,
        hint_features: torch.Tensor,
    ) -> torch.Tensor:
        features = self.guider(sample, timestep, encoder_hidden_states, hint_features)
        with inject_guidance(
            self.unet,
            features,
            self.guider.fusion_down,
            self.guider.fusion_up,
            self.guider.fusion_out,
        ):
            return self.unet(sample, timestep, encoder_hidden_states, return_dict=False)[0]
