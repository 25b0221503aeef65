"""The hint/gray encoder E_g of the diffusion guider (Liu et al. 2023, sec. 3.2.2 and appendix C).

E_g has the architecture of the Stable Diffusion VAE encoder. It takes the grayscale image
I_g and the colour-hint map I_h (the ``core.hints`` rasterisation: hint a*, b* and the hint
mask) and gives a feature map at latent resolution, which the guider concatenates with the
noisy latent at its input layer.

Input layout (``HintEncoder.prepare_input`` builds it), all at working (pixel) size:

* channel 0: the gray image as sRGB gray in [-1, 1] (what the VAE encoder sees for a gray photo);
* channels 1-2: hint a*, b* divided by ``AB_SCALE`` (0 outside hints);
* channel 3: the hint mask (1 inside hint patches, 0 elsewhere).
"""

from __future__ import annotations

import logging

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.autoencoders.vae import Encoder
from diffusers.models.modeling_utils import ModelMixin

logger = logging.getLogger(__name__)

AB_SCALE = 110.0
"""a*, b* are divided by this so the hint colours lie roughly in [-1, 1]."""

HINT_INPUT_CHANNELS = 4  # gray, a, b, mask


class HintEncoder(ModelMixin, ConfigMixin):
    """E_g: a VAE-encoder-shaped network mapping (gray, hint ab, hint mask) to latent-size features.

    ``forward(x (B, 4, H, W)) -> (B, out_channels, H / f, W / f)`` where ``f`` is the VAE's
    down-sampling factor ``2 ** (len(block_out_channels) - 1)``.
    """

    @register_to_config
    def __init__(
        self,
        in_channels: int = HINT_INPUT_CHANNELS,
        out_channels: int = 4,
        down_block_types: tuple[str, ...] = ("DownEncoderBlock2D",) * 4,
        block_out_channels: tuple[int, ...] = (128, 256, 512, 512),
        layers_per_block: int = 2,
        norm_num_groups: int = 32,
        act_fn: str = "silu",
        mid_block_add_attention: bool = True,
    ) -> None:
        super().__init__()
        self.encoder = Encoder(
            in_channels=in_channels,
            out_channels=out_channels,
            down_block_types=tuple(down_block_types),
            block_out_channels=tuple(block_out_channels),
            layers_per_block=layers_per_block,
            norm_num_groups=norm_num_groups,
            act_fn=act_fn,
            double_z=False,
            mid_block_add_attention=mid_block_add_attention,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    @classmethod
    def from_vae(cls, vae, out_channels: int | None = None, copy_weights: bool = True) -> HintEncoder:
        """An E_g with the VAE encoder's architecture, optionally starting from its weights.

        With ``copy_weights`` every tensor whose shape matches is copied; the input layer's gray
        channel gets the sum of the RGB filters (a gray photo has R = G = B), the hint channels
        start at zero, and the output layer keeps the first ``out_channels`` of the VAE's
        ``2 * latent_channels`` outputs (the posterior mean). So an untrained E_g sees the VAE
        latent of the gray photo, a sensible starting point for training.
        """
        cfg = vae.config
        out_channels = int(out_channels or cfg.latent_channels)
        model = cls(
            in_channels=HINT_INPUT_CHANNELS,
            out_channels=out_channels,
            down_block_types=tuple(cfg.down_block_types),
            block_out_channels=tuple(cfg.block_out_channels),
            layers_per_block=cfg.layers_per_block,
            norm_num_groups=cfg.norm_num_groups,
            act_fn=cfg.act_fn,
            mid_block_add_attention=getattr(cfg, "mid_block_add_attention", True),
        )
        if not copy_weights:
            return model
        source = vae.encoder.state_dict()
        target = model.encoder.state_dict()
        with torch.no_grad():
            for name, tensor in target.items():
                src = source.get(name)
                if src is None:
                    continue
                if src.shape == tensor.shape:
                    tensor.copy_(src)
                elif name == "conv_in.weight":
                    tensor.zero_()
                    tensor[:, 0:1] = src.sum(dim=1, keepdim=True)
                elif name in ("conv_out.weight", "conv_out.bias") and src.shape[0] >= out_channels:
                    tensor.copy_(src[:out_channels])
        model.encoder.load_state_dict(target)
        return model

    @staticmethod
    def prepare_input(
        gray: torch.Tensor, hint_ab: torch.Tensor, hint_mask: torch.Tensor
    ) -> torch.Tensor:
        """Stack ``gray`` (B,1,H,W) in [-1,1], ``hint_ab`` (B,2,H,W) Lab units, ``hint_mask``."""
        return torch.cat([gray, hint_ab / AB_SCALE, hint_mask], dim=1)
