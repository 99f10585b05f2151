"""A project that mounts the files app under ``/clinic-a/`` instead of the root."""

from django.urls import include, path

from clinic.urls import urlpatterns as clinic_urlpatterns

urlpatterns = [
    path("clinic-a/", include("files.urls")),
    *[pattern for pattern in clinic_urlpatterns if getattr(pattern, "app_name", None) != "files"],
]
