"""Errors the files core raises; each adapter (API, admin, commands) turns them into its own answers."""


class FileRejected(Exception):
    """An upload that will not be stored, with a stable ``code`` for clients."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class FileTooLarge(FileRejected):
    """An upload over its category's limit (``FILES_MAX_UPLOAD_SIZES``, else ``FILES_MAX_UPLOAD_SIZE``)."""

    def __init__(self, limit: int, *, category: str) -> None:
        super().__init__(f"File is larger than the limit of {limit} bytes for {category} files", code="file_too_large")
        self.limit = limit


class FileOnHold(Exception):
    """A delete or purge refused: the file, or the record that owns it, is on legal hold."""


class FileNotRestorable(Exception):
    """A restore refused: the file is not in the trash, or its record is gone."""


class UploadTooLarge(Exception):
    """An upload refused while it streams in: a file over ``FILES_MAX_UPLOAD_SIZE``, or a request's files over
    ``FILES_MAX_REQUEST_SIZE`` together."""
