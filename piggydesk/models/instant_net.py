"""The instant engine's network: a small hint-aware U-Net for user-guided colorization.

In the spirit of Zhang et al. 2017 ("Real-Time User-Guided Image Colorization with Learned
Deep Priors"): the input is the lightness L, a sparse map of user hint colours (a*, b*) and
its mask; the network predicts

* ``ab``: a colour (a*, b*) per pixel at the input resolution (regression head, trained with a
  smooth-L1 loss as in Zhang et al. 2017, Eq. 3);
* ``logits``: a distribution over the quantised in-gamut ab bins of ``ab_bins`` per pixel at
  1/4 resolution (classification head, trained with class-rebalanced cross-entropy, Zhang et
  al. 2016, Eq. 2), used for suggested colours, variants and the annealed mean.

Designed for CPU speed: stride-2 convolutions down to 1/16 early, plain 3x3 residual blocks
at low resolution, a global-context branch at the bottom, bilinear upsampling with skips.
An optional scene branch (``scene_blocks`` > 0) goes one level deeper, to 1/32, where a few
3x3 blocks see the whole working image (sky with horizon, lawn with house) for little compute;
its output enters the bottom through a zero-initialised 1x1 projection, so a network grown
from shipped weights starts out computing exactly what they computed.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

logger = logging.getLogger(__name__)

L_CENTER = 50.0
L_SCALE = 50.0
AB_SCALE = 110.0


@dataclass
class InstantNetConfig:
    """Hyper-parameters of ``InstantNet`` (stored as JSON next to the weights)."""

    widths: tuple[int, ...] = (32, 64, 128, 256)
    depths: tuple[int, ...] = (1, 1, 2, 2)
    stem_width: int = 16
    num_bins: int = 248
    ab_scale: float = AB_SCALE
    hint_injection: bool = True  # hint maps pooled into every encoder level (see _hint_maps)
    scene_blocks: int = 0  # residual blocks of the 1/32 scene branch; 0 = no branch
    scene_width: int = 384

    def to_dict(self) -> dict:
        data = asdict(self)
        data["widths"] = list(self.widths)
        data["depths"] = list(self.depths)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> InstantNetConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("widths", "depths"):
            if key in known:
                known[key] = tuple(int(v) for v in known[key])
        return cls(**known)


@dataclass
class InstantNetOutput:
    """``ab``: (B, 2, H, W) Lab units; ``logits``: (B, Q, H/4, W/4) over ``ab_bins`` bins."""

    ab: torch.Tensor
    logits: torch.Tensor
    extras: dict = field(default_factory=dict)


_HINT_CHANNELS = 6


def _hint_maps(hints: torch.Tensor, factor: int) -> torch.Tensor:
    """Hints pooled to 1/``factor`` resolution by normalised convolution (Knutsson 1993).

    ``hints`` is (B, 3, H, W): a, b (already /110 and masked) and the mask. Returns 6 channels:
    the mean hint colour in each cell and whether the cell holds a hint, then the same over a
    5x5-cell neighbourhood, so every level of the encoder sees the hints near it directly.
    """
    pooled = F.avg_pool2d(hints, factor)
    wide = F.avg_pool2d(pooled, 5, stride=1, padding=2, count_include_pad=False)
    out = []
    for p in (pooled, wide):
        m = p[:, 2:3]
        out += [p[:, :2] / m.clamp_min(1e-4) * (m > 0), (m > 0).to(p.dtype)]
    return torch.cat(out, dim=1)


def _conv_bn(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class _ResBlock(nn.Module):
    def __init__(self, ch: int, dilation: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn1 = nn.BatchNorm2d(ch)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)), inplace=True)
        y = self.bn2(self.conv2(y))
        return F.relu(x + y, inplace=True)


class _Up(nn.Module):
    """Bilinear x2 upsampling, 1x1 projection, add the skip, one 3x3 conv."""

    def __init__(self, cin: int, cskip: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(cin, cskip, 1, bias=False)
        self.skip_bn = nn.BatchNorm2d(cskip)
        self.conv = _conv_bn(cskip, cskip)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(self.proj(x), size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.conv(F.relu(self.skip_bn(x + skip), inplace=True))


class _SceneBranch(nn.Module):
    """1/32-resolution blocks over the bottom features, projected back and added to them.

    Works for any bottom size (the stride-2 convolution rounds up; the result is resized back
    to the bottom's size). ``proj`` starts at zero: the branch adds nothing until trained.
    """

    def __init__(self, cin: int, width: int, blocks: int) -> None:
        super().__init__()
        self.down = _conv_bn(cin, width, stride=2)
        self.blocks = nn.Sequential(
            *[_ResBlock(width, dilation=2 if i % 2 == 1 else 1) for i in range(blocks)]
        )
        self.proj = nn.Conv2d(width, cin, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, bottom: torch.Tensor) -> torch.Tensor:
        y = self.blocks(self.down(bottom))
        y = F.interpolate(self.proj(y), size=bottom.shape[-2:], mode="bilinear",
                          align_corners=False)
        return bottom + y


class InstantNet(nn.Module):
    """Hint-aware colorization U-Net. Input sizes must be multiples of 16.

    A plain ``nn.Module``, not a diffusers ``ModelMixin``/``ConfigMixin`` like the other
    networks in ``models/``, on purpose: the instant engine is the CPU-only, live-preview
    engine and imports neither diffusers nor transformers (a ``ModelMixin`` would put the
    diffusers import on its start-up path), and the shipped ``resources/models/instant/
    config.json`` nests the hyper-parameters under ``"net"`` beside the engine's own settings
    (``ab_bins``, ``output``, ``temperature``, ``training``), which ``from_pretrained`` would
    not read. ``engines.instant.load_model`` is its one loader.
    """

    def __init__(self, config: InstantNetConfig | None = None) -> None:
        super().__init__()
        self.config = config or InstantNetConfig()
        c = self.config
        w = list(c.widths)
        self.stem = _conv_bn(4, c.stem_width)
        down_convs, downs, hint_projs = [], [], []
        cin = c.stem_width
        for level, (cout, depth) in enumerate(zip(w, c.depths)):
            down_convs.append(_conv_bn(cin, cout, stride=2))
            if c.hint_injection:
                hint_projs.append(nn.Conv2d(_HINT_CHANNELS, cout, 1))
            blocks: list[nn.Module] = []
            for i in range(depth):
                dilation = 2 if level == len(w) - 1 and i % 2 == 1 else 1
                blocks.append(_ResBlock(cout, dilation))
            downs.append(nn.Sequential(*blocks))
            cin = cout
        self.down_convs = nn.ModuleList(down_convs)
        self.hint_projs = nn.ModuleList(hint_projs)
        self.downs = nn.ModuleList(downs)
        self.scene = _SceneBranch(w[-1], c.scene_width, c.scene_blocks) if c.scene_blocks else None
        # Global context (image-level colour prior): pooled bottom features, added back.
        self.context = nn.Sequential(nn.Linear(w[-1], w[-1]), nn.ReLU(inplace=True))
        skips = [c.stem_width, *w[:-1]]
        ups = []
        cin = w[-1]
        for cskip in reversed(skips):
            ups.append(_Up(cin, cskip))
            cin = cskip
        self.ups = nn.ModuleList(ups)
        # Classification head at 1/4 resolution (after the up-block that reaches 1/4).
        self.class_level = len(w) - 3  # index into self.ups whose output is at 1/4
        self.class_head = nn.Sequential(
            nn.Conv2d(w[1], w[1], 1), nn.ReLU(inplace=True), nn.Conv2d(w[1], c.num_bins, 1)
        )
        self.ab_head = nn.Conv2d(c.stem_width + 3, 2, 3, padding=1)
        nn.init.zeros_(self.ab_head.weight)
        nn.init.zeros_(self.ab_head.bias)

    @staticmethod
    def make_input(
        lightness: torch.Tensor, hint_ab: torch.Tensor, hint_mask: torch.Tensor
    ) -> torch.Tensor:
        """Normalise (L in 0-100, ab in Lab units, mask 0/1) into the 4-channel input."""
        return torch.cat(
            [(lightness - L_CENTER) / L_SCALE, hint_ab / AB_SCALE * hint_mask, hint_mask], dim=1
        )

    def forward(
        self, lightness: torch.Tensor, hint_ab: torch.Tensor, hint_mask: torch.Tensor
    ) -> InstantNetOutput:
        x = self.make_input(lightness, hint_ab, hint_mask)
        feats = [self.stem(x)]
        for level, (conv, down) in enumerate(zip(self.down_convs, self.downs)):
            y = conv(feats[-1])
            if self.config.hint_injection:
                y = y + self.hint_projs[level](_hint_maps(x[:, 1:4], 2 ** (level + 1)))
            feats.append(down(y))
        bottom = feats[-1] if self.scene is None else self.scene(feats[-1])
        ctx = self.context(bottom.mean(dim=(2, 3)))
        y = bottom + ctx[:, :, None, None]
        logits = None
        for i, up in enumerate(self.ups):
            y = up(y, feats[-2 - i])
            if i == self.class_level:
                logits = self.class_head(y)
        ab = torch.tanh(self.ab_head(torch.cat([y, x[:, 1:4]], dim=1))) * self.config.ab_scale
        assert logits is not None
        return InstantNetOutput(ab=ab, logits=logits)


def count_parameters(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))
