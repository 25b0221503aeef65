"""The latent diffusion guider F of Liu et al. 2023 (sec. 3.2.2, Eq. 2-3, appendix C).

The guider is a replica of the Stable Diffusion UNet, built from the base UNet's config and
initialised from its weights, whose input layer also accepts the features of the hint/gray
encoder E_g (``hint_encoder.HintEncoder``) concatenated with the noisy latent; the extra
input weights start at zero. It takes the text embedding like the base UNet. Its feature
maps at the output of each down block, each up block and the output layer are injected into
the frozen base UNet by the Eq. 2 fusions it owns (``fusion.FeatureFusion``), so one saved
``DiffusionGuider`` holds everything the paper trains for the diffusion stage: E_g, the UNet
replica and the fusions. The base UNet is not part of it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial

import torch
from diffusers import UNet2DConditionModel
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput
from torch import nn

from piggydesk.models.fusion import FeatureFusion, HookState, install_hooks
from piggydesk.models.hint_encoder import HintEncoder

logger = logging.getLogger(__name__)


@dataclass
class GuiderFeatures(BaseOutput):
    """The guider's feature maps F_F,i that Eq. 2 injects.

    ``down[i]``: output of down block i, ``(B, block_out_channels[i], h_i, w_i)``;
    ``up[i]``: output of up block i, ``(B, reversed(block_out_channels)[i], ...)``;
    ``out``: the output layer, ``(B, out_channels, h, w)`` at latent size.
    """

    down: tuple[torch.Tensor, ...]
    up: tuple[torch.Tensor, ...]
    out: torch.Tensor


def _clean_unet_config(config) -> dict:
    return {k: v for k, v in dict(config).items() if not k.startswith("_")}


class DiffusionGuider(ModelMixin, ConfigMixin):
    """E_g + a UNet replica with a widened input layer + the Eq. 2 fusions.

    ``unet_config`` is the *base* UNet's config; the replica's ``in_channels`` is the base's
    plus ``hint_encoder_config['out_channels']``.
    """

    @register_to_config
    def __init__(self, unet_config: dict, hint_encoder_config: dict) -> None:
        super().__init__()
        base = _clean_unet_config(unet_config)
        self.hint_encoder = HintEncoder(**hint_encoder_config)
        hint_channels = int(self.hint_encoder.config.out_channels)
        replica = dict(base)
        replica["in_channels"] = int(base.get("in_channels", 4)) + hint_channels
        self.unet = UNet2DConditionModel.from_config(replica)
        channels = list(self.unet.config.block_out_channels)
        self.fusion_down = nn.ModuleList(FeatureFusion(c) for c in channels)
        self.fusion_up = nn.ModuleList(FeatureFusion(c) for c in reversed(channels))
        self.fusion_out = FeatureFusion(int(self.unet.config.out_channels))
        # Registered here, never inside a forward pass (torch.compile could not trace that).
        self._capture_state = _install_capture_hooks(self.unet)

    @property
    def base_in_channels(self) -> int:
        return int(self.unet.config.in_channels) - int(self.hint_encoder.config.out_channels)

    @classmethod
    def from_base(cls, unet: UNet2DConditionModel, vae) -> DiffusionGuider:
        """A new guider for ``unet``: replica weights from ``unet``, E_g from ``vae``'s encoder.

        The replica's input layer copies the base's filters for the latent channels and gets
        zero filters for the E_g channels, and the fusions are identity/zero (Eq. 2), so the
        untrained piggybacked model computes exactly what ``unet`` computes.
        """
        hint_encoder = HintEncoder.from_vae(vae)
        guider = cls(
            unet_config=_clean_unet_config(unet.config),
            hint_encoder_config=_clean_unet_config(hint_encoder.config),
        )
        guider.hint_encoder.load_state_dict(hint_encoder.state_dict())
        source = unet.state_dict()
        target = guider.unet.state_dict()
        with torch.no_grad():
            for name, tensor in target.items():
                src = source[name]
                if src.shape == tensor.shape:
                    tensor.copy_(src)
                elif name == "conv_in.weight":
                    tensor.zero_()
                    tensor[:, : src.shape[1]] = src
                else:
                    raise ValueError(f"The base UNet's {name} does not fit the guider replica.")
        guider.unet.load_state_dict(target)
        return guider

    def check_compatible(self, unet: UNet2DConditionModel) -> None:
        """Raise ``ValueError`` naming the mismatch when this guider was not made for ``unet``."""
        mine, theirs = self.unet.config, unet.config
        for key in (
            "block_out_channels",
            "down_block_types",
            "up_block_types",
            "cross_attention_dim",
            "out_channels",
            "layers_per_block",
        ):
            if list(_as_list(getattr(mine, key))) != list(_as_list(getattr(theirs, key))):
                raise ValueError(
                    f"The guider was built for a different base model ({key}: "
                    f"{getattr(mine, key)} here, {getattr(theirs, key)} in the base UNet)."
                )
        if self.base_in_channels != int(theirs.in_channels):
            raise ValueError(
                f"The guider expects {self.base_in_channels} latent channels, the base UNet "
                f"takes {theirs.in_channels}."
            )

    def encode_hints(self, hint_input: torch.Tensor) -> torch.Tensor:
        """E_g(I_g, I_h): ``(B, 4, H, W)`` pixel-size input to latent-size features."""
        return self.hint_encoder(hint_input.to(self.dtype))

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        encoder_hidden_states: torch.Tensor,
        hint_features: torch.Tensor,
    ) -> GuiderFeatures:
        """Run the replica on ``cat(z_t, E_g features)`` and collect F_F,i (Eq. 2)."""
        state = self._capture_state
        captured: dict[str, torch.Tensor] = {}
        state.active = captured
        try:
            x = torch.cat([sample, hint_features.to(sample.dtype)], dim=1)
            out = self.unet(x, timestep, encoder_hidden_states, return_dict=False)[0]
        finally:
            state.active = None
        down = tuple(captured[f"down{i}"] for i in range(len(self.unet.down_blocks)))
        up = tuple(captured[f"up{i}"] for i in range(len(self.unet.up_blocks)))
        return GuiderFeatures(down=down, up=up, out=out)


def _capture(key: str, first: bool, module: nn.Module, _args, output) -> None:
    state = module._piggydesk_capture
    if state.active is not None:
        state.active[key] = output[0] if first else output


def _install_capture_hooks(unet: UNet2DConditionModel) -> HookState:
    """Hooks (registered once, see ``fusion.HookState``) that keep F_F,i during a forward."""
    hooks = [(b, partial(_capture, f"down{i}", True)) for i, b in enumerate(unet.down_blocks)]
    hooks += [(b, partial(_capture, f"up{i}", False)) for i, b in enumerate(unet.up_blocks)]
    return install_hooks(unet, "_piggydesk_capture", hooks)


def _as_list(value):
    return value if isinstance(value, list | tuple) else [value]
