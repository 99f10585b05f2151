"""The Files API in the OpenAPI schema: the shapes drf-spectacular cannot see for itself.

``GET /static/...`` is answered before DRF (``files.download.access``), so it is
added here by a postprocessing hook; the error bodies are the API's own, and
the project's ``DEFAULT_SCHEMA_CLASS`` (``clinic.schema.AutoSchema``) documents
them on every operation.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, inline_serializer
from rest_framework import serializers

from files.content.kinds import KINDS
from files.exceptions import DirectUploadsUnsupported, UploadExpired, UploadNotReceived
from files.routes import download_prefix

SEED_FILE_ID = "019ec9e8-d2b4-77ff-be43-525f928a5de3"
SEED_ENTITY_ID = "019ec9e7-70fc-70e1-9be7-039fdb5efc3e"

_ERROR_ITEMS = inline_serializer(
    "ValidationErrorItem",
    fields={
        "loc": serializers.ListField(child=serializers.JSONField(), help_text='Where: ["path", "file_id"], ...'),
        "msg": serializers.CharField(),
        "type": serializers.CharField(help_text="A stable code, e.g. uuid_parsing, missing, unsupported_file_type"),
    },
    many=True,
)
VALIDATION_ERROR = OpenApiResponse(
    inline_serializer("ValidationError", fields={"detail": _ERROR_ITEMS}),
    description="Validation error",
    examples=[
        OpenApiExample(
            "Not a UUID",
            value={
                "detail": [{"loc": ["path", "file_id"], "msg": "Input should be a valid UUID", "type": "uuid_parsing"}]
            },
        )
    ],
)
DETAIL = inline_serializer("Detail", fields={"detail": serializers.CharField()})


def _detail(description: str, example: str) -> OpenApiResponse:
    return OpenApiResponse(
        DETAIL, description=description, examples=[OpenApiExample(description, value={"detail": example})]
    )


NOT_AUTHENTICATED = _detail("Not authenticated", "Not authenticated")
PERMISSION_DENIED = _detail("Permission denied", "Permission denied")
FILE_NOT_FOUND = _detail("File not found", "File not found")
NOT_FOUND = _detail("Not found", "Not found")
INVALID_PAGE = _detail("Invalid page", "Invalid page.")
CONFLICT = _detail("Conflict", "The record is still referenced by other records")
THROTTLED = _detail(
    "Too many requests (Retry-After: seconds to wait)", "Request was throttled. Expected available in 42 seconds."
)
DIRECT_UPLOADS_UNSUPPORTED = _detail("Direct uploads unsupported by this storage", DirectUploadsUnsupported.detail)
NOT_RECEIVED = _detail("Nothing posted yet", UploadNotReceived.detail)
UPLOAD_EXPIRED = _detail("Expired", UploadExpired.detail)
FILE_DELETED = OpenApiResponse(
    OpenApiTypes.STR,
    description="Deleted",
    examples=[OpenApiExample("Deleted", value="File deleted successfully")],
)
UPLOAD_REQUEST = {
    "multipart/form-data": {
        "type": "object",
        "properties": {
            "file": {"type": "array", "items": {"type": "string", "format": "binary"}, "description": "One or more"},
            "type": {"type": "string", "description": "The category; default document"},
        },
        "required": ["file"],
    }
}


REPLACE_REQUEST = {
    "multipart/form-data": {
        "type": "object",
        "properties": {"file": {"type": "string", "format": "binary", "description": "The new content"}},
        "required": ["file"],
    }
}


_FILE_MEDIA_TYPES = tuple(kind.media_type for kind in KINDS.values())
_DOWNLOAD_HEADERS = (
    ("Range", "`bytes=first-last`, several comma-separated (206); outside the file 416; malformed, ignored"),
    ("If-Range", "The ETag: the Range applies only while the file is unchanged"),
    ("If-None-Match", "ETags (or `*`): 304 when one matches"),
    ("If-Modified-Since", "An HTTP date: 304 when the file is not newer"),
    ("If-Match", "ETags (or `*`): 412 when none matches"),
    ("If-Unmodified-Since", "An HTTP date: 412 when the file is newer"),
)


def add_file_download(result: dict, generator, request, public) -> dict:
    """Add ``GET /static/{entity_id}/{file_name}``: the file's bytes."""
    error = {"application/json": {"schema": {"type": "object", "properties": {"detail": {"type": "string"}}}}}
    binary = {"schema": {"type": "string", "format": "binary"}}
    files = {media_type: binary for media_type in _FILE_MEDIA_TYPES}
    result["paths"][download_prefix() + "{entity_id}/{file_name}"] = {
        "get": {
            "operationId": "static_retrieve",
            "summary": "Retrieve file",
            "description": (
                "Returns the file's bytes. The File object's `url` carries `expires`, `issued_to` and `signature` "
                "and needs no header until it expires; the bare path needs a token or a session with view permission. "
                "Supports HEAD, Range (206, multipart/byteranges, 416), If-None-Match/If-Modified-Since (304), "
                "If-Match/If-Unmodified-Since (412) and If-Range. `?download=1` makes it an attachment."
            ),
            "tags": ["files"],
            "parameters": [
                {
                    "name": "entity_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "format": "uuid"},
                    "example": SEED_ENTITY_ID,
                },
                {
                    "name": "file_name",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                    "description": "`{file_id}{extension}`",
                    "example": f"{SEED_FILE_ID}.png",
                },
                {"name": "expires", "in": "query", "schema": {"type": "integer"}},
                {"name": "issued_to", "in": "query", "schema": {"type": "string"}},
                {"name": "signature", "in": "query", "schema": {"type": "string"}},
                {"name": "download", "in": "query", "schema": {"type": "string", "enum": ["1"]}},
                *(
                    {"name": name, "in": "header", "schema": {"type": "string"}, "description": description}
                    for name, description in _DOWNLOAD_HEADERS
                ),
            ],
            "security": [{}, {"tokenAuth": []}, {"cookieAuth": []}],
            "responses": {
                "200": {"description": "The file's bytes", "content": files},
                "206": {
                    "description": "Part of the file (one Range), or several as multipart/byteranges",
                    "content": {**files, "multipart/byteranges": binary},
                },
                "304": {"description": "Not modified"},
                "401": {"description": "Not authenticated", "content": error},
                "403": {"description": "Permission denied, or a signed URL altered or expired", "content": error},
                "404": {"description": "File not found", "content": error},
                "412": {"description": "Precondition failed", "content": error},
                "416": {"description": "Range not satisfiable", "content": error},
                "429": {
                    "description": "Too many refused requests from this client (Retry-After: seconds to wait)",
                    "content": error,
                },
            },
        }
    }
    return result
