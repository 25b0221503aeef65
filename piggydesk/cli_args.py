"""Number types the ``piggydesk`` command's options share (``cli`` and ``cli_repair``).

Each turns an option's text into a number or raises ``argparse.ArgumentTypeError`` with one
sentence, which argparse prints as the command's one error line (exit 2). The range checks
stay with each option; only the "is it a number at all" step lives here.
"""

from __future__ import annotations

import argparse


def number(text: str, noun: str = "a number") -> float:
    """``text`` as a float, or ``'<text>' is not <noun>``."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not {noun}") from None


def whole_number(text: str) -> int:
    """``text`` as an int, or ``'<text>' is not a whole number``."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
