"""``piggydesk batch`` progress: a bar on a terminal, one line per photo when stderr is captured."""

from __future__ import annotations

import os
import re
import select
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def _photos(folder: Path, names: list[str]) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in names:
        gray = (rng.random((48, 64)) * 255).astype(np.uint8)
        Image.fromarray(gray, mode="L").save(folder / name)
    return folder


def _batch_args(tmp_path: Path) -> list[str]:
    photos = _photos(tmp_path / "in", ["a.png", "b.png", "c.png"])
    (photos / "broken.jpg").write_bytes(b"not a photo")
    return [sys.executable, "-m", "piggydesk", "batch", str(photos), "-o", str(tmp_path / "out"),
            "--engine", "classic", "--hint", "3,3,#aa3322", "--size", "64"]


def test_captured_stderr_gets_one_line_per_photo(tmp_path):
    result = subprocess.run(_batch_args(tmp_path), capture_output=True, text=True,
                            check=False, cwd=ROOT)
    assert result.returncode == 2  # broken.jpg failed; the others were written
    lines = [ln for ln in result.stderr.splitlines() if re.match(r"\d+/\d+ ", ln)]
    assert [ln.split(":")[0] for ln in lines] == [
        "1/4 a.png", "2/4 b.png", "3/4 broken.jpg", "4/4 c.png"]
    assert re.fullmatch(r"1/4 a\.png: \d+\.\d s", lines[0])
    assert re.fullmatch(r"3/4 broken\.jpg: failed after \d+\.\d s", lines[2])
    assert "\r" not in result.stderr  # no bar redrawn into a log
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png", "c.png"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses a pseudo-terminal")
def test_a_terminal_gets_a_progress_bar(tmp_path):
    import fcntl
    import pty
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    process = subprocess.Popen(_batch_args(tmp_path), stdout=subprocess.DEVNULL,
                               stderr=follower, cwd=ROOT)
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 1.0)
        if ready:
            try:
                data = os.read(leader, 4096)
            except OSError:  # the other end closed
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    process.wait()
    os.close(leader)
    screen = b"".join(chunks).decode("utf-8", "replace")
    assert process.returncode == 2
    assert "Colorizing" in screen and "4/4" in screen and "\r" in screen
    assert not re.search(r"^\d+/\d+ \S+: \d", screen, re.MULTILINE)  # no per-photo lines
