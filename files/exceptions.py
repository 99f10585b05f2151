"""Errors the files core raises; each adapter (API, admin, commands) turns them into its own answers."""

from django.core.exceptions import RequestDataTooBig

#: What every way in answers for a file that does not exist (the seed's 404 body).
FILE_NOT_FOUND = "File not found"

#: What every way in answers for an export that does not exist, or whose bytes are gone (404).
EXPORT_NOT_FOUND = "Export not found"

#: What every way in answers (503) while the database is down or too slow: the files app's and the project's.
DATABASE_UNAVAILABLE = "The database is unavailable, try again later"

#: What a download of a file the malware scanner has not cleared is answered (403), for those who must wait.
NOT_SCANNED = "The file has not been found clean by the malware scanner yet"

#: Seconds an answer to an outage (503) tells the client to wait before trying again (``Retry-After``).
RETRY_AFTER_SECONDS = 5


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


class DeclaredSizeMismatch(FileRejected):
    """A direct upload whose stored object is not the size declared when it was handed out."""

    def __init__(self, *, declared: int, stored: int) -> None:
        super().__init__(f"The stored file holds {stored} bytes, not the {declared} declared", code="size_mismatch")


class DerivativeNotMade(Exception):
    """A file that cannot be pictured (undecodable, too many pixels): trying again will not help."""


class StorageUnavailable(Exception):
    """The files' storage failed, refused or did not answer in time; every adapter answers 503.

    A service that raises it changed nothing (see ``files.services.storage``). The
    message is for the log; clients get :attr:`detail`.
    """

    detail = "File storage is unavailable, try again later"


class UploadOffsetMismatch(Exception):
    """A resumable upload's chunk that does not start where the bytes received so far end."""


class UploadLengthExceeded(Exception):
    """Bytes sent to a resumable upload past the length announced at its creation."""


class UploadChecksumMismatch(Exception):
    """A resumable upload's chunk whose bytes do not have the checksum its client sent: it is not kept."""


class UploadNotFound(Exception):
    """A resumable upload that does not exist, has expired, or is another user's."""


class DirectUploadsUnsupported(Exception):
    """A direct upload asked of a storage that cannot presign a POST (local disk): upload through the service."""

    detail = "Direct uploads need a storage that presigns uploads (S3); upload to the record's files/ or uploads/"


class UploadExpired(Exception):
    """A direct upload finalized after its ``expires_at``: ask for a new one."""

    detail = "The upload expired: start a new one"


class UploadNotReceived(Exception):
    """A direct upload finalized before its bytes reached the store."""

    detail = "Nothing has been posted for this upload yet: post the form, then finalize"


class FileOnHold(Exception):
    """A delete or purge refused: the file, or the record that owns it, is on legal hold."""


class FileNotRestorable(Exception):
    """A restore refused: the file is not in the trash, or its record is gone."""


class DeleteNotPermitted(Exception):
    """A record's deletion refused: it would delete a file the user may not delete."""


class ReplaceNotPermitted(Exception):
    """A file's content replaced by a user who may not delete it (replacing follows the delete rule)."""


class FileChanged(Exception):
    """A replacement refused: the file was replaced, deleted or put on hold since it was read."""


class HoldNotPermitted(Exception):
    """A legal hold placed or released by a user the policy does not let do it (``user_may_hold``)."""


class UnattributedDelete(Exception):
    """A record with live files deleted outside ``files.services.owner_delete``: who deleted them would be lost."""


class UploadTooLarge(RequestDataTooBig):
    """A request's files over ``FILES_MAX_REQUEST_SIZE`` together, stopped while they stream in.

    The API answers 413. It is a Django ``RequestDataTooBig`` so that
    elsewhere (the admin, whose CSRF check reads the body before any view
    runs) Django answers 400, as for a body over its own limits.
    """


class ScannerUnavailable(Exception):
    """The malware scanner (clamd) is down, or did not answer in time: the file stays pending, the scan is retried."""


class ExportNotPermitted(Exception):
    """An export asked for, or read, by a user who may not view the record's files (or not theirs to read)."""
