"""A record's files on its own admin page: listed, and uploaded through the same service as the API."""

from django import forms
from django.contrib import admin
from django.contrib.contenttypes.admin import GenericTabularInline

from files import conf
from files.exceptions import FileRejected
from files.models import File
from files.services import file_attach, upload_check


class FileInline(GenericTabularInline):
    """A record's files, read-only."""

    model = File
    ct_field = "entity_type"
    ct_fk_field = "entity_id"
    fields = ["name", "category", "media_type", "size", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = "files"

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class FileUploadForm(forms.ModelForm):
    upload = forms.FileField(label="file", required=False)
    upload_category = forms.ChoiceField(label="type", choices=())

    class Meta:
        model = File
        fields = []

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["upload_category"].choices = [(category, category) for category in conf.categories()]
        self.fields["upload_category"].initial = conf.default_category()

    def clean(self):
        cleaned = super().clean()
        upload, category = cleaned.get("upload"), cleaned.get("upload_category")
        if upload and category:
            try:
                upload_check(upload=upload, category=category)
            except FileRejected as error:
                self.add_error("upload", forms.ValidationError(error.message, code=error.code))
        return cleaned

    def has_changed(self) -> bool:
        return bool(self.files.get(self.add_prefix("upload")))


class FileUploadInline(GenericTabularInline):
    """Empty rows to upload new files; :meth:`FileOwnerAdmin.save_formset` stores them."""

    model = File
    form = FileUploadForm
    ct_field = "entity_type"
    ct_fk_field = "entity_id"
    fields = ["upload", "upload_category"]
    extra = 1
    can_delete = False
    verbose_name = "new file"
    verbose_name_plural = "upload files"

    def get_queryset(self, request):
        return super().get_queryset(request).none()


class FileOwnerAdmin(admin.ModelAdmin):
    """Base admin of a record that owns files: its files inline, uploads, no delete while on legal hold."""

    inlines = [FileInline, FileUploadInline]

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and not (obj and obj.legal_hold)

    def save_formset(self, request, form, formset, change) -> None:
        if not issubclass(formset.form, FileUploadForm):
            return super().save_formset(request, form, formset, change)
        uploads = [
            (f.cleaned_data["upload"], f.cleaned_data["upload_category"])
            for f in formset.forms
            if f.cleaned_data.get("upload")
        ]
        # What the admin's change message reads from a saved formset.
        formset.new_objects = [
            file_attach(owner=form.instance, upload=upload, category=category, uploaded_by=request.user)
            for upload, category in uploads
        ]
        formset.changed_objects, formset.deleted_objects = [], []
        return None
