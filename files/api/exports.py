"""A record's export as an HTTP answer: the API's ``GET {record}/export/``, the admin's export action,
and exports built in the background (``POST {record}/exports/``, ``GET /api/exports/{id}/``, the signed link's URL).

The signed link itself is answered by the download path (``files.download.exports``), which serves bytes.
"""

from django.db import models
from django.http import StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from files import signing
from files.api import schema
from files.api.errors import FilesAPIView, parse_uuid
from files.api.permissions import FilePermission
from files.api.serializers import absolute_url
from files.audit import Action, Attempt
from files.content.kinds import EXPORT_EXTENSION, EXPORT_MEDIA_TYPE
from files.exceptions import EXPORT_NOT_FOUND
from files.export import export_for, export_stream
from files.models import Export
from files.policy import VIEW


def export_response(*, record: models.Model, user, detail: str) -> StreamingHttpResponse:
    """The streamed ZIP of ``record``'s files ``user`` may view; the export itself on the audit trail (``detail``).

    Each file in it is audited as it goes out (``files.export``). Never cached: it is a patient's record.
    """
    Attempt(Action.EXPORT).by(user).on_record(record).record(detail=detail)
    response = StreamingHttpResponse(export_stream(record=record, user=user), content_type=EXPORT_MEDIA_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{record._meta.model_name}-{record.pk}{EXPORT_EXTENSION}"'
    response["Cache-Control"] = "private, no-store"
    return response


class ExportPermission(FilePermission):
    """Asking for a record's export (POST) needs what reading its files does: viewing them."""

    actions = {**FilePermission.actions, "POST": VIEW}


class ExportSerializer(serializers.ModelSerializer):
    """An export built in the background: its state, progress and, once ready, its signed link."""

    progress = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = Export
        fields = ["id", "state", "progress", "url", "size", "sha256", "created_at", "expires_at", "error"]

    def get_progress(self, export: Export) -> dict:
        return {"done": export.files_done, "total": export.files_total}

    def get_url(self, export: Export) -> str | None:
        if export.state != Export.State.READY:
            return None
        return absolute_url(export_link(export), self.context["request"])


def export_link(export: Export) -> str:
    """The path of the export's ZIP, signed for its requester until it expires."""
    expires = int(export.expires_at.timestamp())
    signature = signing.export_signature(
        export_id=str(export.pk), expires=expires, issued_to=str(export.requested_by_id)
    )
    path = reverse("files:export-download", kwargs={"export_id": export.pk})
    return f"{path}?expires={expires}&signature={signature}"


class ExportView(FilesAPIView, APIView):
    """``GET /api/exports/{id}/``: an export's state, for the user who asked for it only."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["files"],
        parameters=[OpenApiParameter("export_id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
        responses={
            200: ExportSerializer,
            401: schema.NOT_AUTHENTICATED,
            403: schema.PERMISSION_DENIED,
            404: schema.DETAIL,
            422: schema.VALIDATION_ERROR,
        },
    )
    def get(self, request, export_id: str) -> Response:
        export_id = parse_uuid(export_id, location="path", name="export_id")
        try:
            export = export_for(export_id=export_id, user=request.user)
        except Export.DoesNotExist:
            raise NotFound(EXPORT_NOT_FOUND) from None
        return Response(ExportSerializer(export, context={"request": request}).data)

    def audit_attempt(self, request) -> None:
        return None  # reading a state reads no file
