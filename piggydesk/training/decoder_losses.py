"""Losses of the lightness-aware decoder (Liu et al. 2023, Eq. 5): L = L1 + 0.1 Lp + lambda_d Ld.

* ``Perceptual``: LPIPS [Zhang et al. 2018] on VGG16 features (the perceptual loss L_p). Its
  weights cannot be downloaded here, so they are read from local files: a torchvision
  ``vgg16`` state dict (``features.N.*``), the full LPIPS/taming ``vgg.pth`` (``net.sliceK.N.*``
  and ``linK.model.1.weight``) or the lpips package's ``vgg.pth`` (only ``linK.*``, combined
  with a VGG16 file). Without the learned ``lin`` layers the distance is LPIPS's unweighted
  baseline (channel-normalised feature differences summed over channels).
* ``PatchDiscriminator``: the PatchGAN of Isola et al. 2017 as used by Esser et al. 2021
  (``NLayerDiscriminator``), trained with the hinge loss.
* ``adaptive_weight``: lambda_d of Esser et al. 2021, ``||grad_w L_rec|| / (||grad_w L_G|| + 1e-4)``
  at the last decoder layer ``w``, clamped to [0, 1e4] and detached.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

logger = logging.getLogger(__name__)

# torchvision's vgg16().features: conv channel counts, "M" = max-pool
_VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512]
# LPIPS taps relu1_2, relu2_2, relu3_3, relu4_3, relu5_3: features[0:4], [4:9], [9:16], ...
_SLICES = ((0, 4), (4, 9), (9, 16), (16, 23), (23, 30))
_CHANNELS = (64, 128, 256, 512, 512)


class PerceptualWeightsError(ValueError):
    """The perceptual network's weight files are unusable; the message says why."""


def _vgg16_features() -> nn.Sequential:
    layers: list[nn.Module] = []
    c_in = 3
    for v in _VGG16:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(c_in, int(v), kernel_size=3, padding=1), nn.ReLU(inplace=False)]
            c_in = int(v)
    return nn.Sequential(*layers)


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise PerceptualWeightsError(f"The perceptual weights file {path} does not exist.")
    try:
        if path.suffix == ".safetensors":
            return load_file(path)
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same sentence
        raise PerceptualWeightsError(
            f"The perceptual weights file {path} could not be read: {exc}"
        ) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise PerceptualWeightsError(f"{path} does not hold a state dict.")
    return {str(k): v for k, v in state.items() if isinstance(v, torch.Tensor)}


def _normalise_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map torchvision / LPIPS / taming key layouts onto ``features.N.*`` and ``linK.weight``."""
    out = {}
    for key, value in state.items():
        k = key.removeprefix("module.").removeprefix("perceptual_loss.")
        parts = k.split(".")
        if k.startswith("features.") and len(parts) == 3:
            out[k] = value
        elif k.startswith("net.slice") and len(parts) == 4:  # net.slice2.5.weight
            out[f"features.{parts[2]}.{parts[3]}"] = value
        elif k.startswith("lin") and k.endswith("model.1.weight"):  # lin0.model.1.weight
            out[f"{parts[0]}.weight"] = value
    return out


class Perceptual(nn.Module):
    """LPIPS distance on VGG16 features for images in [-1, 1]; frozen."""

    def __init__(self) -> None:
        super().__init__()
        self.features = _vgg16_features()
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1))
        self.lin = nn.ParameterList(nn.Parameter(torch.ones(1, c, 1, 1)) for c in _CHANNELS)
        self.learned_lin = False
        self.requires_grad_(False)
        self.eval()

    @classmethod
    def from_files(cls, paths: Sequence[str | Path]) -> Perceptual:
        """Load VGG16 (and optionally LPIPS lin) weights from one or more local files."""
        model = cls()
        merged: dict[str, torch.Tensor] = {}
        for path in paths:
            merged.update(_normalise_keys(_read_state(Path(path))))
        conv = {k: v for k, v in merged.items() if k.startswith("features.")}
        expected = {f"features.{k}" for k in model.features.state_dict()}
        missing = sorted(expected - set(conv))
        if missing:
            raise PerceptualWeightsError(
                "The perceptual weights lack the VGG16 convolutions "
                f"({len(missing)} tensors missing, e.g. {missing[0]}); give a torchvision vgg16 "
                "state dict or an LPIPS/taming vgg.pth."
            )
        try:
            model.features.load_state_dict(
                {k.removeprefix("features."): v for k, v in conv.items() if k in expected}
            )
        except RuntimeError as exc:
            raise PerceptualWeightsError(f"The VGG16 weights do not fit: {exc}") from None
        lin = [merged.get(f"lin{i}.weight") for i in range(len(_CHANNELS))]
        if all(w is not None for w in lin):
            with torch.no_grad():
                for param, w in zip(model.lin, lin):
                    param.copy_(w.reshape(param.shape))
            model.learned_lin = True
        logger.info(
            "perceptual loss: VGG16 from %s, %s",
            ", ".join(str(p) for p in paths),
            "learned LPIPS weights"
            if model.learned_lin
            else "unweighted LPIPS baseline (no lin layers)",
        )
        model.requires_grad_(False)
        return model.eval()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-image LPIPS distance ``(B,)`` between ``x`` and ``y`` in [-1, 1]."""
        h = torch.cat([x, y]).float()
        h = (h - self.shift) / self.scale
        total = torch.zeros(x.shape[0], device=x.device)
        for lin, (a, b) in zip(self.lin, _SLICES):
            for layer in self.features[a:b]:
                h = layer(h)
            fx, fy = h.chunk(2)
            fx = fx / (fx.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
            fy = fy / (fy.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
            total = total + ((fx - fy).pow(2) * lin).sum(dim=1).mean(dim=(1, 2))
        return total


class PatchDiscriminator(nn.Module):
    """PatchGAN discriminator (``NLayerDiscriminator`` of pix2pix / taming-transformers)."""

    def __init__(self, in_channels: int = 3, ndf: int = 64, n_layers: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2, True),
        ]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, 4, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1))
        self.main = nn.Sequential(*layers)
        for m in self.modules():  # taming's weights_init
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.02)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


def hinge_d_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    return 0.5 * (F.relu(1.0 - logits_real).mean() + F.relu(1.0 + logits_fake).mean())


def adaptive_weight(
    rec_loss: torch.Tensor, g_loss: torch.Tensor, last_layer: torch.Tensor, max_weight: float = 1e4
) -> torch.Tensor:
    """lambda_d of Esser et al. 2021 (Eq. 7 there): balance the two gradients at ``last_layer``."""
    rec_grad = torch.autograd.grad(rec_loss, last_layer, retain_graph=True)[0]
    g_grad = torch.autograd.grad(g_loss, last_layer, retain_graph=True)[0]
    weight = rec_grad.norm() / (g_grad.norm() + 1e-4)
    return torch.clamp(weight, 0.0, max_weight).detach()
