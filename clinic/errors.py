"""The project's API error format, one handler for every app's endpoints.

Validation errors are 422 with the shape existing clients parse::

    {"detail": [{"loc": ["path", "file_id"], "msg": "...", "type": "..."}]}

every other error is ``{"detail": "..."}`` with its status. A validation error
says which part of the request it is about with a ``location`` attribute
(``path``, ``query``; ``body`` when it has none).

An outage (the database or the files' storage down, refusing or too slow)
is 503 with ``Retry-After`` and what failed, never 500: in the API, and
through ``handler500`` everywhere else (middleware, the admin).
"""

import logging
import sys
from typing import Any

from django.db import IntegrityError, InterfaceError, OperationalError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404, JsonResponse, UnreadablePostError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from files.exceptions import DATABASE_UNAVAILABLE, RETRY_AFTER_SECONDS, StorageUnavailable

logger = logging.getLogger(__name__)

# DRF's error codes, where clients know a different name for the same error.
_TYPE_FOR_CODE = {"required": "missing", "null": "missing", "invalid_choice": "enum"}
_MSG_FOR_CODE = {"required": "Field required", "null": "Field required"}


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The record is still referenced by other records"
    default_code = "conflict"


class DatabaseUnavailable(exceptions.APIException):
    """The database refused a connection, broke it or cancelled a statement past its ``statement_timeout``."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = DATABASE_UNAVAILABLE
    default_code = "database_unavailable"
    wait = RETRY_AFTER_SECONDS  # DRF's handler sends it as Retry-After


class UnreadableBody(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "The request body could not be read: the connection was lost"
    default_code = "unreadable_body"


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's ``EXCEPTION_HANDLER``: every API error leaves through here, in the format above."""
    if isinstance(exc, exceptions.ParseError | UnreadablePostError):
        _discard_partial_upload(context.get("request"))
    if isinstance(exc, exceptions.ValidationError):
        location = getattr(exc, "location", "body")
        return _validation_response(list(_flatten(exc.detail, [location])))
    if isinstance(exc, exceptions.ParseError):
        return _validation_response([{"loc": ["body"], "msg": str(exc.detail), "type": exc.detail.code}])
    response = drf_exception_handler(_as_api_exception(exc), context)
    if response is not None and not isinstance(response.data.get("detail"), str):
        response.data = {"detail": str(response.data)}
    return response


def _as_api_exception(exc: Exception) -> Exception:
    if isinstance(exc, exceptions.NotAuthenticated):
        exc.detail = exceptions.ErrorDetail("Not authenticated", code=exc.detail.code)
    elif isinstance(exc, exceptions.PermissionDenied) and exc.detail == exceptions.PermissionDenied.default_detail:
        exc.detail = exceptions.ErrorDetail("Permission denied", code=exc.detail.code)
    elif isinstance(exc, ProtectedError | RestrictedError):
        return Conflict()
    elif isinstance(exc, IntegrityError):
        # Two requests racing for the same unique value: the loser's validation passed before the winner's insert.
        return Conflict("The request conflicts with an existing record")
    elif isinstance(exc, UnreadablePostError):
        # The client reset the connection while sending the body: an incomplete request, not a server error.
        return UnreadableBody()
    elif isinstance(exc, OperationalError | InterfaceError):
        logger.warning("database unavailable: %s", exc, exc_info=exc)
        return DatabaseUnavailable()
    elif isinstance(exc, Http404):
        # Django's own message names the model; the API says only this.
        return exceptions.NotFound("Not found")
    return exc


def _discard_partial_upload(request) -> None:
    """Remove the temporary file of a file part the parser gave up on.

    A malformed part (bad base64) or a connection reset in the middle of a
    file leaves that file open in its upload handler, which lives as long as
    the request does: the garbage collector alone would remove it.
    """
    for handler in getattr(request, "upload_handlers", ()):
        handler.upload_interrupted()


def _validation_response(errors: list[dict]) -> Response:
    return Response({"detail": errors}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)


def _flatten(detail: Any, loc: list) -> Any:
    """Yield one ``{"loc", "msg", "type"}`` item per error in DRF's nested detail."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            # DRF files object-level errors under "non_field_errors"; they belong to the part itself.
            yield from _flatten(value, loc if key == "non_field_errors" else [*loc, key])
    elif isinstance(detail, list) and all(isinstance(item, exceptions.ErrorDetail) for item in detail):
        for item in detail:
            code = item.code or "invalid"
            yield {"loc": loc, "msg": _MSG_FOR_CODE.get(code, str(item)), "type": _TYPE_FOR_CODE.get(code, code)}
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            if value:
                yield from _flatten(value, [*loc, index])
    else:
        yield {"loc": loc, "msg": str(detail), "type": getattr(detail, "code", None) or "invalid"}


def bad_request(request, exception=None) -> JsonResponse:
    """``handler400``: a request Django refused before any view (too many parts, a bad host)."""
    return JsonResponse({"detail": "Bad request"}, status=400)


def not_found(request, exception=None) -> JsonResponse:
    """``handler404``: a URL that matches no route, in the API's format."""
    return JsonResponse({"detail": "Not found"}, status=404)


def server_error(request) -> JsonResponse:
    """``handler500``: the details go to the log, never to the client; an outage is 503 with what failed."""
    detail = _outage_detail(sys.exc_info()[1])
    if detail is not None:
        return JsonResponse({"detail": detail}, status=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    return JsonResponse({"detail": "Internal server error"}, status=500)


def _outage_detail(exc: BaseException | None) -> str | None:
    if isinstance(exc, OperationalError | InterfaceError):
        return DATABASE_UNAVAILABLE
    if isinstance(exc, StorageUnavailable):
        return exc.detail
    return None
