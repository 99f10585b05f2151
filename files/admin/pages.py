"""Admin pages beside the file list: the reconciliation and the storage report."""

from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse

from files import conf
from files.reconcile import files_reconcile
from files.selectors import files_storage_report

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
