"""The base of the clinic's record endpoints (patients, doctors, appointments)."""

from rest_framework import viewsets

from files.errors import parse_uuid
from files.views import FileOwnerViewSetMixin


class RecordViewSet(FileOwnerViewSetMixin, viewsets.ModelViewSet):
    """CRUD for a record that owns files, each record shown with its ``files``.

    A page of records and all their files cost a constant number of queries.
    """

    def get_queryset(self):
        return super().get_queryset().prefetch_related("files")

    def get_object(self):
        self.kwargs[self.lookup_field] = parse_uuid(self.kwargs[self.lookup_field], location="path", name="id")
        return super().get_object()
