"""The base of the clinic's record endpoints (patients, doctors, appointments)."""

from django.db.models import Prefetch
from rest_framework import viewsets

from files import conf
from files.errors import parse_uuid
from files.models import File
from files.views import FileOwnerViewSetMixin


class RecordViewSet(FileOwnerViewSetMixin, viewsets.ModelViewSet):
    """CRUD for a record that owns files, each record shown with its ``files``.

    A page of records and all their files cost a constant number of queries.
    """

    def get_queryset(self):
        # Only the files the user may see, by the same policy as every other files endpoint.
        visible = conf.permission_policy().files_visible_to(self.request.user, File.objects.all())
        return super().get_queryset().prefetch_related(Prefetch("files", queryset=visible))

    def get_object(self):
        self.kwargs[self.lookup_field] = parse_uuid(self.kwargs[self.lookup_field], location="path", name="id")
        return super().get_object()
