"""The lightness-aware VQVAE decoder of Liu et al. 2023 (sec. 3.3, Eq. 4, appendix C, Fig. 18).

The Stable Diffusion VAE decoder D stays frozen. A trainable grayscale encoder G, a replica of
the VAE encoder without its middle blocks, reads the gray photo I_g; its inner features
F_G,i at each down-sampling level (the output of level i's ResNets, before its down-sampler)
are added to the decoder's features at the matching resolution through 1x1 convolutions:

    F'_D,i = F_D,i + Conv1x1(F_G,i)                                                (Eq. 4)

The decoder feature F_D,i is the output of the last ResNet of the decoder's up block that
works at that resolution (before its up-sampler), so the whole thing "resembles a UNet
disconnected in the middle layers". The 1x1 convolutions start at zero, so an untrained G
decodes exactly like the plain VAE decoder; they belong to ``GrayEncoder`` (the component
the bundle stores as ``gray_encoder``), the VAE is left untouched and is applied with
temporary forward hooks (``inject_lightness``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.unets.unet_2d_blocks import get_down_block
from torch import nn

logger = logging.getLogger(__name__)


class GrayEncoder(ModelMixin, ConfigMixin):
    """G: VAE-encoder architecture minus the middle blocks, plus the zero-initialised Eq. 4 convs.

    ``forward(gray (B, 1, H, W) in [-1, 1]) -> [Conv1x1(F_G,i) for each level i]`` with level
    ``i`` at ``H / 2**i`` and ``decoder_block_out_channels[i]`` channels.
    """

    @register_to_config
    def __init__(
        self,
        in_channels: int = 1,
        down_block_types: tuple[str, ...] = ("DownEncoderBlock2D",) * 4,
        block_out_channels: tuple[int, ...] = (128, 256, 512, 512),
        decoder_block_out_channels: tuple[int, ...] | None = None,
        layers_per_block: int = 2,
        norm_num_groups: int = 32,
        act_fn: str = "silu",
    ) -> None:
        super().__init__()
        block_out_channels = tuple(block_out_channels)
        decoder_channels = tuple(decoder_block_out_channels or block_out_channels)
        if len(decoder_channels) != len(block_out_channels):
            raise ValueError("The gray encoder needs one decoder level per encoder level.")
        self.conv_in = nn.Conv2d(in_channels, block_out_channels[0], kernel_size=3, padding=1)
        self.down_blocks = nn.ModuleList()
        output_channel = block_out_channels[0]
        for i, block_type in enumerate(down_block_types):
            input_channel = output_channel
            output_channel = block_out_channels[i]
            self.down_blocks.append(
                get_down_block(
                    block_type,
                    num_layers=layers_per_block,
                    in_channels=input_channel,
                    out_channels=output_channel,
                    add_downsample=i != len(block_out_channels) - 1,
                    resnet_eps=1e-6,
                    downsample_padding=0,
                    resnet_act_fn=act_fn,
                    resnet_groups=norm_num_groups,
                    attention_head_dim=output_channel,
                    temb_channels=None,
                )
            )
        self.injections = nn.ModuleList(
            nn.Conv2d(c_in, c_out, kernel_size=1)
            for c_in, c_out in zip(block_out_channels, decoder_channels)
        )
        self.zero_injections()

    @torch.no_grad()
    def zero_injections(self) -> None:
        for conv in self.injections:
            conv.weight.zero_()
            conv.bias.zero_()

    @classmethod
    def from_vae(cls, vae, copy_weights: bool = True) -> GrayEncoder:
        """A G matching ``vae``; with ``copy_weights`` it starts from the VAE encoder's weights
        (input filters summed over RGB, since a gray photo has R = G = B)."""
        cfg = vae.config
        model = cls(
            in_channels=1,
            down_block_types=tuple(cfg.down_block_types),
            block_out_channels=tuple(cfg.block_out_channels),
            decoder_block_out_channels=tuple(cfg.block_out_channels),
            layers_per_block=cfg.layers_per_block,
            norm_num_groups=cfg.norm_num_groups,
            act_fn=cfg.act_fn,
        )
        if copy_weights:
            source = vae.encoder.state_dict()
            target = model.state_dict()
            with torch.no_grad():
                for name, tensor in target.items():
                    src = source.get(name)
                    if src is None:
                        continue
                    if src.shape == tensor.shape:
                        tensor.copy_(src)
                    elif name == "conv_in.weight":
                        tensor.copy_(src.sum(dim=1, keepdim=True))
            model.load_state_dict(target)
        return model

    def features(self, gray: torch.Tensor) -> list[torch.Tensor]:
        """F_G,i: the output of each level's ResNets, before its down-sampler."""
        h = self.conv_in(gray.to(self.conv_in.weight.dtype))
        out = []
        for block in self.down_blocks:
            for resnet in block.resnets:
                h = resnet(h, temb=None)
            out.append(h)
            if block.downsamplers is not None:
                for down in block.downsamplers:
                    h = down(h)
        return out

    def forward(self, gray: torch.Tensor) -> list[torch.Tensor]:
        return [conv(f) for conv, f in zip(self.injections, self.features(gray))]

    def check_compatible(self, vae) -> None:
        """Raise ``ValueError`` naming the mismatch when G does not fit ``vae``'s decoder."""
        theirs = list(vae.config.block_out_channels)
        mine = list(self.config.decoder_block_out_channels or self.config.block_out_channels)
        if mine != theirs:
            raise ValueError(
                f"The lightness-aware decoder was built for a different VAE (decoder channels "
                f"{mine} here, {theirs} in the base VAE)."
            )


@contextmanager
def inject_lightness(decoder: nn.Module, residuals: Sequence[torch.Tensor]) -> Iterator[None]:
    """Temporarily add Eq. 4's residuals to ``decoder`` (a diffusers VAE ``Decoder``).

    ``residuals[i]`` is at encoder level ``i`` (resolution ``H / 2**i``); the decoder's up block
    ``j`` works at level ``n - 1 - j`` before up-sampling, so the residual is added to the
    output of its last ResNet.
    """
    n = len(decoder.up_blocks)
    if len(residuals) != n:
        raise ValueError(f"{len(residuals)} gray-encoder levels for {n} decoder levels.")
    handles = []

    def add(residual: torch.Tensor):
        def hook(_module, _args, output):
            return output + residual.to(output.dtype)

        return hook

    try:
        for j, block in enumerate(decoder.up_blocks):
            handles.append(block.resnets[-1].register_forward_hook(add(residuals[n - 1 - j])))
        yield
    finally:
        for handle in handles:
            handle.remove()


class LightnessAwareDecoder(nn.Module):
    """D': the frozen VAE decoder with G's Eq. 4 shortcuts; ``forward(latents, gray) -> rgb``.

    ``latents`` are *unscaled* VAE latents (already divided by ``scaling_factor``); ``gray`` is
    ``(B, 1, H, W)`` in [-1, 1] at the output size; the result is the VAE's [-1, 1] RGB.
    """

    def __init__(self, vae: nn.Module, gray_encoder: GrayEncoder) -> None:
        super().__init__()
        vae.requires_grad_(False)
        self.vae = vae
        self.gray_encoder = gray_encoder

    def forward(self, latents: torch.Tensor, gray: torch.Tensor) -> torch.Tensor:
        residuals = self.gray_encoder(gray)
        with inject_lightness(self.vae.decoder, residuals):
            return self.vae.decode(latents.to(self.vae.dtype), return_dict=False)[0]
