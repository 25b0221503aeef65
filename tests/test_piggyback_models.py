"""The piggyback models: Eq. 2 fusions and Eq. 4 decoder start as exact identities, the base
UNet stays frozen and untouched while the guider trains, and the parts save and load."""

from __future__ import annotations

import pytest
import torch
from diffusers import AutoencoderKL, UNet2DConditionModel

from piggydesk.models.fusion import FeatureFusion, PiggybackedUNet
from piggydesk.models.guider import DiffusionGuider
from piggydesk.models.hint_encoder import HintEncoder
from piggydesk.models.lightness_decoder import GrayEncoder, LightnessAwareDecoder
from tests.piggyback_helpers import make_tiny_base


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    path = make_tiny_base(tmp_path_factory.mktemp("tiny") / "base")
    unet = UNet2DConditionModel.from_pretrained(path / "unet").eval()
    vae = AutoencoderKL.from_pretrained(path / "vae").eval()
    return path, unet, vae


def _inputs(seed: int = 0, batch: int = 2):
    g = torch.Generator().manual_seed(seed)
    latents = torch.randn(batch, 4, 16, 12, generator=g)
    text = torch.randn(batch, 16, 32, generator=g)
    hint_input = torch.cat(
        [torch.rand(batch, 1, 32, 24, generator=g) * 2 - 1,
         torch.randn(batch, 2, 32, 24, generator=g) * 30,
         (torch.rand(batch, 1, 32, 24, generator=g) > 0.9).float()],
        dim=1,
    )
    return latents, text, hint_input


def test_feature_fusion_is_identity_on_the_unet_path_at_init():
    fusion = FeatureFusion(8)
    f_unet, f_guider = torch.randn(2, 8, 5, 7), torch.randn(2, 8, 5, 7)
    assert torch.equal(fusion(f_unet, f_guider), f_unet)
    with torch.no_grad():
        fusion.fuse.weight[:, 8:] += 0.1  # once the guider path has weight, F' depends on F_F
    assert not torch.allclose(fusion(f_unet, f_guider), f_unet)


def test_untrained_guider_reproduces_the_frozen_unet_exactly(base):
    _, unet, vae = base
    guider = DiffusionGuider.from_base(unet, vae).eval()
    combined = PiggybackedUNet(unet, guider)
    latents, text, hint_input = _inputs()
    features = guider.encode_hints(hint_input)
    assert features.shape == (2, 4, 16, 12)
    with torch.no_grad():
        expected = unet(latents, 500, text).sample
        got = combined(latents, 500, text, features)
    assert torch.equal(got, expected)
    # the hooks are gone afterwards: the base UNet alone is unchanged
    with torch.no_grad():
        assert torch.equal(unet(latents, 500, text).sample, expected)


def test_trained_fusions_change_the_output(base):
    _, unet, vae = base
    guider = DiffusionGuider.from_base(unet, vae).eval()
    with torch.no_grad():
        for fusion in [*guider.fusion_down, *guider.fusion_up, guider.fusion_out]:
            fusion.fuse.weight[:, fusion.unet_channels:] += 0.05
    latents, text, hint_input = _inputs()
    with torch.no_grad():
        expected = unet(latents, 500, text).sample
        got = PiggybackedUNet(unet, guider)(latents, 500, text, guider.encode_hints(hint_input))
    assert got.shape == expected.shape
    assert not torch.allclose(got, expected, atol=1e-4)


def test_training_the_guider_leaves_the_base_unet_untouched(base):
    _, unet, vae = base
    before = {k: v.clone() for k, v in unet.state_dict().items()}
    guider = DiffusionGuider.from_base(unet, vae).train()
    combined = PiggybackedUNet(unet, guider)
    assert not any(p.requires_grad for p in unet.parameters())
    optimiser = torch.optim.AdamW(guider.parameters(), lr=1e-3)
    latents, text, hint_input = _inputs(seed=3)
    for _ in range(2):
        optimiser.zero_grad()
        pred = combined(latents, 300, text, guider.encode_hints(hint_input))
        loss = torch.nn.functional.mse_loss(pred, torch.zeros_like(pred))  # Eq. 3 shape
        loss.backward()
        optimiser.step()
    assert all(p.grad is None for p in unet.parameters())
    for key, value in unet.state_dict().items():
        assert torch.equal(value, before[key]), key
    moved = [f.fuse.weight[:, f.unet_channels:].abs().sum().item() for f in guider.fusion_down]
    assert all(m > 0 for m in moved)  # the zero guider path is trainable


def test_guider_saves_and_loads_from_disk(base, tmp_path):
    _, unet, vae = base
    guider = DiffusionGuider.from_base(unet, vae)
    guider.save_pretrained(tmp_path / "guider", safe_serialization=True)
    loaded = DiffusionGuider.from_pretrained(tmp_path / "guider", use_safetensors=True)
    loaded.check_compatible(unet)
    for (k, a), (_, b) in zip(guider.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    assert isinstance(loaded.hint_encoder, HintEncoder)
    assert loaded.unet.config.in_channels == 8


def test_guider_refuses_a_different_base(base):
    _, unet, vae = base
    guider = DiffusionGuider.from_base(unet, vae)
    other = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=8, cross_attention_dim=32,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    )
    with pytest.raises(ValueError, match="layers_per_block"):
        guider.check_compatible(other)


def test_untrained_gray_encoder_decodes_exactly_like_the_vae(base):
    _, _, vae = base
    gray_encoder = GrayEncoder.from_vae(vae).eval()
    decoder = LightnessAwareDecoder(vae, gray_encoder)
    g = torch.Generator().manual_seed(5)
    latents = torch.randn(2, 4, 16, 12, generator=g)
    gray = torch.rand(2, 1, 32, 24, generator=g) * 2 - 1
    levels = gray_encoder.features(gray)
    assert [tuple(f.shape[1:]) for f in levels] == [(32, 32, 24), (64, 16, 12)]
    with torch.no_grad():
        expected = vae.decode(latents).sample
        got = decoder(latents, gray)
        assert torch.equal(got, expected)
        gray_encoder.injections[0].weight.add_(0.1)
        assert not torch.allclose(decoder(latents, gray), expected, atol=1e-4)
        assert torch.equal(vae.decode(latents).sample, expected)  # hooks removed
    assert not any(p.requires_grad for p in vae.parameters())
