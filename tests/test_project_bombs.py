"""Hostile ``.piggy`` project files: every one is refused by ``load_project`` with one sentence.

Each case starts from a real project saved by ``save_project`` and changes one thing, as an
attacker (or a damaged disk) would: a result image that inflates to 20000x20000, a padded
manifest, a zip member that inflates a thousandfold, numbers out of range, deep nesting.
"""

from __future__ import annotations

import json
import struct
import zipfile
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from piggydesk.core.document import Document, ResultVariant, Run, load_project, save_project
from piggydesk.core.errors import ProjectError

H, W = 48, 64


@pytest.fixture
def project(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    source = tmp_path / "scan.png"
    cv2.imwrite(str(source), rng.integers(0, 256, (H, W), dtype=np.uint8))
    doc = Document.open_photo(source)
    doc.runs.append(Run([ResultVariant(rgb=rng.random((H, W, 3), dtype=np.float32))]))
    doc.chosen = (0, 0)
    return save_project(doc, tmp_path / "family.piggy")


def _manifest(project: Path) -> dict:
    with zipfile.ZipFile(project) as archive:
        return json.loads(archive.read("manifest.json"))


def _rewrite(project: Path, *, manifest: dict | str | bytes | None = None,
             members: dict[str, tuple[bytes, int]] | None = None) -> Path:
    """A copy of ``project`` with the manifest and/or some members replaced."""
    out = project.with_name("hostile.piggy")
    members = dict(members or {})
    with zipfile.ZipFile(project) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename == "manifest.json" and manifest is not None:
                continue
            if info.filename in members:
                continue
            dst.writestr(info, src.read(info.filename))
        if manifest is not None:
            text = manifest if isinstance(manifest, (str, bytes)) else json.dumps(manifest)
            dst.writestr("manifest.json", text, zipfile.ZIP_DEFLATED)
        for name, (data, method) in members.items():
            dst.writestr(name, data, method)
    return out


def _refused(path: Path, *fragments: str) -> str:
    with pytest.raises(ProjectError) as info:
        load_project(path)
    text = str(info.value)
    assert "\n" not in text and "Traceback" not in text
    assert text.startswith("hostile.piggy") or "hostile.piggy" in text
    for fragment in fragments:
        assert fragment in text, text
    return text


def _png_bomb(width: int, height: int) -> bytes:
    """A real 8-bit gray PNG of zeros, ``width`` x ``height``, compressed to a few kB."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer = zlib.compressobj(9)
    rows = b"\x00" * ((width + 1) * 1000)
    body = b"".join(packer.compress(rows) for _ in range(height // 1000)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def test_the_saved_project_itself_loads(project):
    doc = load_project(project)
    assert doc.image_size == (H, W) and len(doc.runs) == 1


def test_result_image_bomb_is_refused_from_its_header(project):
    image = _manifest(project)["runs"][0]["variants"][0]["image"]
    bomb = _png_bomb(20000, 20000)
    assert len(bomb) < 1_000_000
    hostile = _rewrite(project, members={image: (bomb, zipfile.ZIP_STORED)})
    _refused(hostile, "20000x20000", f"{W}x{H}")


def test_result_image_of_the_wrong_size_is_refused(project):
    image = _manifest(project)["runs"][0]["variants"][0]["image"]
    # a result may be smaller than the photo (a repair can crop), never larger
    ok, large = cv2.imencode(".png", np.zeros((H * 2, W * 2, 3), np.uint16))
    hostile = _rewrite(project, members={image: (large.tobytes(), zipfile.ZIP_STORED)})
    _refused(hostile, f"{W * 2}x{H * 2}")


def test_padded_manifest_is_refused_before_it_is_read(project):
    manifest = json.dumps(_manifest(project)) + " " * (6 << 20)  # valid JSON, 6 MB of padding
    hostile = _rewrite(project, manifest=manifest)
    assert hostile.stat().st_size < 200_000
    _refused(hostile, "manifest.json")


def test_member_that_inflates_a_thousandfold_is_refused(project):
    manifest = _manifest(project)
    hostile = _rewrite(project, members={
        manifest["source_file"]: (b"\x00" * (64 << 20), zipfile.ZIP_DEFLATED)})
    assert hostile.stat().st_size < 1_000_000
    _refused(hostile, "inflates")


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"seed": "1e400"}, "out of range"),
        ({"version": "1"}, "format version '1' is not valid"),
        ({"version": True}, "format version True is not valid"),
        ({"settings": {"num_variants": 1e6}}, "num variants"),
        ({"seed": 2**40}, "seed"),
        ({"seed": 3.5}, "whole number"),
        ({"settings": {"steps": "many"}}, "not a number"),
        ({"hints": [{"x": "NaN", "y": 1, "color": "#ff0000"}]}, "not a number PiggyDesk accepts"),
        ({"hints": [{"x": True, "y": 1, "color": "#ff0000"}]}, "hint"),
        ({"hints": [{"x": 1, "y": 1, "color": "#ff0000", "radius": -2}]}, "radius"),
        ({"hints": "everywhere"}, "hints"),
        ({"runs": [{"variants": "all"}]}, "results"),
        ({"chosen": [5, 0]}, "chosen"),
        ({"source_file": ["a"]}, "source file"),
    ],
)
def test_values_of_the_wrong_type_or_range_are_refused(project, change, fragment):
    manifest = _manifest(project)
    manifest.update(change)
    text = json.dumps(manifest)
    # raw JSON numbers json.dumps cannot write (1e400, NaN) go in as text
    text = text.replace('"1e400"', "1e400").replace('"NaN"', "NaN")
    _refused(_rewrite(project, manifest=text), fragment)


def test_deeply_nested_manifest_is_refused(project):
    manifest = json.dumps(_manifest(project))
    nested = manifest[:-1] + ', "deep": ' + "[" * 100_000 + "]" * 100_000 + "}"
    _refused(_rewrite(project, manifest=nested), "nested 100001 levels deep")


def test_too_many_results_are_refused(project):
    manifest = _manifest(project)
    image = manifest["runs"][0]["variants"][0]["image"]
    manifest["runs"] = [{"variants": [{"image": image}] * 1001}]
    manifest["chosen"] = None
    _refused(_rewrite(project, manifest=manifest), "1001 results")
