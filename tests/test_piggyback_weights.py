"""Streaming safetensors loading (pipelines.weights): same model as from_pretrained, less memory."""

from __future__ import annotations

import pytest
import torch
from diffusers import UNet2DConditionModel
from safetensors.torch import load_file, save_file

from piggydesk.pipelines.bundle import BundleError, _load_component
from piggydesk.pipelines.weights import load_model_streaming, read_safetensors
from tests.piggyback_helpers import make_tiny_base


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return make_tiny_base(tmp_path_factory.mktemp("weights") / "base")


def test_reader_matches_safetensors_for_every_dtype(tmp_path):
    tensors = {
        "half": torch.randn(3, 5).half(),
        "bf16": torch.randn(7).bfloat16(),
        "f32": torch.randn(2, 2, 2),
        "ints": torch.arange(6, dtype=torch.int64).reshape(2, 3),
        "empty": torch.zeros(0, 4),
        "flag": torch.tensor([True, False]),
    }
    path = tmp_path / "w.safetensors"
    save_file(tensors, str(path), metadata={"format": "pt"})
    got = read_safetensors(path)
    reference = load_file(str(path))
    assert got.keys() == reference.keys()
    for name, value in reference.items():
        assert got[name].dtype == value.dtype and torch.equal(got[name], value), name
    converted = read_safetensors(path, torch.bfloat16)
    assert converted["half"].dtype == torch.bfloat16 and converted["ints"].dtype == torch.int64
    assert torch.equal(converted["half"], reference["half"].bfloat16())


def test_streaming_load_equals_from_pretrained(base):
    for dtype in (torch.float32, torch.bfloat16):
        expected = UNet2DConditionModel.from_pretrained(base / "unet", torch_dtype=dtype)
        got = load_model_streaming(UNet2DConditionModel, base / "unet", dtype)
        assert not got.training
        reference = expected.state_dict()
        for name, value in got.state_dict().items():
            assert value.dtype == reference[name].dtype and torch.equal(value, reference[name])
        sample, text = torch.randn(1, 4, 8, 8), torch.randn(1, 5, 32)
        with torch.no_grad():
            assert torch.equal(
                got(sample.to(dtype), 10, text.to(dtype)).sample,
                expected.eval()(sample.to(dtype), 10, text.to(dtype)).sample,
            )


def test_truncated_weights_are_a_clear_bundle_error(base, tmp_path):
    import shutil

    copy = tmp_path / "base"
    shutil.copytree(base, copy)
    weights = next((copy / "unet").glob("*.safetensors"))
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError, match="unet.*could not be loaded.*truncated"):
        _load_component(copy, "unet", torch.float32)
    save_file({"conv_in.weight": torch.zeros(1)}, str(weights))
    with pytest.raises(BundleError, match=r"do not match its config \(\d+ missing, 0 unexpected"):
        _load_component(copy, "unet", torch.float32)
    weights.write_bytes(b"\x00" * 4)
    with pytest.raises(BundleError, match="not a safetensors file"):
        _load_component(copy, "unet", torch.float32)
