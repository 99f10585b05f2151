"""Admin pages beside the file list: the reconciliation, the storage report, replacing a file's content."""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from files import conf
from files.exceptions import FileChanged, FileOnHold, FileRejected, ReplaceNotPermitted
from files.models import File
from files.policy import DELETE
from files.reconcile import files_reconcile
from files.selectors import files_storage_report
from files.services import file_replace

CLEANUP_SECTIONS = {
    "orphan_blobs": "Bytes no file points at (removed)",
    "misplaced_blobs": "Bytes in the wrong place (moved)",
    "missing_blobs": "Files whose bytes are missing (reported only)",
    "ownerless_files": "Files of deleted records (put in the trash)",
    "expired_trash": "Expired trash (purged)",
    "stale_upload_files": "Temporary upload files left by killed workers, untouched for an hour (removed)",
}


def cleanup_view(model_admin, request):
    """The ``files_cleanup`` command as a page: a dry run on GET, the repair on POST."""
    if not conf.permission_policy().user_may_reconcile(request.user):
        raise PermissionDenied
    applied = request.method == "POST"
    report = files_reconcile(dry_run=not applied)
    sections = [(label, getattr(report, field)) for field, label in CLEANUP_SECTIONS.items()]
    context = {**model_admin.admin_site.each_context(request), "title": "Reconcile files", "sections": sections}
    return TemplateResponse(request, "admin/files/file/cleanup.html", {**context, "applied": applied})


def storage_report_view(model_admin, request):
    """Bytes and counts of the files the user may view, by category and by owner type, and the trash."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    report = files_storage_report(files=model_admin.get_queryset(request))
    context = {**model_admin.admin_site.each_context(request), "title": "Storage report", **report}
    return TemplateResponse(request, "admin/files/file/report.html", context)


class ReplaceForm(forms.Form):
    file = forms.FileField(label="New content", allow_empty_file=True)


def replace_view(model_admin, request, object_id: str):
    """ "Replace content": a new version of a live file, for who may delete it (as the API's PUT)."""
    file = model_admin.get_queryset(request).live().filter(pk=object_id).first() if _is_uuid(object_id) else None
    if file is None:
        raise Http404("File not found")
    if not conf.permission_policy().user_has_permission_for_file(request.user, DELETE, file):
        raise PermissionDenied
    form = ReplaceForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            file_replace(file=file, upload=form.cleaned_data["file"], replaced_by=request.user)
        except FileRejected as refusal:
            form.add_error("file", refusal.message)
        except (FileOnHold, FileChanged, ReplaceNotPermitted) as refusal:
            model_admin.message_user(request, f"{file.name}: {refusal}", messages.WARNING)
        else:
            model_admin.message_user(request, f"{file.name}: replaced; version {file.version} is now current.")
            return HttpResponseRedirect(reverse("admin:files_file_change", args=[file.pk]))
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Replace the content of {file.name}",
        "file": file,
        "versions": file.versions.select_related("created_by"),
        "form": form,
    }
    return TemplateResponse(request, "admin/files/file/replace.html", context)


def _is_uuid(value: str) -> bool:
    try:
        File._meta.pk.to_python(value)
    except Exception:
        return False
    return True
