"""The audit trail in the admin: read, filter, export; never add, change or delete."""

import csv

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.urls import path
from django.utils import timezone

from files.audit import COLUMNS
from files.models import AuditEvent

#: Every column of an event, in the order the trail records them.
EXPORT_FIELDS = list(COLUMNS)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["at", "action", "outcome", "status", "username", "via", "file_id", "record", "address"]
    list_filter = ["action", "outcome", "via", "status", "record_type", ("at", admin.DateFieldListFilter)]
    search_fields = ["=user_id", "username", "=file_id", "=record_id", "=address", "=issued_to"]
    date_hierarchy = "at"
    readonly_fields = EXPORT_FIELDS
    fields = EXPORT_FIELDS
    change_list_template = "admin/files/auditevent/change_list.html"
    show_full_result_count = False  # counting a long trail on every page is slow; the paginator says enough

    def get_urls(self):
        export = path("export.csv", self.admin_site.admin_view(self.export_view), name="files_auditevent_export")
        return [export, *super().get_urls()]

    @admin.display(description="record")
    def record(self, event: AuditEvent) -> str:
        return f"{event.record_type} {event.record_id}" if event.record_id else ""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def export_view(self, request):
        """The events the change list shows (its filters and search), as CSV."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        events = self.get_changelist_instance(request).get_queryset(request)
        response = StreamingHttpResponse(_csv_rows(events.iterator(chunk_size=2000)), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="audit-trail-{timezone.now():%Y%m%d-%H%M%S}.csv"'
        return response


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_rows(events):
    writer = csv.writer(_Echo())
    yield writer.writerow(EXPORT_FIELDS)
    for event in events:
        yield writer.writerow([_cell(getattr(event, name)) for name in EXPORT_FIELDS])


def _cell(value) -> str:
    text = "" if value is None else str(value)
    # A cell a spreadsheet would run as a formula (a user name or a path a client chose) is kept as text.
    return "'" + text if text[:1] in {"=", "+", "-", "@", "\t", "\r"} else text
