"""Errors raised by the model store; each message is one sentence a person can act on.

They derive from :class:`piggydesk.core.errors.PhotoError`, the project's user-facing error,
so the CLI prints them as one line (exit status 2) and the GUI shows them in a dialog.
"""

from __future__ import annotations

from piggydesk.core.errors import PhotoError
from piggydesk.core.progress import Cancelled


class ModelStoreError(PhotoError):
    """Something about models, downloads or imports went wrong; ``str()`` is for the user."""


class CatalogError(ModelStoreError):
    """The model catalogue is missing, unreadable or malformed."""


class UnknownModelError(ModelStoreError):
    """No catalogue entry or installed model has the requested id."""


class DownloadError(ModelStoreError):
    """A download failed (host unreachable, stalled, HTTP error...). Partial data is kept."""


class ChecksumError(DownloadError):
    """A downloaded or installed file does not have the expected sha256 or size."""


class NotEnoughSpaceError(ModelStoreError):
    """The disk does not have room for the download; nothing was started."""


class DownloadCancelled(ModelStoreError, Cancelled):
    """The user stopped the download; the partial files are kept for a later resume.

    Also a ``core.progress.Cancelled``, the error every cancelled task raises (checking a
    model's files raises the plain one), so callers catch ``Cancelled`` for both.
    """


class InvalidModelFolderError(ModelStoreError):
    """A folder offered for import is not a usable diffusers SD 1.x model or PiggyDesk bundle."""
