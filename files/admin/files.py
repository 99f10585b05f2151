"""The file list and page of the admin: find, inspect, open, delete, restore, purge, hold."""

from functools import partial

from django.contrib import admin, messages
from django.template.defaultfilters import filesizeformat
from django.urls import path, reverse
from django.utils.html import format_html

from files import conf
from files.admin.access import LegalHoldActions, ReachedOnly
from files.admin.pages import cleanup_view, replace_view, storage_report_view
from files.exceptions import FileNotRestorable, FileOnHold
from files.models import File
from files.policy import DELETE
from files.routes import download_prefix
from files.scanning import scanning_enabled
from files.selectors import ready_derivatives
from files.services import file_delete, file_purge, file_restore
from files.tasks import enqueue_scans


def thumbnail_html(file: File) -> str:
    """An ``<img>`` of ``file``'s thumbnail: never its original (a page of phone photos would weigh megabytes).

    Nothing for a file in the trash or whose thumbnail is not ready. The
    admin's own session opens it: the audit trail names the admin.
    """
    derivative = file.ready_derivative("thumbnail")
    if file.deleted_at or derivative is None:
        return ""
    return format_html(
        '<img class="file-thumbnail" src="{}" alt="" loading="lazy" style="max-height:48px;max-width:64px">',
        f"{download_prefix()}{file.entity_id}/{file.pk}{derivative.extension}",
    )


class SizeFilter(admin.SimpleListFilter):
    title = "size"
    parameter_name = "size"
    BUCKETS = {
        "small": ("under 1 MB", {"size__lt": 1_000_000}),
        "medium": ("1 to 20 MB", {"size__gte": 1_000_000, "size__lt": 20_000_000}),
        "large": ("20 MB and more", {"size__gte": 20_000_000}),
    }

    def lookups(self, request, model_admin):
        return [(key, label) for key, (label, _) in self.BUCKETS.items()]

    def queryset(self, request, queryset):
        bucket = self.BUCKETS.get(self.value())
        return queryset.filter(**bucket[1]) if bucket else queryset


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("live", "Live"), ("trashed", "In the trash")]

    def queryset(self, request, queryset):
        if self.value() == "live":
            return queryset.live()
        if self.value() == "trashed":
            return queryset.trashed()
        return queryset


@admin.register(File)
class FileAdmin(LegalHoldActions, ReachedOnly, admin.ModelAdmin):
    """Files the user may view (the policy's ``files_visible_to``, trash included); each change asks the policy."""

    list_display = [
        "thumbnail", "name", "category", "media_type", "human_size", "entity_type", "entity_id", "created_at",
        "deleted_at", "legal_hold", "scan_status", "links",
    ]  # fmt: skip
    list_filter = [
        StateFilter, "scan_status", "legal_hold", "category", "media_type",
        ("entity_type", admin.RelatedOnlyFieldListFilter), "created_at", SizeFilter,
    ]  # fmt: skip
    actions = ["restore_selected", "purge_selected", "hold_selected", "release_selected", "scan_selected"]
    # By owner id, file id, a patient's registration number, or the original name.
    search_fields = ["=entity_id", "=id", "=patients_patient__reg_number", "name"]
    list_per_page = 50
    date_hierarchy = "created_at"
    readonly_fields = [
        "id", "entity_type", "entity_id", "category", "extension", "media_type", "name", "size",
        "sha256", "storage_name", "uploaded_by", "created_at", "deleted_at", "deleted_by", "legal_hold", "version",
        "scan_status", "scan_detail", "scanned_at",
    ]  # fmt: skip

    def get_queryset(self, request):
        # The trash too: restoring and purging happen here.
        files = File.all_objects.select_related("entity_type").prefetch_related(ready_derivatives())
        return conf.permission_policy().files_visible_to(request.user, files)

    def get_urls(self):
        pages = [
            path("cleanup/", self.admin_site.admin_view(partial(cleanup_view, self)), name="files_file_cleanup"),
            path("report/", self.admin_site.admin_view(partial(storage_report_view, self)), name="files_file_report"),
            path(
                "<str:object_id>/replace/",
                self.admin_site.admin_view(partial(replace_view, self)),
                name="files_file_replace",
            ),
        ]
        return [*pages, *super().get_urls()]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="size", ordering="size")
    def human_size(self, file: File) -> str:
        return filesizeformat(file.size)

    @admin.display(description="")
    def thumbnail(self, file: File) -> str:
        return thumbnail_html(file)

    @admin.display(description="file")
    def links(self, file: File) -> str:
        if file.scan_status == File.ScanStatus.INFECTED:
            return "quarantined"
        if file.deleted_at:
            return "in the trash"
        url = f"{download_prefix()}{file.entity_id}/{file.pk}{file.url_suffix}"
        links = format_html(
            '<a href="{}" target="_blank" rel="noopener">open</a> · <a href="{}">download</a>', url, url + "?download=1"
        )
        if not file.legal_hold:  # the page itself asks the policy whether this user may replace it
            replace = reverse("admin:files_file_replace", args=[file.pk])
            links += format_html(' · <a href="{}">replace content</a>', replace)
        return links

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is None:
            return super().has_delete_permission(request)
        return not obj.legal_hold and self._may_delete(request, obj)

    def _may_delete(self, request, file: File) -> bool:
        """Delete, restore (undo a delete) and purge: each needs the right to delete that file, as in the API."""
        return conf.permission_policy().user_has_permission_for_file(request.user, DELETE, file)

    def delete_model(self, request, obj: File) -> None:
        try:
            if obj.deleted_at is None:
                file_delete(file=obj, deleted_by=request.user)
            else:
                file_purge(file=obj, purged_by=request.user)
        except File.DoesNotExist:
            pass  # deleted meanwhile by someone else: that is what the admin asked for
        except FileOnHold as refusal:
            self.message_user(request, f"{obj.name}: {refusal}", messages.WARNING)

    def delete_queryset(self, request, queryset) -> None:
        self._each(request, queryset, self.delete_model, "deleted")

    @admin.action(description="Restore selected files from the trash", permissions=["delete"])
    def restore_selected(self, request, queryset) -> None:
        self._each(
            request,
            queryset.trashed(),
            lambda request, file: file_restore(file=file, restored_by=request.user),
            "restored",
        )

    @admin.action(description="Purge selected files from the trash for good", permissions=["delete"])
    def purge_selected(self, request, queryset) -> None:
        self._each(
            request, queryset.trashed(), lambda request, file: file_purge(file=file, purged_by=request.user), "purged"
        )

    @admin.action(description="Scan selected files for malware again", permissions=["view"])
    def scan_selected(self, request, queryset) -> None:
        if not scanning_enabled():
            self.message_user(request, "Malware scanning is off (FILES_CLAMD is not set).", messages.WARNING)
            return
        ids = list(queryset.live().exclude(scan_status=File.ScanStatus.INFECTED).values_list("pk", flat=True))
        enqueue_scans(ids, rescan=True)
        self.message_user(request, f"{len(ids)} file(s) sent to the malware scanner.")

    def _each(self, request, queryset, change, done: str) -> None:
        """Apply ``change`` to each file the user may delete, and tell them what was done and what was refused."""
        count = 0
        for file in queryset:
            if not self._may_delete(request, file):
                self.message_user(request, f"{file.name}: permission denied", messages.WARNING)
                continue
            try:
                change(request, file)
            except (FileOnHold, FileNotRestorable) as refusal:
                self.message_user(request, f"{file.name}: {refusal}", messages.WARNING)
            except File.DoesNotExist:
                continue
            else:
                count += 1
        self.message_user(request, f"{count} file(s) {done}.")
