"""The sha256 of a file, read in pieces so a 4 GB weights file never sits in memory.

The model store checks downloads and installed models with it, and bundles record it in
their manifest; both use this one function. A set cancel token stops it between pieces.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from piggydesk.core.progress import CancelToken, check_cancel

CHUNK = 1 << 20


def sha256_file(path: str | Path, cancel: CancelToken | None = None, chunk: int = CHUNK) -> str:
    """Hex sha256 of ``path``; raises ``Cancelled`` when ``cancel`` is set, ``OSError``."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            check_cancel(cancel, "Stopped while checking files.")
            digest.update(block)
    return digest.hexdigest()
