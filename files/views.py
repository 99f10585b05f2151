"""The Files API: serve and delete under /static/, metadata and uploads under /api/."""

import logging

from django.http import FileResponse
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from files import conf, selectors
from files.errors import RequestValidationError, parse_uuid
from files.models import File
from files.permissions import FilePermission
from files.serializers import FileFilterSerializer, FileSerializer, FileUploadSerializer
from files.services import file_delete

logger = logging.getLogger(__name__)

FILE_NOT_FOUND = "File not found"


class FileServeView(APIView):
    """``GET /static/{entity_id}/{file_id}{ext}``: the file's bytes."""

    permission_classes = [FilePermission]

    def get(self, request, file_path: str) -> FileResponse:
        file = _get_or_404(selectors.file_get_by_path, path=file_path)
        self.check_object_permissions(request, file)
        return _file_response(file)


class FileDeleteView(APIView):
    """``DELETE /static/delete_file/{file_id}``."""

    permission_classes = [FilePermission]

    def delete(self, request, file_id: str) -> Response:
        file = _get_or_404(selectors.file_get, file_id=parse_uuid(file_id, location="path", name="file_id"))
        self.check_object_permissions(request, file)
        try:
            file_delete(file=file, deleted_by=request.user)
        except File.DoesNotExist:
            raise NotFound(FILE_NOT_FOUND) from None
        return Response("File deleted successfully")


class FileViewSet(viewsets.ReadOnlyModelViewSet):
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
        file = _get_or_404(selectors.file_get, file_id=parse_uuid(self.kwargs["pk"], location="path", name="id"))
        self.check_object_permissions(self.request, file)
        return file


class FileOwnerViewSetMixin:
    """Adds ``GET`` and ``POST {record}/files/`` to a viewset of a :class:`~files.models.FileOwner` model."""

    @action(detail=True, methods=["get", "post"], permission_classes=[FilePermission], parser_classes=[MultiPartParser])
    def files(self, request, *args, **kwargs) -> Response:
        owner = self.get_object()
        if request.method == "GET":
            return Response(FileSerializer(owner.files.all(), many=True, context=self.get_serializer_context()).data)
        upload = FileUploadSerializer(data=request.data, context={**self.get_serializer_context(), "owner": owner})
        upload.is_valid(raise_exception=True)
        files = FileSerializer(upload.save(), many=True, context=self.get_serializer_context()).data
        return Response(files[0] if len(files) == 1 else files, status=201)


def _get_or_404(selector, **kwargs) -> File:
    try:
        return selector(**kwargs)
    except File.DoesNotExist:
        raise NotFound(FILE_NOT_FOUND) from None


def _file_response(file: File) -> FileResponse:
    try:
        handle = conf.storage().open(file.storage_name, "rb")
    except FileNotFoundError:
        # A row without its bytes: an integrity problem to fix, a 404 to the client.
        logger.error("bytes missing for file %s (%s)", file.pk, file.storage_name)
        raise NotFound(FILE_NOT_FOUND) from None
    response = FileResponse(handle, content_type=file.media_type, filename=file.name)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-cache"
    return response
