"""The Django admin for files: find, inspect, delete, restore and purge them.

Every change goes through :mod:`files.services`, the same as the API.
Files are added through the API.
"""

from django.contrib import admin, messages
from django.contrib.contenttypes.admin import GenericTabularInline
from django.core.exceptions import PermissionDenied
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import path

from files.exceptions import FileNotRestorable, FileOnHold
from files.models import File
from files.reconcile import files_reconcile
from files.services import file_delete, file_purge, file_restore

CLEANUP_SECTIONS = {
    "orphan_blobs": "Bytes no file points at (removed)",
    "misplaced_blobs": "Bytes in the wrong place (moved)",
    "missing_blobs": "Files whose bytes are missing (reported only)",
    "ownerless_files": "Files of deleted records (put in the trash)",
    "expired_trash": "Expired trash (purged)",
}


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
class FileAdmin(admin.ModelAdmin):
    list_display = [
        "name", "category", "extension", "human_size", "entity_type", "entity_id", "created_at", "deleted_at",
        "legal_hold",
    ]  # fmt: skip
    list_filter = [StateFilter, "legal_hold", "category", "media_type", "entity_type", "created_at"]
    actions = ["restore_selected", "purge_selected", "hold_selected", "release_selected"]
    search_fields = ["=entity_id", "=id", "name"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "id", "entity_type", "entity_id", "category", "extension", "media_type", "name", "size",
        "sha256", "storage_name", "uploaded_by", "created_at", "deleted_at", "deleted_by", "legal_hold",
    ]  # fmt: skip

    def get_queryset(self, request):
        # The trash too: restoring and purging happen here.
        return File.all_objects.select_related("entity_type")

    def get_urls(self):
        cleanup = path("cleanup/", self.admin_site.admin_view(self.cleanup_view), name="files_file_cleanup")
        return [cleanup, *super().get_urls()]

    def cleanup_view(self, request):
        """The ``files_cleanup`` command as a page: a dry run on GET, the repair on POST."""
        if not (request.user.has_perm("files.delete_file") and request.user.has_perm("files.view_file")):
            raise PermissionDenied
        applied = request.method == "POST"
        report = files_reconcile(dry_run=not applied)
        sections = [(label, getattr(report, field)) for field, label in CLEANUP_SECTIONS.items()]
        context = {**self.admin_site.each_context(request), "title": "Reconcile files", "sections": sections}
        return TemplateResponse(request, "admin/files/file/cleanup.html", {**context, "applied": applied})

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="size", ordering="size")
    def human_size(self, file: File) -> str:
        return filesizeformat(file.size)

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and not (obj and obj.legal_hold)

    def delete_model(self, request, obj: File) -> None:
        try:
            if obj.deleted_at is None:
                file_delete(file=obj, deleted_by=request.user)
            else:
                file_purge(file=obj)
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
        self._each(request, queryset.trashed(), lambda request, file: file_purge(file=file), "purged")

    @admin.action(description="Place selected files on legal hold", permissions=["delete"])
    def hold_selected(self, request, queryset) -> None:
        count = queryset.update(legal_hold=True)
        self.message_user(request, f"{count} file(s) placed on legal hold.")

    @admin.action(description="Release selected files from legal hold", permissions=["delete"])
    def release_selected(self, request, queryset) -> None:
        count = queryset.update(legal_hold=False)
        self.message_user(request, f"{count} file(s) released from legal hold.")

    def _each(self, request, queryset, change, done: str) -> None:
        """Apply ``change`` to each file, and tell the admin what was done and what was refused."""
        count = 0
        for file in queryset:
            try:
                change(request, file)
            except (FileOnHold, FileNotRestorable) as refusal:
                self.message_user(request, f"{file.name}: {refusal}", messages.WARNING)
            except File.DoesNotExist:
                continue
            else:
                count += 1
        self.message_user(request, f"{count} file(s) {done}.")


class FileInline(GenericTabularInline):
    """A record's files, read-only, on its admin page."""

    model = File
    ct_field = "entity_type"
    ct_fk_field = "entity_id"
    fields = ["name", "category", "media_type", "size", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class FileOwnerAdmin(admin.ModelAdmin):
    """Base admin of a record that owns files: its files inline, no delete while on legal hold."""

    inlines = [FileInline]

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and not (obj and obj.legal_hold)
