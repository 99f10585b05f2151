"""A record's admin: only records the user reaches; its files listed and uploaded as the API does; links checked.

The files policy decides every question, as for the API: which records
are listed and found (``records_visible_to``), which of their files show
(``files_visible_to``), who may upload to them (``ADD`` on the record), link
a record to another (``user_may_link``: an appointment's patient and
doctor, offered only among reached records), link it to a user account
(``user_may_link_accounts``), and place or release its legal hold
(``user_may_hold``, through the hold actions only, so each is audited).
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.admin import GenericTabularInline
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import ProtectedError, RestrictedError
from django.http import HttpResponseRedirect
from django.urls import reverse

from files import conf
from files.admin.access import LegalHoldActions, ReachedOnly
from files.admin.files import thumbnail_html
from files.admin.uploads import upload_widget
from files.api.exports import export_response
from files.audit import Action, Attempt
from files.exceptions import DeleteNotPermitted, FileOnHold, FileRejected
from files.models import File, FileOwner
from files.policy import ADD
from files.selectors import ready_derivatives
from files.services import file_attach, owner_delete, upload_check

#: Why :func:`owner_delete` refuses a record's deletion: shown to the admin, and nothing is deleted.
DELETE_REFUSALS = (DeleteNotPermitted, FileOnHold, ProtectedError, RestrictedError)


class FileInline(GenericTabularInline):
    """A record's files, read-only."""

    model = File
    ct_field = "entity_type"
    ct_fk_field = "entity_id"
    fields = ["thumbnail", "name", "category", "media_type", "size", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = "files"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        files = super().get_queryset(request).prefetch_related(ready_derivatives())
        return conf.permission_policy().files_visible_to(request.user, files)

    @admin.display(description="")
    def thumbnail(self, file: File) -> str:
        return thumbnail_html(file)


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


class FileOwnerAdmin(LegalHoldActions, ReachedOnly, admin.ModelAdmin):
    """Base admin of a record that owns files: its files inline, uploads, deletes through ``owner_delete``.

    A deletion, single or bulk, is all or nothing: one refusal (a legal
    hold, a file the user may not delete) is shown as an error and no
    record is deleted.
    """

    inlines = [FileInline, FileUploadInline]
    actions = ["hold_selected", "release_selected", "export_selected"]
    change_form_template = "admin/files/owner_change_form.html"

    def get_queryset(self, request):
        return conf.permission_policy().records_visible_to(request.user, super().get_queryset(request))

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        # The hold changes through its actions only, which the audit trail records.
        readonly = [*super().get_readonly_fields(request, obj), "legal_hold"]
        if not conf.permission_policy().user_may_link_accounts(request.user):
            readonly += _account_fields(self.model)
        return readonly

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = db_field.related_model
        if issubclass(related, FileOwner):
            # Only records the user reaches are offered: another id is "not a valid choice", existing or not.
            records = related._default_manager.all()
            kwargs["queryset"] = conf.permission_policy().records_visible_to(request.user, records)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_form(self, request, obj=None, change=False, **kwargs):
        return _links_checked(super().get_form(request, obj, change, **kwargs), request.user)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and not add:
            listed = [f.formset.prefix for f in context["inline_admin_formsets"] if isinstance(f.opts, FileInline)]
            context["upload_widget"] = upload_widget(
                user=request.user, record=obj, files_list_id=f"{listed[0]}-group" if listed else ""
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def delete_model(self, request, obj) -> None:
        owner_delete(owner=obj, deleted_by=request.user)

    def delete_queryset(self, request, queryset) -> None:
        with transaction.atomic():
            for record in queryset:
                owner_delete(owner=record, deleted_by=request.user)

    def delete_view(self, request, object_id, extra_context=None):
        try:
            # Django runs the deletion in a transaction: a refusal rolls back its log entry too.
            return super().delete_view(request, object_id, extra_context)
        except DELETE_REFUSALS as refusal:
            _refused(request, [self.get_object(request, object_id)], refusal)
            self.message_user(request, _refusal_message(refusal), messages.ERROR)
            opts = self.model._meta
            return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[object_id]))

    @admin.action(description="Export the selected record's files (ZIP, for a patient's request)")
    def export_selected(self, request, queryset):
        """Stream the export of one record (its files the admin may view), on the audit trail as the API's is."""
        records = list(queryset[:2])
        if len(records) != 1:
            self.message_user(request, "Select exactly one record to export.", messages.WARNING)
            return None
        return export_response(record=records[0], user=request.user, detail="record export for a request (admin)")

    def get_actions(self, request) -> dict:
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            _, name, description = actions["delete_selected"]
            actions[name] = (_delete_selected, name, description)
        return actions

    def save_formset(self, request, form, formset, change) -> None:
        if not issubclass(formset.form, FileUploadForm):
            return super().save_formset(request, form, formset, change)
        uploads = [
            (f.cleaned_data["upload"], f.cleaned_data["upload_category"])
            for f in formset.forms
            if f.cleaned_data.get("upload")
        ]
        if uploads and not conf.permission_policy().user_has_permission_for_owner(request.user, ADD, form.instance):
            raise PermissionDenied  # inside the page's transaction: the record's changes are undone too
        # What the admin's change message reads from a saved formset.
        formset.new_objects = [
            file_attach(owner=form.instance, upload=upload, category=category, uploaded_by=request.user)
            for upload, category in uploads
        ]
        formset.changed_objects, formset.deleted_objects = [], []
        return None


def _account_fields(model) -> list[str]:
    """``model``'s relations to user accounts (a doctor's or patient's own account)."""
    user_model = get_user_model()
    return [f.name for f in model._meta.get_fields() if f.concrete and f.is_relation and f.related_model is user_model]


def _links_checked(form_class: type[forms.ModelForm], user) -> type[forms.ModelForm]:
    """``form_class`` refusing, as a field error, a link to a record the policy does not let ``user`` make."""

    class LinksChecked(form_class):
        def clean(self):
            cleaned = super().clean()
            record = None if self.instance._state.adding else self.instance  # not yet changed by this form
            policy = conf.permission_policy()
            for name in self.changed_data:
                target = cleaned.get(name)
                if isinstance(target, FileOwner) and not policy.user_may_link(
                    user, record=record, field=name, target=target
                ):
                    self.add_error(name, "You may not link this record to that one.")
            return cleaned

    return LinksChecked


def _delete_selected(modeladmin, request, queryset):
    """Django's "delete selected", all or nothing: a refusal is shown and no record is deleted."""
    try:
        with transaction.atomic():
            return delete_selected(modeladmin, request, queryset)
    except DELETE_REFUSALS as refusal:
        _refused(request, queryset, refusal)
        modeladmin.message_user(request, _refusal_message(refusal), messages.ERROR)
        return None


def _refused(request, records, refusal: Exception) -> None:
    """Each record whose deletion was refused, on the audit trail under the user, as the API records it."""
    status, detail = 403 if isinstance(refusal, DeleteNotPermitted) else 409, _refusal_message(refusal)
    for record in records:
        Attempt(Action.DELETE).by(request.user).on_record(record).record(status=status, detail=detail)


def _refusal_message(refusal: Exception) -> str:
    if isinstance(refusal, ProtectedError | RestrictedError):
        return "Not deleted: other records still refer to it."
    return f"Not deleted: {refusal}."
