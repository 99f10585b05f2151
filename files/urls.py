"""URLs of the Files API; a project includes them at its root."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from files.views import FileDeleteView, FileServeView, FileViewSet

app_name = "files"

router = SimpleRouter()
router.register("api/files", FileViewSet, basename="file")

urlpatterns = [
    path("static/delete_file/<str:file_id>", FileDeleteView.as_view(), name="delete"),
    path("static/<path:file_path>", FileServeView.as_view(), name="serve"),
    *router.urls,
]
