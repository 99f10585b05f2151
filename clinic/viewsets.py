"""The base of the clinic's record endpoints (patients, doctors, appointments)."""

from django.db.models import Prefetch
from rest_framework import viewsets
from rest_framework.permissions import BasePermission

from clinic.permissions import ModelPermissions
from files import conf
from files.api.errors import parse_uuid
from files.api.views import FileOwnerViewSetMixin
from files.models import File
from files.selectors import ready_derivatives
from files.services import owner_delete


class RecordAccess(BasePermission):
    """A record the user does not reach is 403 to them, whatever the method (the files policy decides)."""

    def has_object_permission(self, request, view, obj) -> bool:
        return conf.permission_policy().user_may_see_record(request.user, obj)


class RecordViewSet(FileOwnerViewSetMixin, viewsets.ModelViewSet):
    """CRUD for a record that owns files, each record shown with its ``files``.

    Lists show only the records the user reaches; a page of records and all
    their files cost a constant number of queries.
    """

    permission_classes = [ModelPermissions, RecordAccess]

    def get_queryset(self):
        # Only the files the user may see, by the same policy as every other files endpoint.
        files = File.objects.prefetch_related(ready_derivatives())  # thumbnails and previews: one query per page
        visible = conf.permission_policy().files_visible_to(self.request.user, files)
        return super().get_queryset().prefetch_related(Prefetch("files", queryset=visible))

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        if self.action == "list":
            # A single record is looked up among all, so that one the user does not reach is 403, not 404.
            queryset = conf.permission_policy().records_visible_to(self.request.user, queryset)
        return queryset

    def get_object(self):
        self.kwargs[self.lookup_field] = parse_uuid(self.kwargs[self.lookup_field], location="path", name="id")
        return super().get_object()

    def perform_destroy(self, instance) -> None:
        # The files go with the record, each only if the user may delete it, named as deleted by them.
        owner_delete(owner=instance, deleted_by=self.request.user)
