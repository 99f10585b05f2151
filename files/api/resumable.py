"""Resumable uploads over the tus 1.0 protocol (core, creation, termination, expiration, checksum), for tus clients.

``/api/{records}/{id}/uploads/`` (OPTIONS, POST) and ``.../uploads/{upload_id}/``
(HEAD, PATCH, DELETE); the rules are in :mod:`files.resumable`. Every request
is authorised as an upload to the record, and an upload is found only by its
creator. Errors keep the API's format, with tus's status codes.
"""

import base64
import binascii
import hashlib

from django.urls import reverse
from django.utils.http import http_date
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from files import conf
from files.api.errors import ChecksumMismatch, RequestValidationError, parse_uuid
from files.policy import ADD
from files.resumable import (
    CHECKSUM_ALGORITHMS,
    resumable_append,
    resumable_create,
    resumable_delete,
    resumable_get,
)

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,termination,expiration,checksum"
CHUNK_MEDIA_TYPE = "application/offset+octet-stream"
#: Bytes read from the request body at a time: a chunk of any size never sits whole in memory.
READ_SIZE = 64 * 1024


class TusVersionRequired(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = f"Tus-Resumable: {TUS_VERSION} is required"
    default_code = "tus_version"


class ResumableUploadPermission(BasePermission):
    """The right to upload files to the record, on every request (OPTIONS, tus's discovery, excepted)."""

    def has_permission(self, request, view) -> bool:
        return request.method == "OPTIONS" or conf.permission_policy().user_has_permission(request.user, ADD)

    def has_object_permission(self, request, view, obj) -> bool:
        return conf.permission_policy().user_has_permission_for_owner(request.user, ADD, obj)


def _header_error(name: str, message: str) -> RequestValidationError:
    return RequestValidationError({name: [exceptions.ErrorDetail(message, code="invalid")]}, location="header")


def _count(request, name: str) -> int:
    """Header ``name`` as a count of bytes."""
    value = request.headers.get(name, "")
    if not (value.isascii() and value.isdigit()):
        raise _header_error(name, "Must be a whole number of bytes")
    return int(value)


def _metadata(request) -> dict[str, str]:
    """``Upload-Metadata``: comma-separated ``key base64value`` pairs."""
    pairs = {}
    for pair in filter(None, (part.strip() for part in request.headers.get("Upload-Metadata", "").split(","))):
        key, _, value = pair.partition(" ")
        try:
            pairs[key] = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise _header_error("Upload-Metadata", f"{key}: not base64 of UTF-8 text") from None
    return pairs


def _checksum(request) -> tuple[str, bytes] | None:
    """``Upload-Checksum``: an algorithm of :data:`CHECKSUM_ALGORITHMS`, a space, the chunk's digest in base64."""
    value = request.headers.get("Upload-Checksum")
    if value is None:
        return None
    algorithm, _, encoded = value.strip().partition(" ")
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise _header_error("Upload-Checksum", f"The algorithm must be one of {', '.join(CHECKSUM_ALGORITHMS)}")
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        digest = b""
    if len(digest) != hashlib.new(algorithm).digest_size:
        raise _header_error("Upload-Checksum", f"The digest must be a {algorithm} digest in base64")
    return algorithm, digest


def _body_chunks(request):
    """The request body, a read at a time. A connection dropped mid-body ends it: the bytes received are kept."""
    stream = request.stream
    while stream is not None:
        try:
            chunk = stream.read(READ_SIZE)
        except OSError:  # the client went away (Django's UnreadablePostError is one)
            return
        if not chunk:
            return
        yield chunk


def _file_headers(file_id) -> dict[str, str]:
    url = reverse("files:file-detail", kwargs={"pk": file_id})
    return {"X-File-Id": str(file_id), "Link": f'<{url}>; rel="related"'}


#: tus is a protocol of headers and bodies OpenAPI does not describe (README.md does): not in the schema.
_NOT_IN_SCHEMA = extend_schema(exclude=True)


class ResumableUploadsMixin:
    """The tus endpoints of a viewset of file owners (``get_object()`` is the record)."""

    tus_actions = ("uploads", "upload")

    def _tus_request(self, request):
        """The record, after the tus version check and the upload right on it."""
        if request.headers.get("Tus-Resumable") != TUS_VERSION:
            raise TusVersionRequired()
        return self.get_object()

    @_NOT_IN_SCHEMA
    @action(
        detail=True,
        methods=["post", "options"],
        url_path="uploads",
        permission_classes=[ResumableUploadPermission],
    )
    def uploads(self, request, *args, **kwargs) -> Response:
        """tus discovery (OPTIONS) and creation (POST)."""
        if request.method == "OPTIONS":
            return Response(
                status=204,
                headers={
                    "Tus-Extension": TUS_EXTENSIONS,
                    "Tus-Max-Size": str(conf.max_upload_size()),
                    "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS),
                },
            )
        owner = self._tus_request(request)
        length = _count(request, "Upload-Length")
        if length == 0:
            raise _header_error("Upload-Length", "An upload holds at least one byte")
        metadata = _metadata(request)
        category = metadata.get("type") or conf.default_category()
        if category not in conf.categories():
            raise _header_error("Upload-Metadata", f"type: must be one of {', '.join(conf.categories())}")
        upload = resumable_create(
            owner=owner,
            created_by=request.user,
            length=length,
            filename=metadata.get("filename", ""),
            category=category,
        )
        return Response(status=201, headers={"Location": f"{request.path}{upload.pk}/", **_expiry(upload)})

    @_NOT_IN_SCHEMA
    @action(
        detail=True,
        methods=["head", "patch", "delete"],
        url_path=r"uploads/(?P<upload_id>[^/]+)",
        permission_classes=[ResumableUploadPermission],
    )
    def upload(self, request, *args, upload_id: str, **kwargs) -> Response:
        """tus core (HEAD, PATCH) and termination (DELETE)."""
        owner = self._tus_request(request)
        upload_id = parse_uuid(upload_id, location="path", name="upload_id")
        if request.method == "PATCH":
            return self._append(request, owner, upload_id)
        upload = resumable_get(upload_id=upload_id, owner=owner, user=request.user)
        if request.method == "DELETE":
            resumable_delete(upload=upload)
            return Response(status=204)
        headers = {
            "Upload-Offset": str(upload.offset),
            "Upload-Length": str(upload.length),
            "Cache-Control": "no-store",
        }
        if upload.file_id is not None:
            headers.update(_file_headers(upload.file_id))
        return Response(status=200, headers={**headers, **_expiry(upload)})

    def _append(self, request, owner, upload_id) -> Response:
        if request.content_type.split(";")[0].strip().lower() != CHUNK_MEDIA_TYPE:
            raise exceptions.UnsupportedMediaType(request.content_type)
        offset = _count(request, "Upload-Offset")
        upload = resumable_append(
            upload_id=upload_id,
            owner=owner,
            user=request.user,
            offset=offset,
            chunks=_body_chunks(request),
            checksum=_checksum(request),
        )
        headers = {"Upload-Offset": str(upload.offset), **_expiry(upload)}
        if upload.file_id is not None:
            headers.update(_file_headers(upload.file_id))
        return Response(status=204, headers=headers)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        # By its route (DRF names every OPTIONS request's action "metadata").
        if getattr(self, "action_map", {}).get(request.method.lower()) in self.tus_actions:
            response["Tus-Resumable"] = TUS_VERSION
            if request.method == "OPTIONS" or response.status_code == 412:
                response["Tus-Version"] = TUS_VERSION
            if response.status_code == ChecksumMismatch.status_code:
                response.reason_phrase = "Checksum Mismatch"  # tus's name; HTTP has none for 460
        return response


def _expiry(upload) -> dict[str, str]:
    return {"Upload-Expires": http_date(upload.expires_at.timestamp())}
