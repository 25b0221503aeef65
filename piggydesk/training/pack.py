"""Pack a balanced training set of the photo folder into one small zip of JPEGs.

Usage::

    python -m piggydesk.training.pack --data ~/data/photos --out ~/runs/pack.zip \
            --count 13000 --side 128 --quality 75 --val-count 192

The pack (a zip of JPEGs, stored) carries what training needs and nothing else, so it can
travel to a GPU machine (``train_instant train --data pack.zip``):

* ``count`` training photos (measured on the 2026-12 folder: about 4.9 KB a photo at 128 px and
  quality 75, so the default 13,000 make a pack under 64 MiB) chosen by content (``photos.content_weights``: a third people,
  food and flowers a small share, no source above 12 %), each source's photos picked in a
  fixed order (by hash), resized to ``side`` px on the short side, re-encoded as JPEG;
* a few validation photos (half people, half scenes), for the validation during training:
  they come from the validation split (by hash of the file name) and are never trained on;
* ``pack.json``: for each photo its path in the folder, source, caption, split and sampling
  weight. A source with fewer photos than its share would fill keeps all of them and gets a
  higher weight per photo, so sampling the pack by these weights follows the same content
  shares as sampling the whole folder.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
import time
import zipfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from piggydesk.core.atomic import open_atomic
from piggydesk.logging_setup import close_logging, setup_logging
from piggydesk.training.photos import (
    PhotoCache,
    PhotoEntry,
    choose_photos,
    content_weights,
    list_photos,
    read_rgb,
    resize_short_side,
    split_hash,
)

logger = logging.getLogger(__name__)

PACK_META = "pack.json"
PACK_VERSION = 1
MAX_META_BYTES = 64 << 20


def allocate(entries: list[PhotoEntry], count: int) -> list[tuple[PhotoEntry, float]]:
    """Choose up to ``count`` photos following ``content_weights``; (photo, weight) pairs.

    Each (group, source) stratum gets ``count`` times its sampling share, at most all its
    photos (the rest is re-shared among the others); its photos are taken in hash order and
    share the stratum's probability equally.
    """
    probs = content_weights(entries)
    strata: dict[tuple[str, str], list[int]] = {}
    for i, e in enumerate(entries):
        strata.setdefault((e.group, e.source), []).append(i)
    share = {k: float(probs[idx].sum()) for k, idx in strata.items()}
    quota: dict[tuple[str, str], int] = {}
    open_keys = set(strata)
    left = min(count, len(entries))
    while open_keys and left > 0:
        total = sum(share[k] for k in open_keys)
        full = {k for k in open_keys if len(strata[k]) <= left * share[k] / total}
        if not full:
            raw = {k: left * share[k] / total for k in open_keys}
            base = {k: int(np.floor(v)) for k, v in raw.items()}
            rest = left - sum(base.values())
            for k in sorted(open_keys, key=lambda k: base[k] - raw[k])[:rest]:
                base[k] += 1
            quota.update(base)
            break
        for k in full:
            quota[k] = len(strata[k])
            left -= len(strata[k])
        open_keys -= full
    chosen: list[tuple[PhotoEntry, float]] = []
    for key in sorted(quota):
        n = quota[key]
        if n <= 0:
            continue
        idx = sorted(strata[key], key=lambda i: split_hash(entries[i].rel[::-1]))[:n]
        chosen += [(entries[i], share[key] / n) for i in idx]
    return chosen


def _encode(rgb: np.ndarray, quality: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality, optimize=True)
    return buf.getvalue()


def _reusable(reuse: Path | None, side: int, quality: int) -> dict[str, bytes]:
    """Encoded photos of an earlier pack made with the same side and quality, by path."""
    if reuse is None or not reuse.is_file():
        return {}
    with zipfile.ZipFile(reuse, "r") as old:
        if old.getinfo(PACK_META).file_size > MAX_META_BYTES:
            return {}
        meta = json.loads(old.read(PACK_META).decode("utf-8"))
        if meta.get("side") != side or meta.get("quality") != quality:
            return {}
        return {item["rel"]: old.read(f"photos/{item['rel']}") for item in meta["photos"]}


def build_pack(
    data: Path,
    out: Path,
    count: int = 13_000,
    side: int = 128,
    quality: int = 75,
    val_count: int = 192,
    reuse: Path | None = None,
) -> dict:
    """Write the pack (atomically) and return its summary. Photos already in the pack
    ``reuse`` (same side and quality) are copied from it instead of decoded again."""
    start = time.perf_counter()
    done = _reusable(reuse, side, quality)
    train = allocate(list_photos(data, "train"), count)
    val = choose_photos(list_photos(data, "val"), val_count)
    items = [(e, w, "train") for e, w in train] + [(e, 0.0, "val") for e in val]
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = []
    sources: dict[str, int] = {}
    with open_atomic(out) as handle, zipfile.ZipFile(
        handle, "w", compression=zipfile.ZIP_STORED
    ) as pack:
        for n, (entry, weight, split) in enumerate(items):
            blob = done.get(entry.rel)
            if blob is None:
                try:
                    rgb = read_rgb(data / entry.rel, max_side=side * 2)
                except (OSError, ValueError) as exc:
                    logger.warning("skipping %s: %s", entry.rel, exc)
                    continue
                blob = _encode(np.ascontiguousarray(resize_short_side(rgb, side)), quality)
            pack.writestr(f"photos/{entry.rel}", blob)
            meta.append({"rel": entry.rel, "source": entry.source, "caption": entry.caption,
                         "split": split, "weight": weight})
            if split == "train":
                sources[entry.source] = sources.get(entry.source, 0) + 1
            if (n + 1) % 2000 == 0:
                logger.info("packed %d/%d photos (%.0f s)", n + 1, len(items),
                            time.perf_counter() - start)
        groups: dict[str, float] = {}
        for e, w in train:
            groups[e.group] = groups.get(e.group, 0.0) + w
        summary = {
            "version": PACK_VERSION,
            "side": side,
            "quality": quality,
            "train": sum(1 for m in meta if m["split"] == "train"),
            "val": sum(1 for m in meta if m["split"] == "val"),
            "group_shares": {g: round(v, 4) for g, v in sorted(groups.items())},
            "sources": dict(sorted(sources.items())),
        }
        pack.writestr(PACK_META, json.dumps({**summary, "photos": meta}))
    summary["bytes"] = out.stat().st_size
    logger.info("wrote %s: %d train + %d val photos, %.1f MiB in %.0f s", out, summary["train"],
                summary["val"], summary["bytes"] / 2**20, time.perf_counter() - start)
    return summary


def is_pack(path: str | Path) -> bool:
    return Path(path).is_file() and str(path).endswith(".zip")


def load_pack(path: str | Path, split: str, side: int | None = None) -> PhotoCache:
    """The photos of one split of a pack as a ``PhotoCache`` (train: with their weights)."""
    if split not in ("train", "val"):
        raise ValueError(f"split must be train or val, not {split!r}")
    with zipfile.ZipFile(path, "r") as pack:
        if pack.getinfo(PACK_META).file_size > MAX_META_BYTES:
            raise ValueError(f"{path}: {PACK_META} is too large")
        meta = json.loads(pack.read(PACK_META).decode("utf-8"))
        entries, images, weights = [], [], []
        for item in meta["photos"]:
            if item["split"] != split:
                continue
            raw = pack.read(f"photos/{item['rel']}")
            bgr = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
            if bgr is None:
                logger.warning("skipping undecodable %s", item["rel"])
                continue
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            if side is not None and min(rgb.shape[:2]) != side:
                rgb = resize_short_side(rgb, side)
            images.append(np.ascontiguousarray(rgb))
            entries.append(PhotoEntry(item["rel"], item["source"], item.get("caption", "")))
            weights.append(float(item.get("weight", 0.0)))
    w = np.asarray(weights, dtype=np.float64)
    logger.info("loaded %d %s photos from pack %s", len(entries), split, path)
    return PhotoCache(entries, images, w / w.sum() if split == "train" and w.sum() > 0 else None)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m piggydesk.training.pack",
                                description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, type=Path, help="the photo folder")
    p.add_argument("--out", required=True, type=Path, help="the pack to write (.zip)")
    p.add_argument("--count", type=int, default=13_000, help="training photos")
    p.add_argument("--side", type=int, default=128, help="short side of the packed photos")
    p.add_argument("--quality", type=int, default=75, help="JPEG quality")
    p.add_argument("--val-count", type=int, default=192, help="validation photos")
    p.add_argument("--reuse", type=Path, default=None,
                   help="an earlier pack (same side and quality) to copy photos from")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not str(args.out).endswith(".zip"):
        sys.stderr.write("The pack's name must end in .zip.\n")
        return 2
    if not args.data.expanduser().is_dir():
        sys.stderr.write(f"No photo folder at {args.data}.\n")
        return 2
    setup_logging(args.out.expanduser().with_suffix(".log"), console=True)
    try:
        summary = build_pack(args.data.expanduser(), args.out.expanduser(), args.count,
                             args.side, args.quality, args.val_count, args.reuse)
    finally:
        close_logging()
    sys.stdout.write(json.dumps(summary, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
