"""Load a diffusers model's safetensors weights one tensor at a time.

``from_pretrained`` holds a whole file's tensors (memory-mapped, so resident once touched)
while it converts them to the requested dtype: loading the fp16 SD UNet as bf16 briefly needs
both copies, 1.6 GB more than the model itself, and the guider replica does it again. Here the
model is built on the ``meta`` device and each tensor is read from the file, converted and
assigned, so the peak is the model plus one tensor (benchmarks/RESULTS.md has the figures).
Only plain reads: nothing is unpickled, and a truncated or malformed file is an error.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import torch

_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
_MAX_HEADER = 100 * 1024 * 1024


def read_safetensors(path: Path, dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    """All tensors of ``path``, floating-point ones converted to ``dtype`` one by one."""
    path = Path(path)
    size = path.stat().st_size
    tensors: dict[str, torch.Tensor] = {}
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise ValueError(f"{path.name} is not a safetensors file (too short)")
        (header_len,) = struct.unpack("<Q", head)
        if header_len > min(_MAX_HEADER, size - 8):
            raise ValueError(f"{path.name} is not a safetensors file (bad header)")
        header = json.loads(f.read(header_len))
        data_start = 8 + header_len
        for name, info in header.items():
            if name == "__metadata__":
                continue
            if info["dtype"] not in _DTYPES:
                raise ValueError(f"{path.name}: unsupported dtype {info['dtype']} for {name}")
            begin, end = info["data_offsets"]
            if not 0 <= begin <= end <= size - data_start:
                raise ValueError(f"{path.name} is truncated or corrupt ({name})")
            shape = [int(s) for s in info["shape"]]
            source_dtype = _DTYPES[info["dtype"]]
            if end == begin:
                tensor = torch.empty(shape, dtype=source_dtype)
            else:
                buffer = bytearray(end - begin)
                f.seek(data_start + begin)
                if f.readinto(buffer) != len(buffer):
                    raise ValueError(f"{path.name} is truncated ({name})")
                tensor = torch.frombuffer(buffer, dtype=source_dtype).reshape(shape)
            if dtype is not None and tensor.is_floating_point() and tensor.dtype != dtype:
                tensor = tensor.to(dtype)
            tensors[name] = tensor
    return tensors


def weight_files(folder: Path) -> list[Path] | None:
    """The safetensors file(s) of a diffusers model folder, or None when it is ambiguous."""
    folder = Path(folder)
    index = sorted(folder.glob("*.safetensors.index.json"))
    if len(index) == 1:
        weight_map = json.loads(index[0].read_text(encoding="utf-8"))["weight_map"]
        return [folder / name for name in sorted(set(weight_map.values()))]
    files = sorted(folder.glob("*.safetensors"))
    return files if len(files) == 1 else None


def load_model_streaming(cls, folder: Path, dtype: torch.dtype | None):
    """``cls.from_pretrained(folder, torch_dtype=dtype)`` with a peak of model + one tensor.

    ``cls`` is a diffusers ``ModelMixin`` class. Falls back to ``from_pretrained`` when the
    folder's weight files are not one file or one sharded set.
    """
    files = weight_files(folder)
    if files is None:
        return cls.from_pretrained(
            folder, torch_dtype=dtype, use_safetensors=True, local_files_only=True
        )
    from accelerate import init_empty_weights

    config = cls.load_config(folder, local_files_only=True)
    held = config.get("_class_name")
    if held and held != cls.__name__:
        raise ValueError(f"it holds a {held}, not a {cls.__name__}")
    with init_empty_weights():
        model = cls.from_config(config)
    state: dict[str, torch.Tensor] = {}
    for file in files:
        state.update(read_safetensors(file, dtype))
    expected = set(model.state_dict())
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        example = (missing or unexpected)[0]
        raise ValueError(
            f"its weights do not match its config ({len(missing)} missing, "
            f"{len(unexpected)} unexpected tensors, e.g. {example})"
        )
    model.load_state_dict(state, strict=True, assign=True)
    del state
    leftover = [name for name, p in model.named_parameters() if p.is_meta]
    leftover += [name for name, b in model.named_buffers() if b.is_meta]
    if leftover:
        raise ValueError(f"weights missing for {', '.join(leftover[:3])}")
    return model.eval()
