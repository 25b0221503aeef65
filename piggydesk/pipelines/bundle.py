"""Piggyback model bundles: assemble one from a Stable Diffusion 1.x base, verify it, load it.

A bundle is a folder in diffusers' ``model_index.json`` layout (one subfolder per component:
``vae``, ``text_encoder``, ``tokenizer``, ``unet``, ``scheduler`` and the optional trained
``guider`` and ``gray_encoder``, or instead of the guider a public ``controlnet``, a diffusers
``ControlNetModel``) plus ``piggydesk.json``::

    {"format": "piggydesk-bundle", "format_version": 1, "name": ..., "version": ...,
     "base_model": ..., "native_size": 256, "license": ..., "components": [...],
     "guider_kind": "paper" | "controlnet" | "none",
     "files": {"unet/diffusion_pytorch_model.safetensors": "<sha256>", ...}}

``files`` holds the sha256 of every file of every component (weights, configs, tokenizer).
Loading never unpickles: weights are read from ``.safetensors`` only; an original ``.ckpt``
base is converted by diffusers' single-file loader, which reads it with ``weights_only``.
A plain diffusers SD 1.x folder (no ``piggydesk.json``) also loads, unverified, and runs in
the SDEdit mode since it has no guider. ``PiggybackColorizationPipeline.from_pretrained(bundle)``
works too (diffusers' own loader, without the checksum check); the app uses ``load_bundle``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import torch

from piggydesk.core.checksum import sha256_file
from piggydesk.models.guider import DiffusionGuider
from piggydesk.models.lightness_decoder import GrayEncoder
from piggydesk.pipelines.controlnet import check_controlnet_fits
from piggydesk.pipelines.fast import FastSampling
from piggydesk.pipelines.piggyback import (
    PiggybackColorizationPipeline,
    make_scheduler,
    release_free_memory,
)
from piggydesk.pipelines.weights import load_model_streaming

logger = logging.getLogger(__name__)

MANIFEST = "piggydesk.json"
FORMAT = "piggydesk-bundle"
FORMAT_VERSION = 1
REQUIRED = ("vae", "text_encoder", "tokenizer", "unet", "scheduler")
OPTIONAL = ("guider", "gray_encoder", "controlnet")
COMPONENT_CLASSES = {
    "vae": ("diffusers", "AutoencoderKL"),
    "text_encoder": ("transformers", "CLIPTextModel"),
    "tokenizer": ("transformers", "CLIPTokenizer"),
    "unet": ("diffusers", "UNet2DConditionModel"),
    "scheduler": ("diffusers", "DPMSolverMultistepScheduler"),
    "guider": ("piggydesk.models.guider", "DiffusionGuider"),
    "gray_encoder": ("piggydesk.models.lightness_decoder", "GrayEncoder"),
    "controlnet": ("diffusers", "ControlNetModel"),
}
WEIGHT_COMPONENTS = ("vae", "text_encoder", "unet", "guider", "gray_encoder", "controlnet")
PICKLE_SUFFIXES = (".bin", ".ckpt", ".pt", ".pth", ".pkl")


class BundleError(Exception):
    """A bundle (or base model) is missing, incomplete, corrupted or unsupported.

    ``str(error)`` is a sentence for the user naming the folder and what is wrong.
    """


def is_model_folder(path: Path) -> bool:
    """Cheap check (no hashing) that ``path`` looks like a bundle or a diffusers SD folder."""
    return path.is_dir() and (path / "model_index.json").is_file()


def read_manifest(path: Path) -> dict | None:
    """``piggydesk.json`` of a bundle, or ``None`` for a plain diffusers folder."""
    manifest_path = Path(path) / MANIFEST
    if not manifest_path.is_file():
        return None
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"The bundle {path} has an unreadable {MANIFEST}: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"{manifest_path} is not a PiggyDesk bundle manifest.")
    if int(manifest.get("format_version", 0)) > FORMAT_VERSION:
        raise BundleError(
            f"The bundle {path} was made by a newer PiggyDesk (format "
            f"{manifest.get('format_version')}); update PiggyDesk to use it."
        )
    return manifest


def read_model_index(path: Path) -> dict:
    index_path = Path(path) / "model_index.json"
    if not index_path.is_file():
        raise BundleError(
            f"{path} is not a model bundle: it has no model_index.json. Assemble one with "
            "'piggydesk models assemble --base SD_FOLDER -o BUNDLE'."
        )
    try:
        return json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"The model_index.json of {path} cannot be read: {exc}") from None


def present_components(path: Path, index: dict) -> list[str]:
    """The components ``model_index.json`` lists with a class (``[null, null]`` = absent)."""
    found = []
    for name in (*REQUIRED, *OPTIONAL):
        entry = index.get(name)
        if isinstance(entry, list | tuple) and len(entry) == 2 and entry[1]:
            found.append(name)
    return found


def verify_bundle(path: str | Path, sha256: Callable[[Path], str] = sha256_file) -> dict | None:
    """Check components and checksums; return the manifest (``None`` for a plain base).

    ``sha256`` hashes one file (the model store passes its cached hasher, which re-reads a
    file only when its size or mtime changed). Raises ``BundleError`` naming the missing
    component or the file that fails its checksum.
    """
    path = Path(path)
    if not path.exists():
        raise BundleError(f"The model folder {path} does not exist.")
    if not path.is_dir():
        raise BundleError(f"{path} is not a folder; a model bundle is a folder.")
    index = read_model_index(path)
    manifest = read_manifest(path)
    components = present_components(path, index)
    for name in REQUIRED:
        if name not in components:
            raise BundleError(f"The model {path} has no '{name}' component; it cannot be used.")
    for name in components:
        folder = path / name
        if not folder.is_dir() or not any(folder.iterdir()):
            raise BundleError(
                f"The model {path} lists a '{name}' component but its folder is missing or empty."
            )
        if name in WEIGHT_COMPONENTS:
            files = [p for p in folder.iterdir() if p.is_file()]
            if not any(p.suffix == ".safetensors" for p in files):
                pickled = [p.name for p in files if p.suffix in PICKLE_SUFFIXES]
                why = (
                    f"only pickle files ({', '.join(pickled)}), which PiggyDesk never loads"
                    if pickled
                    else "no weights file"
                )
                raise BundleError(
                    f"The '{name}' component of {path} has {why}. Re-assemble the bundle with "
                    "'piggydesk models assemble' to convert it to safetensors."
                )
    if manifest is None:
        logger.warning("%s has no %s: loading it unverified as a base model", path, MANIFEST)
        return None
    listed = manifest.get("files") or {}
    if not isinstance(listed, dict) or not listed:
        raise BundleError(f"The {MANIFEST} of {path} lists no files to verify.")
    for name in manifest.get("components", components):
        if name not in components:
            raise BundleError(
                f"The bundle {path} should contain the '{name}' component but model_index.json "
                "does not list it."
            )
    for rel, expected in sorted(listed.items()):
        file = path / rel
        if not file.is_file():
            raise BundleError(f"The bundle {path} is incomplete: {rel} is missing.")
        actual = sha256(file)
        if actual != expected:
            raise BundleError(
                f"The bundle {path} is damaged: {rel} does not match its checksum "
                f"(expected sha256 {expected[:12]}..., found {actual[:12]}...). "
                "Download or assemble it again."
            )
    for name in components:
        for file in sorted((path / name).rglob("*")):
            rel = file.relative_to(path).as_posix()
            if file.is_file() and file.suffix == ".safetensors" and rel not in listed:
                raise BundleError(
                    f"The bundle {path} holds a weights file its manifest does not list: {rel}."
                )
    return manifest


def _load_component(
    path: Path, name: str, dtype: torch.dtype | None, folder: Path | None = None
):
    """Load component ``name`` from ``path / name`` (or from ``folder``), safetensors only."""
    folder = folder or path / name
    where = f"the '{name}' component of {path}" if folder == path / name else str(folder)
    kwargs = {"local_files_only": True}
    try:
        if name == "tokenizer":
            from transformers import CLIPTokenizer

            return CLIPTokenizer.from_pretrained(folder, **kwargs)
        if name == "text_encoder":
            from transformers import CLIPTextModel
            from transformers.utils import logging as transformers_logging

            # no "Loading weights" bar on stderr: a CLI failure stays one line (house rule)
            transformers_logging.disable_progress_bar()
            return CLIPTextModel.from_pretrained(folder, dtype=dtype, use_safetensors=True, **kwargs)
        if name == "scheduler":
            from diffusers import DPMSolverMultistepScheduler

            config = DPMSolverMultistepScheduler.load_config(folder, **kwargs)
            return make_scheduler(config)
        if name == "vae":
            from diffusers import AutoencoderKL

            cls = AutoencoderKL
        elif name == "unet":
            from diffusers import UNet2DConditionModel

            cls = UNet2DConditionModel
        elif name == "guider":
            cls = DiffusionGuider
        elif name == "gray_encoder":
            cls = GrayEncoder
        elif name == "controlnet":
            from diffusers import ControlNetModel

            cls = ControlNetModel
        else:  # pragma: no cover - the callers only pass known names
            raise BundleError(f"Unknown component '{name}'.")
        return load_model_streaming(cls, folder, dtype)
    except BundleError:
        raise
    except Exception as exc:  # noqa: BLE001 - any loader failure becomes one readable line
        raise BundleError(f"{where[0].upper()}{where[1:]} could not be loaded: {exc}") from exc


def load_bundle(
    path: str | Path,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = torch.float32,
    verify: bool = True,
    sha256: Callable[[Path], str] = sha256_file,
    controlnet_dir: str | Path | None = None,
    fast: tuple[FastSampling, Path] | None = None,
) -> PiggybackColorizationPipeline:
    """Verify (checksums, components) and load a bundle or a plain SD base as a pipeline.

    ``dtype`` is the weights' dtype in memory (fp16 on CUDA/MPS, bf16 or fp32 on CPU).
    ``controlnet_dir``: a diffusers ``ControlNetModel`` folder (e.g. a downloaded
    colorization ControlNet) to guide a bundle that has no guider of its own. ``fast``: a
    few-step LoRA ``(spec, folder)`` fused into the UNet once here. Raises ``BundleError``
    with a sentence naming what is wrong.
    """
    path = Path(path)
    if verify:
        verify_bundle(path, sha256)
    index = read_model_index(path)
    components = present_components(path, index)
    parts = {name: _load_component(path, name, dtype) for name in components}
    if controlnet_dir is not None:
        if "guider" in parts or "controlnet" in parts:
            raise BundleError(f"The bundle {path} has its own guider; it takes no ControlNet.")
        parts["controlnet"] = _load_component(
            path, "controlnet", dtype, folder=Path(controlnet_dir)
        )
    guider, gray_encoder = parts.get("guider"), parts.get("gray_encoder")
    controlnet = parts.get("controlnet")
    try:
        if guider is not None:
            guider.check_compatible(parts["unet"])
        if gray_encoder is not None:
            gray_encoder.check_compatible(parts["vae"])
        if controlnet is not None:
            check_controlnet_fits(controlnet, parts["unet"], _vae_factor(parts["vae"]))
        if guider is not None and controlnet is not None:
            raise ValueError("it holds both a guider and a ControlNet; keep one")
    except ValueError as exc:
        where = f"The ControlNet in {controlnet_dir} does not fit {path}" if (
            controlnet_dir is not None) else f"The bundle {path} does not fit together"
        raise BundleError(f"{where}: {exc}") from None
    for name in WEIGHT_COMPONENTS:
        if name in parts:
            parts[name].eval().requires_grad_(False)
    pipe = PiggybackColorizationPipeline(
        vae=parts["vae"],
        text_encoder=parts["text_encoder"],
        tokenizer=parts["tokenizer"],
        unet=parts["unet"],
        scheduler=parts["scheduler"],
        guider=guider,
        gray_encoder=gray_encoder,
        controlnet=controlnet,
    )
    if fast is not None:
        spec, folder = fast
        try:
            pipe.fuse_fast_lora(folder, spec)
        except (ValueError, OSError) as exc:
            raise BundleError(f"{spec.name} could not be fused into {path}: {exc}") from None
    pipe.to(device)
    release_free_memory()
    logger.info("loaded %s (mode %s, native %d px, %s)", path, pipe.mode, pipe.native_size, dtype)
    return pipe


def _vae_factor(vae) -> int:
    return 2 ** (len(vae.config.block_out_channels) - 1)


# --------------------------------------------------------------------------- assembling
def _read_license(base: Path) -> str:
    readme = base / "README.md"
    if readme.is_file():
        text = readme.read_text(encoding="utf-8", errors="replace")
        match = re.search(r"^license:\s*(\S+)", text, flags=re.MULTILINE)
        if match:
            return match.group(1)
    return "unknown (see the base model's license)"


def _load_base(base: Path, dtype: torch.dtype | None = None):
    """The five SD components from a diffusers folder or an original single-file checkpoint."""
    if base.is_dir():
        index = read_model_index(base)
        missing = [name for name in REQUIRED if name not in present_components(base, index)]
        if missing:
            raise BundleError(
                f"{base} is not a Stable Diffusion 1.x model: it lacks {', '.join(missing)}."
            )
        for name in ("vae", "text_encoder", "unet"):
            files = list((base / name).glob("*")) if (base / name).is_dir() else []
            if not any(p.suffix == ".safetensors" for p in files):
                raise BundleError(
                    f"The '{name}' of {base} has no .safetensors weights; PiggyDesk does not "
                    "load pickled weights from folders. Convert the base to safetensors first."
                )
        return {name: _load_component(base, name, dtype) for name in REQUIRED}, base.name
    if base.is_file() and base.suffix in (".ckpt", ".safetensors"):
        from diffusers import StableDiffusionPipeline

        try:
            # diffusers reads .ckpt files with torch.load(weights_only=True): no code runs
            pipe = StableDiffusionPipeline.from_single_file(
                str(base),
                local_files_only=True,
                safety_checker=None,
                load_safety_checker=False,
                torch_dtype=dtype,
            )
        except Exception as exc:  # noqa: BLE001
            raise BundleError(f"The checkpoint {base} could not be converted: {exc}") from exc
        parts = {name: getattr(pipe, name) for name in REQUIRED}
        parts["scheduler"] = make_scheduler(pipe.scheduler.config)
        return parts, base.stem
    raise BundleError(
        f"The base model {base} must be a diffusers Stable Diffusion 1.x folder or a "
        ".ckpt/.safetensors checkpoint."
    )


def assemble_bundle(
    base_dir: str | Path,
    out_dir: str | Path,
    guider_dir: str | Path | None = None,
    decoder_dir: str | Path | None = None,
    *,
    controlnet_dir: str | Path | None = None,
    name: str | None = None,
    version: str = "1",
    license: str | None = None,
    dtype: torch.dtype = torch.float16,
) -> Path:
    """Build a bundle in ``out_dir`` from a SD 1.x base and optional trained parts.

    ``guider_dir`` holds a saved ``DiffusionGuider``, ``decoder_dir`` a saved ``GrayEncoder``
    (the trainable half of the lightness-aware decoder), ``controlnet_dir`` a diffusers
    ``ControlNetModel`` (a public guider, instead of ``guider_dir``). Weights are stored as
    safetensors in
    ``dtype`` (fp16 by default: half the disk and load time; inference casts as needed). The
    bundle is written next to ``out_dir`` and renamed into place when complete. Raises
    ``BundleError``.
    """
    base, out = Path(base_dir), Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BundleError(f"{out} already exists; choose a new folder for the bundle.")
    if guider_dir is not None and controlnet_dir is not None:
        raise BundleError("A bundle takes one guider: pass --guider or --controlnet, not both.")
    parts, base_name = _load_base(base, dtype)
    if controlnet_dir is not None:
        parts["controlnet"] = _load_component(
            base, "controlnet", dtype, folder=Path(controlnet_dir)
        )
        try:
            check_controlnet_fits(parts["controlnet"], parts["unet"], _vae_factor(parts["vae"]))
        except ValueError as exc:
            raise BundleError(
                f"The ControlNet in {controlnet_dir} does not fit {base}: {exc}"
            ) from None
    if guider_dir is not None:
        parts["guider"] = _load_component(base, "guider", dtype, folder=Path(guider_dir))
        try:
            parts["guider"].check_compatible(parts["unet"])
        except ValueError as exc:
            raise BundleError(f"The guider in {guider_dir} does not fit {base}: {exc}") from None
    if decoder_dir is not None:
        parts["gray_encoder"] = _load_component(
            base, "gray_encoder", dtype, folder=Path(decoder_dir)
        )
        try:
            parts["gray_encoder"].check_compatible(parts["vae"])
        except ValueError as exc:
            raise BundleError(f"The decoder in {decoder_dir} does not fit {base}: {exc}") from None

    import diffusers

    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        index = {"_class_name": PiggybackColorizationPipeline.__name__,
                 "_diffusers_version": diffusers.__version__}
        for component in (*REQUIRED, *OPTIONAL):
            module = parts.get(component)
            if module is None:
                index[component] = [None, None]
                continue
            target = staging / component
            if component in WEIGHT_COMPONENTS:
                module.save_pretrained(target, safe_serialization=True)
            else:
                module.save_pretrained(target)
            index[component] = list(COMPONENT_CLASSES[component])
        (staging / "model_index.json").write_text(json.dumps(index, indent=2), encoding="utf-8")
        vae_factor = 2 ** (len(parts["vae"].config.block_out_channels) - 1)
        files = {
            p.relative_to(staging).as_posix(): sha256_file(p)
            for p in sorted(staging.rglob("*"))
            if p.is_file()
        }
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "name": name or f"{base_name}-piggyback",
            "version": version,
            "base_model": base_name,
            "native_size": int(parts["unet"].config.sample_size) * vae_factor,
            "license": license or _read_license(base if base.is_dir() else base.parent),
            "components": [c for c in (*REQUIRED, *OPTIONAL) if parts.get(c) is not None],
            "guider_kind": (
                "paper" if parts.get("guider") is not None
                else "controlnet" if parts.get("controlnet") is not None else "none"
            ),
            "weights_dtype": str(dtype).removeprefix("torch."),
            "files": files,
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        if out.exists():
            out.rmdir()
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("assembled bundle %s (%s)", out, ", ".join(manifest["components"]))
    return out
