"""Batch planning: the photos of a folder, and an output name for each that never collides.

``scan.jpg``, ``scan.jpeg`` and ``scan.png`` in one folder would all become ``scan.png``;
``plan_outputs`` gives each photo its own name instead, the same way on every run (so a rerun
with ``--skip-existing`` finds what an earlier run wrote):

* the photos of one name (compared case-insensitively, as Windows and macOS do) are ordered
  by ``PHOTO_SUFFIXES``; the first keeps the plain name (``scan.png``), the others carry
  their own ending (``scan-jpeg.png``, ``scan-png.png``);
* a name already taken (by another photo's output, or by a photo itself when the results
  go into the photos' own folder) gets a number (``scan-jpeg-2.png``);
* several variants per photo are ``scan-1.png`` ... ``scan-N.png``, reserved as a group.

The command line's ``batch`` and the Batch dialog both use this plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from piggydesk.core.paths import same_file

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")
"""File endings a batch picks up, in the order that decides who keeps a shared name."""


def find_photos(folder: Path) -> list[Path]:
    """The photos directly inside ``folder`` (regular files with a photo ending), sorted."""
    return sorted(
        p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file()
    )


def variant_paths(output: Path, count: int) -> list[Path]:
    """``photo.png`` for one variant; ``photo-1.png`` ... ``photo-N.png`` for several."""
    if count <= 1:
        return [output]
    return [output.with_name(f"{output.stem}-{i}{output.suffix}") for i in range(1, count + 1)]


def _key(path: Path) -> str:
    return path.name.casefold()


def plan_outputs(
    sources: Sequence[Path],
    out_dir: Path,
    extension: str,
    *,
    variants: int = 1,
    tag: str = "",
) -> dict[Path, list[Path]]:
    """Map each source to its output path(s) in ``out_dir``; no two sources share one.

    ``extension`` is the output ending (``".png"``); ``tag`` is added to every stem (the
    dialog's ``"-colorized"``).
    """
    extension = extension if extension.startswith(".") else f".{extension}"
    used: set[str] = set()
    if any(same_file(s.parent, out_dir) for s in sources[:1]) and out_dir.is_dir():
        used.update(_key(s) for s in sources)  # never plan an output over a photo

    def rank(source: Path) -> tuple[str, int, str]:
        suffix = source.suffix.lower()
        order = PHOTO_SUFFIXES.index(suffix) if suffix in PHOTO_SUFFIXES else len(PHOTO_SUFFIXES)
        return (source.stem.casefold(), order, source.name)

    ordered = sorted(sources, key=rank)
    plan: dict[Path, list[Path]] = {}
    first_of_stem: set[str] = set()

    def take(stem: str) -> list[Path] | None:
        paths = variant_paths(out_dir / f"{stem}{tag}{extension}", variants)
        keys = {_key(p) for p in paths}
        if keys & used or len(keys) != len(paths):
            return None
        used.update(keys)
        return paths

    # 1. the first photo of each name keeps the plain name (when it is free)
    for source in ordered:
        stem_key = source.stem.casefold()
        if stem_key in first_of_stem:
            continue
        first_of_stem.add(stem_key)
        paths = take(source.stem)
        if paths is not None:
            plan[source] = paths
    # 2. the others carry their own ending, numbered if even that is taken
    for source in ordered:
        if source in plan:
            continue
        base = f"{source.stem}-{source.suffix.lstrip('.')}" if source.suffix else source.stem
        paths = take(base)
        number = 2
        while paths is None:
            paths = take(f"{base}-{number}")
            number += 1
        plan[source] = paths
    return {source: plan[source] for source in sources}
