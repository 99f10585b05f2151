"""The files API's errors: the one table from the files core's exceptions to API answers.

The core (services, detection, the upload handler) raises its own
exceptions and knows no HTTP; :class:`FilesAPIView` turns them into DRF's
before the project's ``EXCEPTION_HANDLER`` formats them, and puts every
refused upload or deletion on the audit trail.
"""

import logging
import uuid
from typing import Any

from django.db import DatabaseError
from rest_framework import exceptions, status

from files import limits
from files.exceptions import (
    FILE_NOT_FOUND,
    RETRY_AFTER_SECONDS,
    DeleteNotPermitted,
    DirectUploadsUnsupported,
    ExportNotPermitted,
    FileChanged,
    FileOnHold,
    FileRejected,
    FileTooLarge,
    ReplaceNotPermitted,
    StorageUnavailable,
    UploadChecksumMismatch,
    UploadExpired,
    UploadLengthExceeded,
    UploadNotFound,
    UploadNotReceived,
    UploadOffsetMismatch,
    UploadTooLarge,
)
from files.models import File

INVALID_UUID_MESSAGE = "Input should be a valid UUID"

logger = logging.getLogger(__name__)


class RequestValidationError(exceptions.ValidationError):
    """A validation error in one part of the request: ``path``, ``query`` or ``body`` (its ``location``)."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY

    def __init__(self, detail: Any, *, location: str) -> None:
        super().__init__(detail)
        self.location = location


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body is too large"
    default_code = "payload_too_large"


class ChecksumMismatch(exceptions.APIException):
    """tus's own status for a chunk that does not have the checksum its client sent (the checksum extension)."""

    status_code = 460
    default_detail = "Checksum mismatch"
    default_code = "checksum_mismatch"


class OnHold(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The file is under legal hold"
    default_code = "legal_hold"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The file changed meanwhile"
    default_code = "conflict"


class Gone(exceptions.APIException):
    status_code = status.HTTP_410_GONE
    default_detail = UploadExpired.detail
    default_code = "expired"


class StorageDown(exceptions.APIException):
    """503 with ``Retry-After`` (DRF's handler sends ``wait`` as that header)."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = StorageUnavailable.detail
    default_code = "storage_unavailable"
    wait = RETRY_AFTER_SECONDS


def parse_uuid(value: str, *, location: str, name: str) -> uuid.UUID:
    """Return ``value`` as a UUID, or raise the 422 clients expect for it."""
    try:
        return uuid.UUID(value)
    except (TypeError, ValueError):
        detail = {name: [exceptions.ErrorDetail(INVALID_UUID_MESSAGE, code="uuid_parsing")]}
        raise RequestValidationError(detail, location=location) from None


def api_exception(exc: Exception) -> Exception:
    """The API's answer to a files core exception (``exc`` itself when it is not one)."""
    if isinstance(exc, FileTooLarge | UploadTooLarge):
        return PayloadTooLarge(str(exc))
    if isinstance(exc, UploadLengthExceeded):
        return PayloadTooLarge(f"The upload's bytes go past its Upload-Length of {exc.args[0]}")
    if isinstance(exc, UploadOffsetMismatch):
        return Conflict(f"Upload-Offset must be {exc.args[0]}, the bytes received so far")
    if isinstance(exc, UploadNotFound):
        return exceptions.NotFound("Upload not found")
    if isinstance(exc, UploadChecksumMismatch):
        return ChecksumMismatch(f"The chunk's bytes do not have its Upload-Checksum ({exc.args[0]}); none were kept")
    if isinstance(exc, UploadExpired):
        return Gone()
    if isinstance(exc, UploadNotReceived):
        return Conflict(UploadNotReceived.detail)
    if isinstance(exc, DirectUploadsUnsupported):
        return Conflict(DirectUploadsUnsupported.detail)
    if isinstance(exc, FileRejected):
        return RequestValidationError({"file": [exceptions.ErrorDetail(exc.message, code=exc.code)]}, location="body")
    if isinstance(exc, FileOnHold):
        return OnHold(str(exc))
    if isinstance(exc, FileChanged):
        return Conflict(str(exc))
    if isinstance(exc, DeleteNotPermitted | ReplaceNotPermitted | ExportNotPermitted):
        return exceptions.PermissionDenied("Permission denied")
    if isinstance(exc, File.DoesNotExist):
        return exceptions.NotFound(FILE_NOT_FOUND)
    if isinstance(exc, StorageUnavailable):
        logger.warning("files API: %s", exc, exc_info=exc)
        return StorageDown()
    return exc


class FilesAPIView:
    """Mixin for the files API's views: core exceptions answered by :func:`api_exception`, refusals audited.

    A view that audits refused attempts returns one from ``audit_attempt(request)``.
    """

    def handle_exception(self, exc: Exception):
        exc = api_exception(exc)
        attempt = self.audit_attempt(self.request)
        if attempt is not None and getattr(exc, "status_code", None) in limits.COUNTED_STATUSES:
            wait = limits.refusal_throttle(address=attempt.context.address)
            exc = exceptions.Throttled(wait) if wait is not None else exc
        response = super().handle_exception(exc)
        if attempt is not None:
            attempt = attempt.throttled() if response.status_code == 429 else attempt
            try:
                attempt.record(status=response.status_code, detail=_detail(response))
            except DatabaseError:
                # The database is down (the answer already says so): nothing was done, and the log keeps the attempt.
                logger.exception("audit trail: refused attempt not recorded (%s)", response.status_code)
        return response

    def audit_attempt(self, request):
        """The attempt a refusal of this request is recorded as, or None."""
        return None


def _detail(response) -> str:
    """A refusal's message as the audit trail records it."""
    if response.status_code == 429:
        return limits.THROTTLED
    detail = response.data["detail"]
    return detail if isinstance(detail, str) else _summary(detail)


def _summary(errors: list[dict]) -> str:
    """A 422's errors in one line: ``body.file: File type is not supported; ...``."""
    return "; ".join(f"{'.'.join(map(str, error['loc']))}: {error['msg']}" for error in errors)
