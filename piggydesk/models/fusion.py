"""Feature injection from the diffusion guider into the frozen Stable Diffusion UNet (Eq. 2).

Liu et al. 2023, sec. 3.2.2: the guider's feature maps F_F,i at the output of each
down-sampling block, each up-sampling block and the output layer are injected into the
corresponding layer of the denoising UNet eps_theta as

    F'_i = Conv1x1( Concat( F_eps,i , Conv1x1(F_F,i) ) )                           (Eq. 2)

and F'_i replaces F_eps,i for the rest of the UNet's forward pass.

The base UNet stays frozen and its weights *unmodified*: ``PiggybackedUNet`` runs the base
UNet's own ``forward`` with forward hooks on ``down_blocks[i]``, ``up_blocks[i]`` and
``conv_out`` that apply the fusions during a guided call only (``install_fusion_hooks``), so
the same UNet object still computes plain Stable Diffusion outside one.

Initialisation: the outer 1x1 convolution is the identity on the UNet half of its input and
zero on the guider half, so an untrained guider leaves the base UNet's computation exactly
unchanged. The inner 1x1 convolution (guider path) starts as the identity where the channel
counts match (default init otherwise); it must not also start at zero, or no gradient would
ever reach either convolution.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from piggydesk.models.guider import DiffusionGuider

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


class HookState:
    """Per-call tensors shared by a forward pass and the hooks it installed once.

    The hooks stay registered for the lifetime of the module and do nothing while ``active``
    is ``None``. Registering them once (instead of around every call) lets ``torch.compile``
    trace a whole guided step as one graph: the per-call tensors are values of that trace,
    not closure cells it would have to guard on (which recompiled every step).
    """

    def __init__(self) -> None:
        self.active = None


def install_hooks(owner: nn.Module, attribute: str, hooks: list[tuple[nn.Module, Callable]]):
    """Register each ``(module, forward_hook)`` once and give them one shared ``HookState``.

    The state is stored as ``attribute`` on ``owner`` and on every hooked module (where the
    hook reads it, so a deep copy gets its own). Idempotent: a second call returns the state.
    """
    existing = getattr(owner, attribute, None)
    if existing is not None:
        return existing
    state = HookState()
    for module, hook in hooks:
        setattr(module, attribute, state)
        module.register_forward_hook(hook)
    setattr(owner, attribute, state)
    return state


def _inject_down(index: int, module: nn.Module, _args, output):
    state = module._piggydesk_fusion
    if state.active is None:
        return None
    guider, features = state.active
    sample, res_samples = output
    fused = guider.fusion_down[index](sample, features.down[index])
    # A down block's last skip tensor *is* its output: the fused map replaces both.
    if len(res_samples) and res_samples[-1] is sample:
        res_samples = (*res_samples[:-1], fused)
    return fused, res_samples


def _inject_up(index: int, module: nn.Module, _args, output):
    state = module._piggydesk_fusion
    if state.active is None:
        return None
    guider, features = state.active
    return guider.fusion_up[index](output, features.up[index])


def _inject_out(module: nn.Module, _args, output):
    state = module._piggydesk_fusion
    if state.active is None:
        return None
    guider, features = state.active
    return guider.fusion_out(output, features.out)


def install_fusion_hooks(unet: nn.Module) -> HookState:
    """Register the Eq. 2 injection hooks on ``unet`` once (idempotent) and return their state.

    While ``state.active`` is ``(guider, features)``, the outputs of ``down_blocks[i]``,
    ``up_blocks[i]`` and ``conv_out`` are replaced by the fusions of ``guider``; while it is
    ``None`` the UNet computes plain Stable Diffusion. The state lives on the hooked modules
    (not in closures), so a deep copy of the UNet gets its own.
    """
    hooks = [(block, partial(_inject_down, i)) for i, block in enumerate(unet.down_blocks)]
    hooks += [(block, partial(_inject_up, i)) for i, block in enumerate(unet.up_blocks)]
    hooks.append((unet.conv_out, _inject_out))
    return install_hooks(unet, "_piggydesk_fusion", hooks)


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
        if len(guider.fusion_down) != len(unet.down_blocks) or len(guider.fusion_up) != len(
            unet.up_blocks
        ):
            raise ValueError(
                "The guider's fusions do not match the base UNet's blocks "
                f"({len(guider.fusion_down)}/{len(guider.fusion_up)} fusions for "
                f"{len(unet.down_blocks)}/{len(unet.up_blocks)} down/up blocks)."
            )
        self.unet = unet
        self.guider = guider
        install_fusion_hooks(unet)

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        encoder_hidden_states: torch.Tensor,
        hint_features: torch.Tensor,
    ) -> torch.Tensor:
        features = self.guider(sample, timestep, encoder_hidden_states, hint_features)
        state = self.unet._piggydesk_fusion
        state.active = (self.guider, features)
        try:
            return self.unet(sample, timestep, encoder_hidden_states, return_dict=False)[0]
        finally:
            state.active = None
