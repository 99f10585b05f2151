"""Direct-to-S3 uploads: ``{record}/direct-uploads/`` hands out a presigned POST, ``.../{id}/finalize/`` makes the File.

The rules are in :mod:`files.direct`. Both requests need the right to upload
files to the record (the policy's ``add``, asked again at the finalize); an
upload is found by its creator only. Errors keep the API's format (the table
in :mod:`files.api.errors`).
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from files import conf, selectors
from files.api import schema
from files.api.errors import parse_uuid
from files.api.permissions import FilePermission
from files.api.serializers import FileSerializer, absolute_url
from files.direct import direct_upload_create, direct_upload_finalize


class DirectUploadRequestSerializer(serializers.Serializer):
    """What a client declares before posting the bytes: the file's name, category and exact size."""

    filename = serializers.CharField(max_length=255, required=False, default="", allow_blank=True)
    type = serializers.ChoiceField(choices=[])
    size = serializers.IntegerField(min_value=1, help_text="In bytes: the store takes exactly this many.")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["type"].choices = conf.categories()
        self.fields["type"].default = conf.default_category()
        self.fields["type"].required = False


_DIRECT_UPLOAD = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "url": {"type": "string", "format": "uri", "description": "Where to POST the form (the object store)"},
        "fields": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "Form fields to send as they are, before the `file` part",
        },
        "expires_at": {"type": "string", "format": "date-time", "description": "Post and finalize before it"},
        "finalize_url": {"type": "string", "format": "uri"},
        "filename": {"type": "string"},
        "type": {"type": "string"},
        "size": {"type": "integer"},
    },
    "required": ["id", "url", "fields", "expires_at", "finalize_url", "filename", "type", "size"],
}


class DirectUploadsMixin:
    """The direct-upload endpoints of a viewset of file owners (``get_object()`` is the record)."""

    direct_upload_actions = ("direct_uploads", "direct_upload_finalize")

    @extend_schema(
        summary="Start a direct upload to the object store",
        description="Answers a presigned POST: send `fields`, then the `file` part (exactly `size` bytes), to `url`, "
        "before `expires_at`; then POST `finalize_url`. Only on S3: a storage that cannot presign (local disk) "
        "answers 409. Over the category's size limit: 413.",
        tags=["files"],
        request=DirectUploadRequestSerializer,
        responses={
            201: OpenApiResponse(_DIRECT_UPLOAD, description="The form to post"),
            409: schema.DIRECT_UPLOADS_UNSUPPORTED,
            413: schema.DETAIL,
        },
    )
    @action(detail=True, methods=["post"], url_path="direct-uploads", permission_classes=[FilePermission])
    def direct_uploads(self, request, *args, **kwargs) -> Response:
        owner = self.get_object()
        declared = DirectUploadRequestSerializer(data=request.data)
        declared.is_valid(raise_exception=True)
        upload, form = direct_upload_create(
            owner=owner,
            created_by=request.user,
            filename=declared.validated_data["filename"],
            category=declared.validated_data["type"],
            size=declared.validated_data["size"],
        )
        finalize = absolute_url(f"{request.path}{upload.pk}/finalize/", request)
        body = {
            "id": str(upload.pk),
            "url": form["url"],
            "fields": form["fields"],
            "expires_at": serializers.DateTimeField().to_representation(upload.expires_at),
            "finalize_url": finalize,
            "filename": upload.filename,
            "type": upload.category,
            "size": upload.size,
        }
        return Response(body, status=201, headers={"Cache-Control": "no-store"})

    @extend_schema(
        summary="Finalize a direct upload: the stored object becomes a File",
        description="The stored object gets every check of a plain upload; refused (422, 413), it is deleted and "
        "the upload ends. 201 with the new File object; 200 with the same one when it was finalized before. "
        "Only by who started it (404 to anyone else), before it expires (410); 409 while nothing has been posted.",
        tags=["files"],
        request=None,
        parameters=[OpenApiParameter("upload_id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
        responses={
            201: FileSerializer,
            200: FileSerializer,
            409: schema.NOT_RECEIVED,
            410: schema.UPLOAD_EXPIRED,
            413: schema.DETAIL,
            422: schema.VALIDATION_ERROR,
        },
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"direct-uploads/(?P<upload_id>[^/]+)/finalize",
        permission_classes=[FilePermission],
    )
    def direct_upload_finalize(self, request, *args, upload_id: str, **kwargs) -> Response:
        owner = self.get_object()
        upload_id = parse_uuid(upload_id, location="path", name="upload_id")
        file, made = direct_upload_finalize(upload_id=upload_id, owner=owner, user=request.user)
        (stored,) = selectors.files_as_stored(files=[file])
        return Response(FileSerializer(stored, context=self.get_serializer_context()).data, status=201 if made else 200)
