"""Structured logs with a request id."""

import json
import logging

from clinic.logs import JsonFormatter, RequestIdFilter, request_id
from tests.factories import FileFactory


def test_response_echoes_a_sane_request_id(client, db):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="req-123.abc")

    assert response["X-Request-ID"] == "req-123.abc"


def test_insane_request_id_is_replaced(client, db):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="evil\nvalue" + "x" * 200)

    assert len(response["X-Request-ID"]) == 32
    assert "\n" not in response["X-Request-ID"]


def test_log_line_is_json_with_request_id_and_extra_fields():
    record = logging.LogRecord("files.services.trash", logging.INFO, __file__, 1, "file deleted", None, None)
    record.file_id = "019ec9e8-d2b4-77ff-be43-525f928a5de3"
    token = request_id.set("req-7")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id.reset(token)

    line = json.loads(JsonFormatter().format(record))

    assert line["message"] == "file deleted"
    assert line["request_id"] == "req-7"
    assert line["file_id"] == "019ec9e8-d2b4-77ff-be43-525f928a5de3"
    assert line["level"] == "INFO"


def test_delete_is_logged_under_the_request_id(admin_client, caplog, django_capture_on_commit_callbacks):
    file = FileFactory()
    caplog.handler.addFilter(RequestIdFilter())  # as the project's console handler does, at emit time

    with caplog.at_level(logging.INFO, logger="files.services"), django_capture_on_commit_callbacks(execute=True):
        admin_client.delete(f"/static/delete_file/{file.id}", HTTP_X_REQUEST_ID="req-42")

    [entry] = [r for r in caplog.records if r.getMessage() == "file deleted"]
    assert entry.file_id == str(file.id)
    assert entry.request_id == "req-42"
