"""A record's export as an HTTP answer: the API's ``GET {record}/export/`` and the admin's export action."""

from django.db import models
from django.http import StreamingHttpResponse

from files.audit import Action, Attempt
from files.export import export_stream


def export_response(*, record: models.Model, user, detail: str) -> StreamingHttpResponse:
    """The streamed ZIP of ``record``'s files ``user`` may view; the export itself on the audit trail (``detail``).

    Each file in it is audited as it goes out (``files.export``). Never cached: it is a patient's record.
    """
    Attempt(Action.EXPORT).by(user).on_record(record).record(detail=detail)
    response = StreamingHttpResponse(export_stream(record=record, user=user), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{record._meta.model_name}-{record.pk}.zip"'
    response["Cache-Control"] = "private, no-store"
    return response
