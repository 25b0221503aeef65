"""Tiny random Stable Diffusion parts for the piggyback tests: no downloads, built in seconds.

``make_tiny_base(dir)`` writes a diffusers SD 1.x folder (UNet block channels (32, 64), a
2-layer CLIP text model with a CLIP BPE tokenizer built here from a vocabulary and merges,
a 2-block VAE, a DDIM-style scheduler config) with ``save_pretrained``;
``make_tiny_guider`` / ``make_tiny_gray_encoder`` write the trainable parts, optionally
with random (non-identity) fusions so that the guided path visibly differs from the base.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from piggydesk.models.guider import DiffusionGuider
from piggydesk.models.lightness_decoder import GrayEncoder
from piggydesk.pipelines.bundle import assemble_bundle

TEXT_LENGTH = 16
WORDS = ["a", "photo", "of", "red", "blue", "green", "sky", "dog", "cat", "old", "car", "tree"]


def _bytes_to_unicode() -> dict[int, str]:
    """The byte-to-printable-character table of GPT-2/CLIP byte-level BPE."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    bs += list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def make_tiny_tokenizer(directory: Path) -> CLIPTokenizer:
    """A real CLIP BPE tokenizer with a tiny vocabulary (every byte, plus a few whole words)."""
    directory.mkdir(parents=True, exist_ok=True)
    chars = list(_bytes_to_unicode().values())
    vocab: dict[str, int] = {}
    for token in ["<|startoftext|>", "<|endoftext|>", *chars, *(c + "</w>" for c in chars)]:
        vocab.setdefault(token, len(vocab))
    merges = []
    for word in WORDS:
        pieces = list(word[:-1]) + [word[-1] + "</w>"]
        while len(pieces) > 1:
            merges.append(f"{pieces[0]} {pieces[1]}")
            pieces = [pieces[0] + pieces[1], *pieces[2:]]
            vocab.setdefault(pieces[0], len(vocab))
    (directory / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (directory / "merges.txt").write_text(
        "#version: 0.2\n" + "\n".join(dict.fromkeys(merges)) + "\n", encoding="utf-8"
    )
    tokenizer = CLIPTokenizer(
        vocab=str(directory / "vocab.json"),
        merges=str(directory / "merges.txt"),
        model_max_length=TEXT_LENGTH,
    )
    return tokenizer


def make_tiny_base(
    directory: Path, sample_size: int = 16, smallest_unet: bool = False
) -> Path:
    """Write a tiny SD 1.x-layout diffusers folder; native size ``sample_size * 2`` pixels.

    ``smallest_unet``: one cross-attention block of one layer (for the ``torch.compile``
    test, whose cost grows with the number of layers) instead of two blocks of two layers.
    """
    from diffusers import StableDiffusionPipeline

    torch.manual_seed(0)
    if smallest_unet:
        blocks = dict(block_out_channels=(32,), layers_per_block=1,
                      down_block_types=("CrossAttnDownBlock2D",),
                      up_block_types=("CrossAttnUpBlock2D",))
    else:
        blocks = dict(block_out_channels=(32, 64), layers_per_block=2,
                      down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                      up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"))
    unet = UNet2DConditionModel(
        **blocks,
        sample_size=sample_size,
        in_channels=4,
        out_channels=4,
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=32,
    )
    vae = AutoencoderKL(
        block_out_channels=[32, 64],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
        norm_num_groups=32,
        sample_size=sample_size * 2,
    )
    tokenizer = make_tiny_tokenizer(directory.with_name(directory.name + "_tokenizer_src"))
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
            hidden_size=32,
            intermediate_size=37,
            layer_norm_eps=1e-05,
            num_attention_heads=4,
            num_hidden_layers=2,
            vocab_size=len(tokenizer),
            max_position_embeddings=TEXT_LENGTH,
        )
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(directory, safe_serialization=True)
    return directory


def _perturb(module: torch.nn.Module, scale: float, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=generator) * scale)


def make_tiny_guider(base: Path, directory: Path, trained: bool = True) -> Path:
    """A guider for the tiny base; ``trained`` perturbs it as training would (so it acts)."""
    unet = UNet2DConditionModel.from_pretrained(base / "unet")
    vae = AutoencoderKL.from_pretrained(base / "vae")
    guider = DiffusionGuider.from_base(unet, vae)
    if trained:
        _perturb(guider, 0.02, seed=1)
    guider.save_pretrained(directory, safe_serialization=True)
    return directory


def make_tiny_gray_encoder(base: Path, directory: Path, trained: bool = True) -> Path:
    vae = AutoencoderKL.from_pretrained(base / "vae")
    gray_encoder = GrayEncoder.from_vae(vae)
    if trained:
        _perturb(gray_encoder.injections, 0.05, seed=2)
    gray_encoder.save_pretrained(directory, safe_serialization=True)
    return directory


def make_tiny_bundle(
    root: Path, bundle_dir: Path | None = None, smallest_unet: bool = False
) -> dict[str, Path]:
    """A tiny base, guider and gray encoder under ``root``, assembled into a piggyback bundle
    at ``bundle_dir`` (``root / "bundle"`` unless given): ``{"root", "base", "guider", "gray",
    "bundle"}``."""
    base = make_tiny_base(root / "base", smallest_unet=smallest_unet)
    guider = make_tiny_guider(base, root / "guider")
    gray = make_tiny_gray_encoder(base, root / "gray")
    bundle = assemble_bundle(
        base, bundle_dir or root / "bundle", guider_dir=guider, decoder_dir=gray
    )
    return {"root": root, "base": base, "guider": guider, "gray": gray, "bundle": bundle}


def gradient_lightness(height: int = 40, width: int = 56) -> np.ndarray:
    """A gray test photo: a diagonal ramp with a bright disc, CIE L* float32 ``(H, W)``."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    light = 20.0 + 60.0 * (xx / width + yy / height) / 2.0
    disc = (xx - width * 0.6) ** 2 + (yy - height * 0.4) ** 2 < (min(height, width) / 5) ** 2
    light[disc] = 90.0
    return light.astype(np.float32)


def make_tiny_controlnet(base: Path, directory: Path, trained: bool = True) -> Path:
    """A ControlNet for the tiny base, from its UNet (``ControlNetModel.from_unet``), saved as
    a downloaded one is laid out (``config.json`` + ``diffusion_pytorch_model.safetensors``).

    ``trained`` perturbs it (its zero convolutions included) so that its residuals act.
    """
    from diffusers import ControlNetModel

    unet = UNet2DConditionModel.from_pretrained(base / "unet")
    vae = AutoencoderKL.from_pretrained(base / "vae")
    levels = len(vae.config.block_out_channels)  # condition read at the VAE's 1/2**(levels-1)
    controlnet = ControlNetModel.from_unet(
        unet, conditioning_embedding_out_channels=(16, 32, 48, 64)[:levels]
    )
    if trained:
        _perturb(controlnet, 0.05, seed=3)
    controlnet.save_pretrained(directory, safe_serialization=True)
    return directory


def make_tiny_lora(
    base: Path,
    directory: Path,
    weight_name: str = "pytorch_lora_weights.safetensors",
    kohya: bool = False,
    rank: int = 4,
) -> Path:
    """A random LoRA for the tiny base's UNet attention layers, made with ``peft``.

    Saved as diffusers' ``save_lora_weights`` writes it (LCM-LoRA's layout) or, with
    ``kohya``, with the ``lora_unet_..._lora_down/lora_up/alpha`` keys of Kohya's scripts
    (the layout of Hyper-SD's files); either way one ``.safetensors`` file in ``directory``.
    """
    from diffusers import StableDiffusionPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict
    from safetensors.torch import save_file

    torch.manual_seed(4)
    unet = UNet2DConditionModel.from_pretrained(base / "unet")
    config = LoraConfig(
        r=rank, lora_alpha=rank, init_lora_weights=False,
        target_modules=["to_q", "to_k", "to_v", "to_out.0"],
    )
    unet.add_adapter(config)
    state = get_peft_model_state_dict(unet)
    directory.mkdir(parents=True, exist_ok=True)
    if not kohya:
        StableDiffusionPipeline.save_lora_weights(
            directory, unet_lora_layers=state, weight_name=weight_name, safe_serialization=True
        )
        return directory
    tensors = {}
    for key, value in state.items():
        module, kind = key.rsplit(".lora_", 1)
        name = "lora_unet_" + module.replace(".", "_")
        part = "lora_down.weight" if kind.startswith("A") else "lora_up.weight"
        tensors[f"{name}.{part}"] = value.contiguous()
        tensors[f"{name}.alpha"] = torch.tensor(float(rank))
    save_file(tensors, str(directory / weight_name))
    return directory
