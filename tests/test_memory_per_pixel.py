"""Memory per pixel: photos are read, kept and exported without full-size float copies.

NumPy's allocations are traced by ``tracemalloc``, so the peak of each step is measured in
process (deterministic, no timing). Pillow's and OpenCV's own C buffers are not traced; the
whole-process figures (12, 48 and 100 MP through the command line) are in
``benchmarks/RESULTS.md`` (``benchmarks/bench_memory.py``). Files that are no pictures are
refused from their header or their type before their body is read.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from piggydesk.core.document import Document
from piggydesk.core.errors import PhotoError
from piggydesk.core.export import export_image
from piggydesk.core.imaging import load_photo

SIZES = ((1200, 1600), (2400, 3200))  # the slope between them is the cost per pixel
H, W = SIZES[0]
EXTRA = SIZES[1][0] * SIZES[1][1] - H * W


def _traced_peak(func):
    tracemalloc.start()
    try:
        result = func()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result, peak


def _per_pixel(make, run) -> float:
    """NumPy's peak bytes per extra pixel between the two sizes (fixed costs cancel)."""
    peaks = []
    for size in SIZES:
        data = make(*size)
        _, peak = _traced_peak(lambda data=data: run(data))
        peaks.append(peak)
        del data
    return (peaks[1] - peaks[0]) / EXTRA


def _sepia_jpeg(folder: Path, height: int, width: int) -> Path:
    rng = np.random.default_rng(0)
    gray = rng.integers(40, 220, (height, width), dtype=np.uint8)
    rgb = np.stack([gray, (gray * 0.9).astype(np.uint8), (gray * 0.75).astype(np.uint8)], -1)
    path = folder / f"sepia-{width}.jpg"
    Image.fromarray(rgb).save(path, quality=90)
    return path


def test_loading_keeps_8_bit_pixels_and_no_float_copy(tmp_path):
    photo = load_photo(_sepia_jpeg(tmp_path, H, W))
    assert photo.pixels.dtype == np.uint8 and photo.pixels.shape == (H, W, 3)
    assert photo.lightness.dtype == np.float32
    assert photo.pixels.nbytes + photo.lightness.nbytes == H * W * 7  # 3 + 4 bytes a pixel
    np.testing.assert_allclose(photo.rgb[5, 7], photo.pixels[5, 7] / 255.0, atol=1e-7)
    # held 7, the decoder's bytes 3 (joined once more by Pillow): never a float32 copy (12)
    per_pixel = _per_pixel(lambda h, w: _sepia_jpeg(tmp_path, h, w), load_photo)
    assert per_pixel < 11, per_pixel


def test_lightness_only_drops_the_pixels(tmp_path):
    photo = load_photo(_sepia_jpeg(tmp_path, H, W)).lightness_only()
    assert photo.pixels is None and photo.size == (H, W)
    assert photo.rgb.shape == (H, W, 3)  # the gray of the lightness


@pytest.mark.parametrize(("name", "depth", "limit"), [
    ("out.png", 8, 0.5), ("out16.png", 16, 0.5), ("out.jpg", 8, 0.5),
    ("out.tif", 8, 0.5), ("out16.tif", 16, 0.5),
])
def test_export_works_in_bands(tmp_path, name, depth, limit):
    def make(height, width):
        return np.random.default_rng(1).random((height, width, 3), dtype=np.float32)

    def run(rgb):
        return export_image(rgb, tmp_path / name, bit_depth=depth, overwrite=True)

    # PNG and TIFF: no full-size array at all (rows are filtered or differenced, deflated and
    # written as they come); JPEG: only Pillow's own 8-bit picture (not traced by NumPy)
    per_pixel = _per_pixel(make, run)
    assert per_pixel < limit, per_pixel
    with Image.open(tmp_path / name) as image:
        assert image.size == (SIZES[1][1], SIZES[1][0])


def test_png_export_round_trips_exactly(tmp_path):
    rgb = np.random.default_rng(2).random((H, W, 3), dtype=np.float32)
    export_image(rgb, tmp_path / "exact.png", bit_depth=16)
    back = cv2.imread(str(tmp_path / "exact.png"), cv2.IMREAD_UNCHANGED)[..., ::-1]
    np.testing.assert_array_equal(back, np.rint(rgb * 65535).astype(np.uint16))


# ----------------------------------------------------------------------------- hostile files


def test_a_device_is_not_read(tmp_path):
    with pytest.raises(PhotoError, match="not a regular file"):
        load_photo("/dev/null")
    with pytest.raises(PhotoError, match="not a regular file"):  # the app's way in, too
        Document.open_photo("/dev/null")


def _run_load(path: Path) -> subprocess.CompletedProcess:
    # The peak is this process's own high-water mark (VmHWM). Not ru_maxrss: Linux carries
    # ru_maxrss across fork and exec, so a child of a large pytest process starts at its size.
    code = (
        "import re, sys\n"
        "from piggydesk.core.errors import PhotoError\n"
        "from piggydesk.core.imaging import load_photo\n"
        "try:\n"
        "    load_photo(sys.argv[1])\n"
        "except PhotoError as exc:\n"
        "    print(exc)\n"
        "status = open('/proc/self/status').read()\n"
        "print(re.search(r'VmHWM:\\s+(\\d+) kB', status).group(1))\n"
    )
    return subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                          text=True)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sparse files and VmHWM: Linux")
def test_huge_file_is_refused_from_its_header_without_reading_it(tmp_path):
    png = tmp_path / "huge.png"
    with open(png, "wb") as handle:  # a valid 100x100 PNG header, then 3 GB (sparse)
        Image.new("L", (100, 100)).save(handle, "PNG")
        handle.truncate(3 << 30)
    junk = tmp_path / "huge.jpg"
    with open(junk, "wb") as handle:  # no picture at all, 3 GB (sparse)
        handle.truncate(3 << 30)
    for path, fragment in ((png, "far more than a 100x100 picture"), (junk, "not a picture")):
        result = _run_load(path)
        message, peak_kb = result.stdout.strip().splitlines()
        assert fragment in message
        assert int(peak_kb) < 1_000_000  # far below the 3 GB a full read would take


def test_photo_too_big_for_free_memory_is_one_sentence(tmp_path):
    sepia_jpeg = _sepia_jpeg(tmp_path, H, W)
    env = dict(os.environ, PIGGYDESK_MEMORY_LIMIT_MB="20")
    result = subprocess.run(
        [sys.executable, "-m", "piggydesk", "colorize", str(sepia_jpeg), "-o",
         str(tmp_path / "out.png")], capture_output=True, text=True, env=env)
    assert result.returncode == 2
    line = result.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert "needs about" in line and "of memory" in line and "20 MB free" in line
    assert not (tmp_path / "out.png").exists()
