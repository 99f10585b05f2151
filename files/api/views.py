"""The Files API: delete under /static/delete_file/, metadata and uploads under /api/."""

import contextlib
import uuid

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from files import conf, selectors
from files.api import schema
from files.api.direct import DirectUploadsMixin
from files.api.errors import FilesAPIView, RequestValidationError, parse_uuid
from files.api.exports import ExportPermission, ExportSerializer, export_response
from files.api.parsers import WholeMultiPartParser
from files.api.permissions import FilePermission
from files.api.resumable import ResumableUploadsMixin
from files.api.serializers import FileFilterSerializer, FileReplaceSerializer, FileSerializer, FileUploadSerializer
from files.api.throttling import UploadRateThrottle
from files.audit import Action, Attempt
from files.content.kinds import EXPORT_MEDIA_TYPE
from files.export import export_request
from files.models import File
from files.services import file_delete


class FileDeleteView(FilesAPIView, APIView):
    """``DELETE /static/delete_file/{file_id}``."""

    permission_classes = [FilePermission]

    @extend_schema(
        operation_id="static_delete_file",
        summary="Delete file",
        tags=["files"],
        parameters=[OpenApiParameter("file_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="File ID")],
        responses={
            200: schema.FILE_DELETED,
            401: schema.NOT_AUTHENTICATED,
            403: schema.PERMISSION_DENIED,
            404: schema.FILE_NOT_FOUND,
            409: schema.DETAIL,
            422: schema.VALIDATION_ERROR,
        },
    )
    def delete(self, request, file_id: str) -> Response:
        file = selectors.file_get(file_id=parse_uuid(file_id, location="path", name="file_id"))
        request.audited_file = file
        self.check_object_permissions(request, file)
        file_delete(file=file, deleted_by=request.user)
        return Response("File deleted successfully")

    def audit_attempt(self, request) -> Attempt:
        """A refused deletion, for the audit trail (the file, when it exists)."""
        attempt = Attempt(Action.DELETE).by(request.user)
        file = getattr(request, "audited_file", None)
        if file is not None:
            return attempt.on(file)
        with contextlib.suppress(ValueError):
            attempt.file_id = str(uuid.UUID(self.kwargs["file_id"]))  # a file that does not exist
        return attempt


@extend_schema_view(
    list=extend_schema(
        tags=["files"],
        parameters=[
            OpenApiParameter("entity_id", OpenApiTypes.UUID, description="Only this record's files"),
            OpenApiParameter("type", str, description="Only this category"),
        ],
        responses={200: FileSerializer(many=True), 401: schema.NOT_AUTHENTICATED, 422: schema.VALIDATION_ERROR},
    ),
    retrieve=extend_schema(
        tags=["files"],
        parameters=[OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
        responses={200: FileSerializer, 404: schema.FILE_NOT_FOUND, 422: schema.VALIDATION_ERROR},
    ),
)
class FileViewSet(FilesAPIView, viewsets.ReadOnlyModelViewSet):
    """``GET /api/files/?entity_id=&type=`` and ``GET /api/files/{id}/``: files' metadata."""

    serializer_class = FileSerializer
    permission_classes = [FilePermission]

    def get_queryset(self):
        query = FileFilterSerializer(data=self.request.query_params)
        if not query.is_valid():
            raise RequestValidationError(query.errors, location="query")
        files = selectors.file_list(
            entity_id=query.validated_data.get("entity_id"), category=query.validated_data.get("type")
        )
        return conf.permission_policy().files_visible_to(self.request.user, files)

    def get_object(self) -> File:
        file = selectors.file_get(file_id=parse_uuid(self.kwargs["pk"], location="path", name="id"))
        self.request.audited_file = file
        self.check_object_permissions(self.request, file)
        return file

    @extend_schema(
        summary="Replace the file's content (a new version)",
        description="One `file` part. The file keeps its id; its `url` serves the new version, and every earlier "
        "version stays listed in `versions` with a URL that always serves its own bytes. Allowed to who may "
        "delete the file; refused (409) while it or its record is on legal hold.",
        tags=["files"],
        request=schema.REPLACE_REQUEST,
        responses={
            200: FileSerializer,
            403: schema.PERMISSION_DENIED,
            404: schema.FILE_NOT_FOUND,
            409: schema.DETAIL,
            413: schema.DETAIL,
            422: schema.VALIDATION_ERROR,
        },
    )
    @action(
        detail=True,
        methods=["put"],
        parser_classes=[WholeMultiPartParser],
        serializer_class=FileReplaceSerializer,
    )
    def content(self, request, pk: str) -> Response:
        """``PUT /api/files/{id}/content/``."""
        file = self.get_object()
        replace = FileReplaceSerializer(data=request.data, context={**self.get_serializer_context(), "file": file})
        replace.is_valid(raise_exception=True)
        replace.save()
        fresh = selectors.file_list().get(pk=file.pk)
        return Response(FileSerializer(fresh, context=self.get_serializer_context()).data)

    def get_throttles(self):
        throttles = super().get_throttles()
        if self.action == "content":
            throttles.append(UploadRateThrottle())  # a replacement is an upload
        return throttles

    def audit_attempt(self, request) -> Attempt | None:
        """A refused replacement, for the audit trail (the file, when it exists)."""
        if self.action != "content":
            return None
        attempt = Attempt(Action.REPLACE).by(request.user)
        file = getattr(request, "audited_file", None)
        if file is not None:
            return attempt.on(file)
        with contextlib.suppress(ValueError):
            attempt.file_id = str(uuid.UUID(self.kwargs["pk"]))
        return attempt


class FileOwnerViewSetMixin(FilesAPIView, ResumableUploadsMixin, DirectUploadsMixin):
    """Adds ``GET`` and ``POST {record}/files/``, resumable ``{record}/uploads/`` and ``{record}/direct-uploads/``
    to a viewset of file owners."""

    @extend_schema(
        methods=["GET"], summary="The record's files", tags=["files"], responses={200: FileSerializer(many=True)}
    )
    @extend_schema(
        methods=["POST"],
        summary="Upload files to the record",
        description="One `file` part answers the File object, several answer a list.",
        tags=["files"],
        request=schema.UPLOAD_REQUEST,
        responses={
            # One part answers the File object, several a list of them.
            201: PolymorphicProxySerializer(
                component_name="UploadedFiles",
                serializers=[FileSerializer, FileSerializer(many=True)],
                resource_type_field_name=None,
                many=False,
            ),
            413: schema.DETAIL,
            422: schema.VALIDATION_ERROR,
        },
    )
    @action(
        detail=True,
        methods=["get", "post"],
        permission_classes=[FilePermission],
        parser_classes=[WholeMultiPartParser],
        pagination_class=None,  # the record's files, all of them in one list
        serializer_class=FileUploadSerializer,  # what the browsable API offers as its form
    )
    def files(self, request, *args, **kwargs) -> Response:
        owner = self.get_object()
        if request.method == "GET":
            return Response(FileSerializer(owner.files.all(), many=True, context=self.get_serializer_context()).data)
        upload = FileUploadSerializer(data=request.data, context={**self.get_serializer_context(), "owner": owner})
        upload.is_valid(raise_exception=True)
        stored = selectors.files_as_stored(files=upload.save())
        files = FileSerializer(stored, many=True, context=self.get_serializer_context()).data
        return Response(files[0] if len(files) == 1 else files, status=201)

    @extend_schema(
        summary="Export the record's files (ZIP)",
        description="A ZIP, streamed, of every live file of the record (a patient's: and of their appointments) "
        "the user may view: folders by category, `manifest.json` (ids, names, sizes, SHA-256, versions) and "
        "`index.html`. Each exported file is on the audit trail (`export`).",
        tags=["files"],
        responses={
            (200, EXPORT_MEDIA_TYPE): OpenApiTypes.BINARY,
            403: schema.PERMISSION_DENIED,
            404: schema.DETAIL,
        },
    )
    @action(detail=True, methods=["get"], permission_classes=[FilePermission], pagination_class=None)
    def export(self, request, *args, **kwargs) -> StreamingHttpResponse:
        return export_response(record=self.get_object(), user=request.user, detail="record export")

    @extend_schema(
        summary="Build the record's export in the background",
        description="The same ZIP as `export/`, written to storage by a job: answers 202 with the export, whose "
        "state `GET /api/exports/{id}/` follows; once `ready`, its `url` is a signed link, for the requester only, "
        "valid until `expires_at` (`FILES_EXPORT_LIFETIME`).",
        tags=["files"],
        request=None,
        responses={202: ExportSerializer, 403: schema.PERMISSION_DENIED, 404: schema.DETAIL},
    )
    @action(detail=True, methods=["post"], permission_classes=[ExportPermission], pagination_class=None)
    def exports(self, request, *args, **kwargs) -> Response:
        export = export_request(record=self.get_object(), requested_by=request.user)
        return Response(ExportSerializer(export, context={"request": request}).data, status=202)

    def get_throttles(self):
        throttles = super().get_throttles()
        if self.action in ("files", "uploads", "direct_uploads") and self.request.method == "POST":
            throttles.append(UploadRateThrottle())  # a resumable or direct upload counts once, at its creation
        return throttles

    def audit_attempt(self, request) -> Attempt | None:
        """A refused upload to the record, or deletion of it (which deletes its files), for the audit trail."""
        if (self.action, request.method) in {
            ("files", "POST"),
            ("uploads", "POST"),
            ("upload", "PATCH"),
            ("direct_uploads", "POST"),
            ("direct_upload_finalize", "POST"),
        }:
            attempt = Attempt(Action.UPLOAD)
        elif self.action in ("export", "exports"):
            attempt = Attempt(Action.EXPORT)
        elif self.action == "destroy":
            attempt = Attempt(Action.DELETE)
        else:
            return None
        attempt.by(request.user)
        with contextlib.suppress(ValueError):
            # The record asked for, found or not, allowed or not.
            attempt.on_record(self.get_queryset().model(pk=uuid.UUID(str(self.kwargs[self.lookup_field]))))
        return attempt
