"""Working sizes: the small resolution an engine runs at, keeping the photo's aspect ratio."""

from __future__ import annotations

from piggydesk.core.errors import PhotoError

MIN_SIDE = 32


def check_min_size(height: int, width: int) -> None:
    """Refuse photos too small to colorize meaningfully."""
    if min(height, width) < MIN_SIDE:
        raise PhotoError(
            f"This photo is only {width}x{height} pixels; PiggyDesk needs at least "
            f"{MIN_SIDE} pixels on each side."
        )


def working_shape(height: int, width: int, long_side: int = 512, multiple: int = 8) -> tuple[int, int]:
    """``(h, w)`` with the long side about ``long_side`` and both sides multiples of ``multiple``.

    Photos smaller than the working size are scaled *up* (the learned engines degrade below
    256 px); the result is recombined at the original size by ``core.recombine``.
    """
    scale = long_side / max(height, width)
    h = max(multiple, int(round(height * scale / multiple)) * multiple)
    w = max(multiple, int(round(width * scale / multiple)) * multiple)
    return h, w


def area_shape(height: int, width: int, native: int, multiple: int) -> tuple[int, int]:
    """``(h, w)`` with about ``native**2`` pixels, the aspect ratio kept, sides multiples of ``multiple``.

    Used by diffusion models, which are trained at a fixed area rather than a fixed long side.
    """
    aspect = width / height
    h = (native * native / aspect) ** 0.5
    w = h * aspect
    h_m = max(multiple, int(round(h / multiple)) * multiple)
    w_m = max(multiple, int(round(w / multiple)) * multiple)
    return h_m, w_m
