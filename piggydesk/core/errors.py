"""Errors that carry a message a person can read (shown as a dialog or one CLI line)."""


class PhotoError(Exception):
    """A photo could not be read, is unsupported, or could not be written.

    ``str(error)`` is a complete sentence meant for the user; it never contains a traceback.
    """


class ExportError(PhotoError):
    """An export could not be written (exists already, disk full, unsupported format...)."""


class ProjectError(PhotoError):
    """A ``.piggy`` project file could not be read or written."""
