"""URLs of the Files API; a project includes them wherever it likes (the seed's clients expect the root)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from files.api.exports import ExportView
from files.api.views import FileDeleteView, FileViewSet
from files.download.exports import export_download
from files.download.views import serve

app_name = "files"

router = SimpleRouter()
router.register("api/files", FileViewSet, basename="file")

urlpatterns = [
    path("static/delete_file/<str:file_id>", FileDeleteView.as_view(), name="delete"),
    path("static/<path:file_path>", serve, name="serve"),
    path("api/exports/<str:export_id>/", ExportView.as_view(), name="export"),
    path("api/exports/<str:export_id>/download/", export_download, name="export-download"),
    *router.urls,
]
