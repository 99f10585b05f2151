"""The audit trail (files.audit): every upload, download, deletion and refused attempt, kept for good."""

import csv
import io
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from demo import samples
from files import audit
from files.models import AuditEvent, AuditTrailIsAppendOnly, File
from files.services import file_delete
from tests.factories import FileFactory, UserFactory
from tests.wsgi import wsgi_request

Action, Outcome = AuditEvent.Action, AuditEvent.Outcome


def png_part(name: str = "scan.png", content: bytes | None = None) -> io.BytesIO:
    part = io.BytesIO(samples.png_bytes() if content is None else content)
    part.name = name
    return part


def events(**filters) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(**filters).order_by("id"))


def token_client(user, address: str = "203.0.113.7") -> APIClient:
    client = APIClient(REMOTE_ADDR=address)
    client.credentials(HTTP_AUTHORIZATION=f"Token {user.auth_token.key}")
    return client


# Uploads and deletions.


def test_upload_records_who_what_where_and_how(admin, patient):
    response = token_client(admin).post(f"/api/patients/{patient.pk}/files/", {"file": png_part()})

    [event] = events(action=Action.UPLOAD)
    assert (event.outcome, event.user_id, event.username, event.via) == (
        "allowed",
        str(admin.pk),
        admin.username,
        "token",
    )
    assert (str(event.file_id), str(event.record_id), event.record_type) == (
        response.json()["id"],
        str(patient.pk),
        "patients.patient",
    )
    assert event.address == "203.0.113.7"


@pytest.mark.parametrize(
    ("user_role", "part", "status"),
    [
        ("patient", png_part(), 403),
        ("admin", png_part("page.html", b"<html><script>alert(1)</script></html>"), 422),
    ],
    ids=["not-allowed", "not-a-supported-file"],
)
def test_refused_upload_is_recorded_with_its_status(patient, user_role, part, status):
    user = UserFactory(role=user_role)

    response = token_client(user).post(f"/api/patients/{patient.pk}/files/", {"file": part})

    assert response.status_code == status
    [event] = events(action=Action.UPLOAD)
    assert (event.outcome, event.status, event.user_id, str(event.record_id)) == (
        "refused",
        status,
        str(user.pk),
        str(patient.pk),
    )
    assert not File.objects.exists()


def test_delete_records_the_file_and_its_record(admin, png_file):
    token_client(admin).delete(f"/static/delete_file/{png_file.id}")

    [event] = events(action=Action.DELETE)
    assert (event.outcome, event.user_id, event.file_id, event.record_id) == (
        "allowed",
        str(admin.pk),
        png_file.id,
        png_file.entity_id,
    )


@pytest.mark.parametrize(
    ("role", "status"), [("receptionist", 403), (None, 401)], ids=["not-allowed", "not-authenticated"]
)
def test_refused_delete_is_recorded(png_file, role, status):
    client = token_client(UserFactory(role=role)) if role else APIClient()

    assert client.delete(f"/static/delete_file/{png_file.id}").status_code == status

    [event] = events(action=Action.DELETE)
    assert (event.outcome, event.status) == ("refused", status)
    assert File.objects.filter(pk=png_file.pk).exists()


def test_delete_of_a_missing_file_records_the_id_asked_for(admin, png_file):
    File.objects.filter(pk=png_file.pk).delete()

    token_client(admin).delete(f"/static/delete_file/{png_file.id}")

    [event] = events(action=Action.DELETE)
    assert (event.outcome, event.status, event.file_id, event.detail) == ("refused", 404, png_file.id, "File not found")


def test_a_delete_that_rolls_back_leaves_no_event(admin, png_file):
    with pytest.raises(RuntimeError), transaction.atomic():
        file_delete(file=png_file, deleted_by=admin)
        raise RuntimeError("the caller's transaction fails")

    assert not events(action=Action.DELETE)
    assert File.objects.filter(pk=png_file.pk).exists()


def test_admin_delete_is_recorded_as_coming_from_the_admin(admin, png_file):
    admin.is_staff = True
    admin.save()
    client = Client(REMOTE_ADDR="198.51.100.4")
    client.force_login(admin)

    client.post(f"/admin/files/file/{png_file.id}/delete/", {"post": "yes"})

    [event] = events(action=Action.DELETE)
    assert (event.via, event.user_id, event.address) == ("admin", str(admin.pk), "198.51.100.4")


# Downloads.


def test_token_download_is_recorded(admin, png_file):
    response = wsgi_request(f"/static/{png_file.path}", headers={"Authorization": f"Token {admin.auth_token.key}"})

    assert response.status == 200
    [event] = events(action=Action.DOWNLOAD)
    assert (event.outcome, event.status, event.via, event.user_id, event.username) == (
        "allowed",
        200,
        "token",
        str(admin.pk),
        admin.username,
    )
    assert (event.file_id, event.record_id, event.record_type) == (png_file.id, png_file.entity_id, "patients.patient")


def test_session_download_is_recorded(admin, png_file):
    client = Client()
    client.force_login(admin)

    assert client.get(f"/static/{png_file.path}").status_code == 200

    [event] = events(action=Action.DOWNLOAD)
    assert (event.via, event.user_id) == ("session", str(admin.pk))


def test_signed_url_download_records_whom_the_url_was_issued_to(receptionist, png_file):
    url = token_client(receptionist).get(f"/api/files/{png_file.id}/").json()["url"]
    AuditEvent.objects.all()  # the metadata read above is not a download

    assert APIClient().get(url).status_code == 200

    [event] = events(action=Action.DOWNLOAD)
    assert (event.via, event.issued_to, event.user_id, event.status) == ("signed URL", str(receptionist.pk), "", 200)


def test_signed_url_with_a_forged_recipient_is_recorded_under_no_user(fetch, receptionist, admin, png_file):
    url = token_client(receptionist).get(f"/api/files/{png_file.id}/").json()["url"]
    forged = url.replace(f"issued_to={receptionist.pk}", f"issued_to={admin.pk}")

    assert fetch(forged).status == 403

    [event] = events(action=Action.DOWNLOAD)
    assert (event.outcome, event.status, event.issued_to, event.user_id, event.username) == ("refused", 403, "", "", "")
    assert event.detail == f'Invalid file URL signature (claimed issued_to="{admin.pk}")'


def test_claimed_recipient_of_a_refused_signed_url_is_recorded_escaped(fetch, png_file):
    # A NUL in a text column makes PostgreSQL refuse the whole batch of events it is written with.
    url = f"/static/{png_file.path}?expires=9999999999&issued_to=%00\x00\x1b&signature=0"

    assert fetch(url).status == 403

    [event] = events(action=Action.DOWNLOAD)
    assert (event.issued_to, event.detail) == ("", 'Invalid file URL signature (claimed issued_to="%00\\u0000\\u001b")')


@pytest.mark.parametrize(
    ("headers", "status", "detail"),
    [
        ({}, 401, "Not authenticated"),
        ({"Authorization": "Token not-a-token"}, 401, "Invalid token."),
    ],
)
def test_refused_download_is_recorded(png_file, headers, status, detail):
    assert wsgi_request(f"/static/{png_file.path}", headers=headers).status == status

    [event] = events(action=Action.DOWNLOAD)
    assert (event.outcome, event.status, event.detail, event.file_id) == ("refused", status, detail, png_file.id)


def test_download_of_a_path_that_names_no_file_is_recorded_with_the_path(admin):
    wsgi_request("/static/../../etc/passwd", headers={"Authorization": f"Token {admin.auth_token.key}"})

    [event] = events(action=Action.DOWNLOAD)
    assert (event.status, event.file_id, event.detail) == (404, None, "File not found")


def test_address_comes_from_the_proxy_header_only_when_configured(settings, admin, png_file):
    headers = {"Authorization": f"Token {admin.auth_token.key}", "X-Real-IP": "192.0.2.55"}
    wsgi_request(f"/static/{png_file.path}", headers=headers)
    settings.FILES_CLIENT_ADDRESS_HEADER = "HTTP_X_REAL_IP"
    wsgi_request(f"/static/{png_file.path}", headers=headers)

    first, second = events(action=Action.DOWNLOAD)
    assert first.address != "192.0.2.55"  # without the setting a client cannot choose what is recorded
    assert second.address == "192.0.2.55"


@pytest.fixture
def batched(settings):
    """Download events batched; the writer thread stopped after the test, its events written."""
    settings.FILES_AUDIT_FLUSH_SECONDS = 0.1
    yield settings
    audit.stop_writer()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_batched_download_events_are_written_by_the_background_writer(batched, png_file):
    admin = UserFactory(role="admin")

    for _ in range(3):
        wsgi_request(f"/static/{png_file.path}", headers={"Authorization": f"Token {admin.auth_token.key}"})

    deadline = time.monotonic() + 10
    while AuditEvent.objects.filter(action=Action.DOWNLOAD).count() < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert AuditEvent.objects.filter(action=Action.DOWNLOAD, user_id=str(admin.pk)).count() == 3


def test_stopping_the_writer_writes_what_waits(batched, admin, png_file):
    batched.FILES_AUDIT_FLUSH_SECONDS = 3600  # the writer would wait an hour
    wsgi_request(f"/static/{png_file.path}", headers={"Authorization": f"Token {admin.auth_token.key}"})
    assert not events(action=Action.DOWNLOAD)

    audit.stop_writer()

    assert len(events(action=Action.DOWNLOAD)) == 1


def test_a_malformed_client_address_header_neither_blocks_nor_loses_download_events(batched, admin, png_file):
    # A request that reached gunicorn without the proxy: its client wrote the header, and its peer address.
    batched.FILES_AUDIT_FLUSH_SECONDS = 3600
    batched.FILES_CLIENT_ADDRESS_HEADER = "HTTP_X_REAL_IP"
    token = {"Authorization": f"Token {admin.auth_token.key}"}
    url = f"/static/{png_file.path}"
    wsgi_request(url, headers={**token, "X-Real-IP": "<script>\x00', 10.0.0.1"}, remote_addr="198.51.100.9")
    wsgi_request(url, headers={**token, "X-Real-IP": "999.1.2.3"}, remote_addr="not an address")
    wsgi_request(url, headers={**token, "X-Real-IP": "2001:DB8::0:1"}, remote_addr="198.51.100.9")

    audit.stop_writer()

    assert [event.address for event in events(action=Action.DOWNLOAD)] == ["198.51.100.9", None, "2001:db8::1"]


def test_the_writer_records_an_event_with_invalid_values_without_them(batched, admin, png_file):
    batched.FILES_AUDIT_FLUSH_SECONDS = 3600
    attempt = audit.Attempt(Action.DOWNLOAD, context=audit.RequestContext(address="10.0.0.300", via="token"))
    attempt.file_id, attempt.record_id, attempt.username = "not-a-uuid", str(png_file.entity_id), "nul\x00" + "x" * 300
    attempt.record_soon(status=403, detail="d\x00" * 300)
    token_client(admin).get(f"/static/{png_file.path}")

    audit.stop_writer()

    refused, allowed = events(action=Action.DOWNLOAD)
    assert (refused.address, refused.file_id, refused.record_id) == (None, None, png_file.entity_id)
    assert (refused.username, refused.detail) == ("nul" + "x" * 147, "d" * 255)
    assert (allowed.outcome, allowed.file_id) == ("allowed", png_file.id)


def test_the_writer_keeps_tabs_newlines_and_backslashes_in_values_and_the_exact_time(
    batched, monkeypatch, admin, png_file
):
    # On PostgreSQL the batch is written as COPY's text, where these characters are the format's own.
    batched.FILES_AUDIT_FLUSH_SECONDS = 3600
    at = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
    monkeypatch.setattr(audit, "_now", at.timestamp)
    attempt = audit.Attempt(Action.DOWNLOAD, context=audit.RequestContext(via="token"))
    attempt.username = "tab\tline\nreturn\rback\\slash \\N é"
    attempt.record_soon(status=200, detail="\\N")
    attempt.record_soon(status=200, detail="")

    audit.stop_writer()

    written = events(action=Action.DOWNLOAD)
    assert [(event.username, event.detail, event.at) for event in written] == [
        ("tab\tline\nreturn\rback\\slash \\N é", "\\N", at),
        ("tab\tline\nreturn\rback\\slash \\N é", "", at),
    ]
    assert [(event.address, event.file_id, event.status) for event in written] == [(None, None, 200)] * 2


def test_an_event_the_database_refuses_is_dropped_and_the_rest_of_the_batch_written(
    batched, monkeypatch, admin, png_file
):
    batched.FILES_AUDIT_FLUSH_SECONDS = 3600
    monkeypatch.setattr(audit, "_valid", lambda values: values)  # were validation to miss a value
    audit.Attempt(None, context=audit.RequestContext(address="10.0.0.1")).record_soon(status=403)  # no action
    token_client(admin).get(f"/static/{png_file.path}")

    audit.stop_writer()

    [event] = events(action=Action.DOWNLOAD)
    assert (event.outcome, event.file_id) == ("allowed", png_file.id)
    assert audit.flush() == 0  # nothing left to retry


# Repeated refusals: counted, not each kept.


@pytest.fixture
def mid_minute(monkeypatch):
    """The clock stands still half way through a minute: the test's attempts all fall in it."""
    now = timezone.now().replace(second=30, microsecond=0)
    monkeypatch.setattr(audit, "_now", now.timestamp)
    return now


def test_a_refusal_repeated_within_a_minute_is_recorded_once_then_counted(mid_minute, fetch, png_file):
    url = f"/static/{png_file.path}?expires=9999999999&issued_to=1&signature=forged"

    for _ in range(5):
        assert fetch(url).status == 403
    [first] = events(action=Action.DOWNLOAD)  # at once, with everything it says
    audit.stop_writer()  # the minute's counts, as at its end

    first_again, repeats = events(action=Action.DOWNLOAD)
    assert (first_again.id, first.count, first.outcome, first.file_id) == (first.id, 1, "refused", png_file.id)
    assert (repeats.count, repeats.status, repeats.detail, repeats.file_id, repeats.address) == (
        4,
        403,
        first.detail,
        png_file.id,
        first.address,
    )


def test_refused_uploads_are_counted_too(mid_minute, patient):
    client = token_client(UserFactory(role="patient"))

    for _ in range(3):
        assert client.post(f"/api/patients/{patient.pk}/files/", {"file": png_part()}).status_code == 403
    audit.stop_writer()

    assert [(event.status, event.count) for event in events(action=Action.UPLOAD)] == [(403, 1), (403, 2)]


def test_different_refusals_and_allowed_downloads_are_each_recorded(mid_minute, admin, png_file, patient):
    other = FileFactory(owner=patient, name="other.png")
    for file in [png_file, other, png_file, other]:
        wsgi_request(f"/static/{file.path}", headers={"Authorization": f"Token {admin.auth_token.key}"})
    for file in [png_file, other]:
        wsgi_request(f"/static/{file.path}")
    audit.stop_writer()

    recorded = [(event.outcome, event.file_id, event.count) for event in events(action=Action.DOWNLOAD)]
    assert recorded == [
        ("allowed", png_file.id, 1),
        ("allowed", other.id, 1),
        ("allowed", png_file.id, 1),
        ("allowed", other.id, 1),
        ("refused", png_file.id, 1),
        ("refused", other.id, 1),
    ]


def test_a_minutes_counts_are_written_once_it_has_ended(mid_minute, monkeypatch, png_file):
    url = f"/static/{png_file.path}"
    for _ in range(3):
        wsgi_request(url)
    assert audit.flush() == 0  # the minute goes on

    later = mid_minute + timedelta(minutes=1)
    monkeypatch.setattr(audit, "_now", later.timestamp)
    wsgi_request(url)  # a new minute: recorded, and the last one's counts written

    assert [(event.count, event.at == later) for event in events(action=Action.DOWNLOAD)] == [
        (1, False),
        (2, False),
        (1, True),
    ]


# Append-only.


def test_an_event_cannot_be_changed_or_deleted(admin, png_file):
    FileFactory(owner=png_file.entity, uploaded_by=admin)
    event = AuditEvent.objects.first()

    event.detail = "rewritten"
    with pytest.raises(AuditTrailIsAppendOnly):
        event.save()
    with pytest.raises(AuditTrailIsAppendOnly):
        event.delete()
    with pytest.raises(AuditTrailIsAppendOnly):
        AuditEvent.objects.update(detail="rewritten")
    with pytest.raises(AuditTrailIsAppendOnly):
        AuditEvent.objects.all().delete()


postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the triggers are PostgreSQL's (SQLite has no TRUNCATE); CI runs it"
)


def constraints_checked_now() -> None:
    """Check the test transaction's deferred foreign keys now: PostgreSQL truncates no table with checks pending."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


@postgresql_only
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE files_auditevent SET detail = 'x'",
        "DELETE FROM files_auditevent",
        "TRUNCATE files_auditevent",
        "TRUNCATE files_auditevent RESTART IDENTITY CASCADE",
        "TRUNCATE files_derivative, files_fileversion, files_resumableupload, files_directupload, files_file, "
        "files_auditevent",
    ],
)
def test_the_database_refuses_to_change_the_trail(admin, png_file, statement):
    constraints_checked_now()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)

    assert AuditEvent.objects.exists()


@postgresql_only
def test_the_test_suites_flush_empties_the_trail_and_leaves_truncate_refused(admin, png_file):
    # The flush ending every transactional test (tests/conftest.py), here inside this test's transaction.
    constraints_checked_now()
    call_command("flush", interactive=False, inhibit_post_migrate=True, verbosity=0)
    assert not AuditEvent.objects.exists()

    audit.Attempt(Action.UPLOAD).record(status=201)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("TRUNCATE files_auditevent")


# The admin.


@pytest.fixture
def staff_client(admin) -> Client:
    admin.is_staff = True
    admin.save()
    client = Client()
    client.force_login(admin)
    return client


def test_admin_lists_events_and_filters_them(staff_client, admin, png_file):
    token_client(admin).get(f"/static/{png_file.path}")

    page = staff_client.get("/admin/files/auditevent/", {"action__exact": "download"})

    assert page.status_code == 200
    assert list(page.context["cl"].queryset.values_list("action", flat=True)) == ["download"]


@pytest.mark.parametrize(
    "url", ["/admin/files/auditevent/add/", "/admin/files/auditevent/{id}/delete/"], ids=["add", "delete"]
)
def test_admin_cannot_add_or_delete_an_event(staff_client, png_file, url):
    event = AuditEvent.objects.first()

    assert staff_client.get(url.format(id=event.id)).status_code == 403
    assert staff_client.post(url.format(id=event.id), {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_admin_event_page_is_read_only(staff_client, png_file):
    event = AuditEvent.objects.first()

    page = staff_client.get(f"/admin/files/auditevent/{event.id}/change/")
    staff_client.post(f"/admin/files/auditevent/{event.id}/change/", {"detail": "rewritten"})

    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert AuditEvent.objects.get(pk=event.pk).detail == event.detail


def test_export_is_the_filtered_trail_as_csv(staff_client, admin, png_file):
    token_client(admin).get(f"/static/{png_file.path}")
    token_client(admin).delete(f"/static/delete_file/{png_file.id}")

    response = staff_client.get("/admin/files/auditevent/export.csv", {"action__exact": "delete"})

    assert response["Content-Type"] == "text/csv"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-trail-')
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(row["action"], row["file_id"], row["user_id"]) for row in rows] == [
        ("delete", str(png_file.id), str(admin.pk))
    ]


def test_export_keeps_a_formula_as_text(staff_client, patient):
    spreadsheet_attack = UserFactory(username="=HYPERLINK(evil)", role="admin")
    token_client(spreadsheet_attack).post(f"/api/patients/{patient.pk}/files/", {"file": png_part()})

    response = staff_client.get("/admin/files/auditevent/export.csv")

    assert "'=HYPERLINK(evil)" in b"".join(response.streaming_content).decode()


def test_trail_is_hidden_from_staff_without_its_permission(client, png_file):
    receptionist = UserFactory(role="receptionist", is_staff=True)
    client.force_login(receptionist)

    assert client.get("/admin/files/auditevent/").status_code == 403
    assert client.get("/admin/files/auditevent/export.csv").status_code == 403
