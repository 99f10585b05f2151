"""The Django admin for files: find, inspect and delete them.

Deleting goes through :func:`files.services.file_delete`, the same as the API.
Files are added through the API.
"""

import contextlib

from django.contrib import admin
from django.contrib.contenttypes.admin import GenericTabularInline
from django.template.defaultfilters import filesizeformat

from files.models import File
from files.services import file_delete


@admin.register(File)
class FileAdmin(admin.ModelAdmin):
    list_display = ["name", "category", "extension", "human_size", "entity_type", "entity_id", "created_at"]
    list_filter = ["category", "media_type", "entity_type", "created_at"]
    search_fields = ["=entity_id", "=id", "name"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "id", "entity_type", "entity_id", "category", "extension", "media_type", "name", "size",
        "sha256", "storage_name", "uploaded_by", "created_at",
    ]  # fmt: skip

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="size", ordering="size")
    def human_size(self, file: File) -> str:
        return filesizeformat(file.size)

    def delete_model(self, request, obj: File) -> None:
        # Deleted meanwhile by someone else: that is what the admin asked for.
        with contextlib.suppress(File.DoesNotExist):
            file_delete(file=obj, deleted_by=request.user)

    def delete_queryset(self, request, queryset) -> None:
        for file in queryset:
            self.delete_model(request, file)


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
