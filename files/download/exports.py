"""The signed link of an export built in the background (``GET /api/exports/{id}/download/``): its ZIP's bytes.

The API hands the link out (``files.api.exports``); this answers it. Its bytes
are served as a file's are (``files.download.serving``).
"""

import uuid

from django.http.response import HttpResponseBase

from files import limits, signing
from files.audit import Action, Attempt, context_of
from files.download.access import reply_detail, throttle_refusal, unavailable_reply
from files.download.serving import FileMeta, Reply, error_reply, reply
from files.download.views import as_django_response
from files.exceptions import EXPORT_NOT_FOUND, ExportNotPermitted, StorageUnavailable
from files.export import export_check
from files.models import Export


def export_download(request, export_id: str) -> HttpResponseBase:
    """The signed link's answer: the stored ZIP, to its requester while still active and allowed, until it expires.

    Its bytes are served as a file's are (``files.download.serving``): ranges, so that a large export's download
    resumes; conditional requests; HEAD; the serving mode. Bytes gone meanwhile (swept by ``files_cleanup``) are
    404, storage failing 503 with ``Retry-After``; refusals count toward the client's ``FILES_REFUSAL_RATE``
    as a download's do. Every answer is one event on the audit trail, but the 404 of an export that never was.
    """
    attempt = Attempt(Action.EXPORT, context=context_of(request.META, signed=True))
    audited = True
    try:
        export = _permitted_export(request, export_id, attempt)
    except (ValueError, Export.DoesNotExist):
        answer, audited = error_reply(404, EXPORT_NOT_FOUND), False
    except (signing.InvalidSignature, ExportNotPermitted) as error:
        answer = error_reply(403, str(error))
    else:
        answer = _export_reply(export, request.META)
    if answer.status in limits.COUNTED_STATUSES:
        answer, attempt = throttle_refusal(answer, attempt)
    if audited or answer.status == 429:
        status = answer.status if answer.status >= 400 else None
        attempt.record(status=status, detail=reply_detail(answer) if status else "export download")
    response = as_django_response(answer, request.META)
    response["Cache-Control"] = "private, no-store"  # a patient's record: never kept, not even to revalidate
    response.xframe_options_exempt = False  # a ZIP is never shown in a frame: the site's X-Frame-Options stays
    return response


def _permitted_export(request, export_id: str, attempt: Attempt) -> Export:
    """The ready export the link names, for its requester still allowed to read it; named on ``attempt``.

    Raises ``ValueError`` or ``Export.DoesNotExist`` (no such export), ``InvalidSignature`` or ``ExportNotPermitted``.
    """
    export = Export.objects.select_related("requested_by", "record_type").get(pk=uuid.UUID(export_id))
    attempt.by(export.requested_by).issued_to = str(export.requested_by_id)
    signing.export_verify(
        export_id=str(export.pk),
        expires=request.GET.get("expires", ""),
        issued_to=str(export.requested_by_id),
        signature=request.GET.get("signature", ""),
    )
    if export.state != Export.State.READY:
        raise ExportNotPermitted("The export is not ready")
    record = export.record
    if record is not None:
        attempt.on_record(record)
    export_check(record=record, user=export.requested_by)
    return export


def _export_reply(export: Export, environ) -> Reply:
    """The ZIP's bytes as the serving mode sends them; 404 once they are gone, 503 while storage fails."""
    try:
        answer = reply(FileMeta.of_export(export), environ, max_age=None)
    except StorageUnavailable as error:
        return unavailable_reply(error)
    return answer or error_reply(404, EXPORT_NOT_FOUND)
