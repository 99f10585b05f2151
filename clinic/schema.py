"""The project's OpenAPI conventions: every operation documents the errors the API's handler can give it."""

from drf_spectacular import openapi
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny

from files.api.schema import (
    CONFLICT,
    INVALID_PAGE,
    NOT_AUTHENTICATED,
    NOT_FOUND,
    PERMISSION_DENIED,
    THROTTLED,
    VALIDATION_ERROR,
)


class AutoSchema(openapi.AutoSchema):
    """Every operation also documents the errors ``clinic.errors.exception_handler`` gives it.

    An operation's own ``@extend_schema(responses=...)`` wins for a status it
    declares; the others are added by what the operation is:

    - 401 and 403 unless anyone may call it;
    - 404 and 422 with a path parameter (no such record or file; not a UUID);
    - 404 on a paginated list (``?page=`` past the last page);
    - 422 on a write (a body that does not validate), and 409 when it writes a
      record (a unique value lost to a concurrent request);
    - 409 on a delete (still referenced, or on legal hold);
    - 429 on every operation (throttled; ``files.api.throttling``).
    """

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction == "response":
            for code, response in self._error_responses().items():
                if code not in responses:
                    responses[code] = self._get_response_for_code(response, code, direction=direction)
        return responses

    def _error_responses(self) -> dict[str, OpenApiResponse]:
        errors = {"429": THROTTLED}
        if not all(isinstance(permission, AllowAny) for permission in self.view.get_permissions()):
            errors["401"], errors["403"] = NOT_AUTHENTICATED, PERMISSION_DENIED
        if "{" in self.path:
            errors["404"], errors["422"] = NOT_FOUND, VALIDATION_ERROR
        elif self._is_list_view() and self._get_paginator():
            errors["404"] = INVALID_PAGE
        if self.method in ("POST", "PUT", "PATCH"):
            errors["422"] = VALIDATION_ERROR
            if isinstance(self.get_request_serializer(), serializers.ModelSerializer):
                errors["409"] = CONFLICT
        elif self.method == "DELETE":
            errors["409"] = CONFLICT
        return errors
