"""Training data for the piggyback models: colour photos, captions, crops, gray input, hints.

A dataset is a folder of colour photos (any depth of sub-folders) with optional captions:

* a JSON file mapping each photo's path relative to the folder (``"faces/0.jpg"``) to a caption
  or a list of captions (one is drawn per sample); by default ``DIR/captions.json`` if present;
* ImageNet label files (``LOC_synset_mapping.txt`` lines ``n01440764 tench, Tinca tinca``, or a
  ``{"n01440764": "tench"}`` / ``imagenet_class_index.json`` JSON): a photo whose path holds a
  WordNet id gets the caption "a photo of a {label}".

Each sample is the paper's training input (section 4.1): the photo resized so its short side is
the model's native size (times an optional random zoom), a random native-size square crop, a
random horizontal flip, its CIE L* channel as the grayscale input, a simulated hint map
(``slic_hints``) and a caption, replaced with probability 0.5 by one of the dummy captions
"", "color photo", "high quality photo" so that the model also learns to colorize without text.

Samples are indexed by a *global sample counter* ``k``: epoch ``k // N`` shuffles the photos
with its own seed and every random choice of sample ``k`` comes from a generator seeded with
``(seed, k)``, so a resumed run sees exactly the samples an uninterrupted run would have seen,
whatever the number of data-loader workers.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from piggydesk.core.color import lightness_to_gray_rgb, rgb_to_lab
from piggydesk.training.slic_hints import HintConfig, sample_hints

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")
DUMMY_CAPTIONS = ("", "color photo", "high quality photo")
CAPTION_DROPOUT = 0.5
_WNID = re.compile(r"n\d{8}")
_MAX_SKIPS = 10  # unreadable photos skipped in a row before a sample fails


class DataError(ValueError):
    """The training data cannot be used; the message says what is wrong."""


def find_images(root: str | Path) -> list[str]:
    """Photos under ``root`` as sorted POSIX paths relative to it (hidden files skipped)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"The data folder {root} does not exist.")
    found = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file():
            found.append(rel.as_posix())
    return sorted(found)


def load_caption_map(path: str | Path) -> dict[str, list[str]]:
    """Read a JSON ``{relative path: caption | [captions]}`` file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"The captions file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"The captions file {path} could not be read: {exc}") from None
    if not isinstance(data, dict):
        raise DataError(f"The captions file {path} must hold a JSON object path -> caption.")
    captions: dict[str, list[str]] = {}
    for key, value in data.items():
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(c, str) for c in items):
            raise DataError(
                f"The caption for '{key}' in {path} is not a string or list of strings."
            )
        if items:
            captions[Path(key).as_posix()] = list(items)
    return captions


def load_imagenet_labels(path: str | Path) -> dict[str, str]:
    """WordNet id -> first class name, from a synset-mapping text file or a JSON file."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    labels: dict[str, str] = {}
    if path.suffix.lower() == ".json":
        data = json.loads(text)
        values = data.values() if isinstance(data, dict) else data
        if isinstance(data, dict) and all(_WNID.fullmatch(str(k)) for k in data):
            for wnid, label in data.items():
                label = label[0] if isinstance(label, list) else label
                labels[str(wnid)] = str(label)
        else:  # imagenet_class_index.json: {"0": ["n01440764", "tench"], ...}
            for item in values:
                if isinstance(item, list) and len(item) >= 2 and _WNID.fullmatch(str(item[0])):
                    labels[str(item[0])] = str(item[1])
    else:
        for line in text.splitlines():
            match = re.match(r"\s*(n\d{8})[\s,:]+(.+)", line)
            if match:
                labels[match.group(1)] = match.group(2).strip()
    clean = {}
    for wnid, label in labels.items():
        first = label.split(",")[0].strip().replace("_", " ")
        if first:
            clean[wnid] = first
    if not clean:
        raise DataError(f"No ImageNet labels (lines like 'n01440764 tench') found in {path}.")
    return clean


def imagenet_captions(images: list[str], labels: Mapping[str, str]) -> dict[str, list[str]]:
    """'a photo of a {label}' for each photo whose path names a known WordNet id."""
    captions = {}
    for rel in images:
        for wnid in _WNID.findall(rel):
            if wnid in labels:
                captions[rel] = [f"a photo of a {labels[wnid]}"]
                break
    return captions


def draw_caption(captions: list[str] | None, rng: np.random.Generator, dropout: float) -> str:
    """One of the photo's captions, or (with probability ``dropout``, or if it has none) a dummy."""
    if not captions or rng.random() < dropout:
        return DUMMY_CAPTIONS[int(rng.integers(len(DUMMY_CAPTIONS)))]
    return captions[int(rng.integers(len(captions)))]


def random_crop(
    rgb: np.ndarray, size: int, rng: np.random.Generator, max_zoom: float = 1.0, flip: bool = True
) -> np.ndarray:
    """Resize so the short side is ``size * zoom`` (zoom in [1, max_zoom]), crop ``size``², flip."""
    h, w = rgb.shape[:2]
    zoom = float(rng.uniform(1.0, max(max_zoom, 1.0)))
    scale = size * zoom / min(h, w)
    nh, nw = max(size, int(round(h * scale))), max(size, int(round(w * scale)))
    if (nh, nw) != (h, w):
        image = Image.fromarray(rgb)
        rgb = np.asarray(image.resize((nw, nh), Image.Resampling.BICUBIC, reducing_gap=3.0))
    y = int(rng.integers(0, nh - size + 1))
    x = int(rng.integers(0, nw - size + 1))
    crop = rgb[y : y + size, x : x + size]
    if flip and rng.random() < 0.5:
        crop = crop[:, ::-1]
    return np.ascontiguousarray(crop)


def read_rgb8(path: Path) -> np.ndarray:
    """A photo as uint8 (H,W,3) sRGB, EXIF orientation applied."""
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            return np.asarray(image.convert("RGB"))
    except (OSError, ValueError) as exc:
        raise DataError(f"The photo {path} could not be read: {exc}") from None


@dataclass
class PhotoDataset(torch.utils.data.Dataset):
    """Colour photos as piggyback training samples, indexed by a global sample counter.

    ``dataset[k]`` is a dict of tensors: ``pixel_values`` (3,s,s) in [-1, 1] (the VAE's input),
    ``lightness`` (1,s,s) CIE L* in [0, 100], ``gray`` (1,s,s) the neutral sRGB gray of that
    lightness in [-1, 1] (what the VAE-shaped encoders E_g and G take), ``hint_ab`` (2,s,s) Lab units, ``hint_mask``
    (1,s,s), plus the ``caption`` string, the photo's ``path`` and the ``hint_mode``.
    ``len(dataset)`` is the number of photos; any non-negative ``k`` is valid.
    """

    root: Path
    size: int
    captions: dict[str, list[str]] = field(default_factory=dict)
    caption_dropout: float = CAPTION_DROPOUT
    hints: HintConfig | None = field(default_factory=HintConfig)
    seed: int = 0
    max_zoom: float = 1.0
    flip: bool = True
    images: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        if not self.images:
            self.images = find_images(self.root)
        if not self.images:
            raise DataError(f"There are no photos ({', '.join(IMAGE_EXTENSIONS)}) in {self.root}.")
        n_captioned = sum(1 for rel in self.images if rel in self.captions)
        logger.info(
            "dataset %s: %d photos, %d with captions, native size %d",
            self.root,
            len(self.images),
            n_captioned,
            self.size,
        )

    def __len__(self) -> int:
        return len(self.images)

    def photo_index(self, k: int) -> int:
        """The photo that global sample ``k`` uses (a fresh shuffle every epoch)."""
        n = len(self.images)
        epoch, position = divmod(int(k), n)
        order = np.random.default_rng([self.seed, 0x5EED, epoch]).permutation(n)
        return int(order[position])

    def sample(self, k: int) -> dict:
        """Global sample ``k`` as numpy arrays (see the class docstring).

        An unreadable photo is logged and replaced by the next one in the list (so a damaged
        file in a large folder does not stop a long run; the choice is still deterministic).
        """
        index = self.photo_index(k)
        for attempt in range(_MAX_SKIPS + 1):
            rel = self.images[(index + attempt) % len(self.images)]
            try:
                photo = read_rgb8(self.root / rel)
                break
            except DataError as exc:
                if attempt == _MAX_SKIPS:
                    raise
                logger.warning("%s; using the next photo instead", exc)
        rng = np.random.default_rng([self.seed, int(k)])
        rgb8 = random_crop(photo, self.size, rng, self.max_zoom, self.flip)
        rgb = rgb8.astype(np.float32) / 255.0
        lab = rgb_to_lab(rgb)
        if self.hints is None:
            hint_ab = np.zeros((2, self.size, self.size), np.float32)
            hint_mask = np.zeros((1, self.size, self.size), np.float32)
            mode = "none"
        else:
            hint = sample_hints(rgb, rng, self.hints, lab)
            hint_ab, hint_mask, mode = hint.ab, hint.mask, hint.mode
        caption = draw_caption(self.captions.get(rel), rng, self.caption_dropout)
        return {
            "pixel_values": rgb.transpose(2, 0, 1) * 2.0 - 1.0,
            "lightness": lab[None, ..., 0],
            "gray": lightness_to_gray_rgb(lab[..., 0])[None, ..., 0] * 2.0 - 1.0,
            "hint_ab": hint_ab,
            "hint_mask": hint_mask,
            "caption": caption,
            "path": rel,
            "hint_mode": mode,
        }

    def __getitem__(self, k: int) -> dict:
        item = self.sample(k)
        for key in ("pixel_values", "lightness", "gray", "hint_ab", "hint_mask"):
            item[key] = torch.from_numpy(np.ascontiguousarray(item[key], dtype=np.float32))
        return item


class CounterSampler(torch.utils.data.Sampler[int]):
    """Yields global sample indices ``start, start+1, ...`` (``count`` of them)."""

    def __init__(self, start: int, count: int) -> None:
        self.start, self.count = int(start), int(count)

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.start, self.start + self.count))

    def __len__(self) -> int:
        return self.count


def gather_captions(
    root: Path, images: list[str], captions_file: str | Path | None, labels_file: str | Path | None
) -> dict[str, list[str]]:
    """Captions from an explicit JSON, ``root/captions.json`` and/or ImageNet label files."""
    captions: dict[str, list[str]] = {}
    if labels_file is not None:
        captions.update(imagenet_captions(images, load_imagenet_labels(labels_file)))
    if captions_file is None and (root / "captions.json").is_file():
        captions_file = root / "captions.json"
    if captions_file is not None:
        captions.update(load_caption_map(captions_file))
    unknown = [key for key in captions if key not in set(images)]
    if unknown and len(unknown) == len(captions):
        raise DataError(
            f"None of the {len(captions)} captions names a photo in {root} (keys must be paths "
            f"relative to the data folder, e.g. '{images[0]}')."
        )
    return captions


def build_dataset(
    data_dir: str | Path,
    size: int,
    captions_file: str | Path | None = None,
    labels_file: str | Path | None = None,
    hints: HintConfig | None = HintConfig(),
    seed: int = 0,
    caption_dropout: float = CAPTION_DROPOUT,
    max_zoom: float = 1.0,
    exclude: set[str] | None = None,
) -> PhotoDataset:
    """A ``PhotoDataset`` over ``data_dir`` with its captions gathered as described above."""
    root = Path(data_dir)
    images = [rel for rel in find_images(root) if rel not in (exclude or set())]
    if not images:
        raise DataError(f"There are no photos ({', '.join(IMAGE_EXTENSIONS)}) in {root}.")
    captions = gather_captions(root, images, captions_file, labels_file)
    return PhotoDataset(
        root=root,
        size=size,
        captions=captions,
        caption_dropout=caption_dropout,
        hints=hints,
        seed=seed,
        max_zoom=max_zoom,
        images=images,
    )


def collate(items: list[dict]) -> dict:
    """Stack tensors, keep strings as lists."""
    batch: dict = {}
    for key in items[0]:
        values = [item[key] for item in items]
        batch[key] = torch.stack(values) if isinstance(values[0], torch.Tensor) else values
    return batch
