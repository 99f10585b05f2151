"""Malware scanning with a real clamd (tests/clamd.py, signatures in tests/clamav/) and quarantine.

Jobs run here without a broker: in this process, once the upload's
transaction commits (``django_capture_on_commit_callbacks(execute=True)``).
"""

import pytest
from django.core.management import CommandError, call_command

from demo import samples
from files import conf
from files.derivatives import file_derivatives_make
from files.exceptions import FileNotRestorable
from files.models import QUARANTINE_PREFIX, AuditEvent, Derivative, File
from files.reconcile import files_reconcile
from files.scanning import scan_allows_read
from files.services import file_delete, file_restore, file_scan
from tests.clamd import EICAR, MARKER, started_clamd
from tests.factories import FileFactory, PatientFactory, UserFactory
from tests.files.test_downloads import signed_url
from tests.files.test_upload import named, upload_url

#: A valid PDF that carries the EICAR test file in a comment of its catalog: it passes the content checks.
EICAR_PDF = samples.pdf_bytes("Referral", catalog=b"\n%" + EICAR + b"\n")
MARKED_PDF = samples.pdf_bytes("Referral", catalog=b"\n%" + MARKER + b"\n")
CLEAN_PDF = samples.pdf_bytes("Discharge summary")


@pytest.fixture
def uploader(db):
    return UserFactory(role="receptionist")


@pytest.fixture
def colleague(db):
    """Another receptionist: may view every file, but did not upload this one."""
    return UserFactory(role="receptionist")


def upload(client, record, name: str, content: bytes, capture) -> File:
    with capture(execute=True):
        answer = client.post(upload_url(record), {"file": named(name, content)})
    assert answer.status_code == 201, answer.content
    return File.objects.get(pk=answer.json()["id"])


def test_eicar_upload_ends_infected_quarantined_and_unreachable_by_anyone(
    scanning, client_for, uploader, admin, storage, fetch, django_capture_on_commit_callbacks
):
    patient = PatientFactory()
    file = upload(client_for(uploader), patient, "referral.pdf", EICAR_PDF, django_capture_on_commit_callbacks)

    file.refresh_from_db()
    assert (file.scan_status, file.scan_detail) == ("infected", "Clinic.Test.Eicar-1.UNOFFICIAL")
    assert not storage.exists(file.storage_name)
    assert storage.exists(QUARANTINE_PREFIX + file.storage_name)
    for user in (uploader, admin):
        answer = fetch(signed_url(file, user))
        assert answer.status == 403
        assert EICAR not in answer.body
    shown = client_for(admin).get(f"/api/files/{file.pk}/").json()
    assert shown["scan_status"] == "infected"
    assert AuditEvent.objects.filter(action="infected", file_id=file.pk).count() == 1


def test_own_signature_inside_a_valid_pdf_is_found_infected(scanning, patient):
    file = FileFactory(owner=patient, name="letter.pdf", content=MARKED_PDF)

    assert file_scan(file_id=file.pk) == "infected"
    file.refresh_from_db()
    assert file.scan_detail == "Clinic.Test.Marker-1.UNOFFICIAL"


def test_clean_upload_ends_clean_then_gets_its_thumbnail_and_is_served_to_colleagues(
    scanning, client_for, uploader, colleague, fetch, django_capture_on_commit_callbacks
):
    patient = PatientFactory()
    file = upload(client_for(uploader), patient, "summary.pdf", CLEAN_PDF, django_capture_on_commit_callbacks)

    file.refresh_from_db()
    assert file.scan_status == "clean"
    assert file.scanned_at is not None
    assert Derivative.objects.filter(file=file, state="ready").count() == 2
    answer = fetch(signed_url(file, colleague))
    assert (answer.status, answer.body) == (200, CLEAN_PDF)


def test_pending_file_is_served_to_its_uploader_and_admins_only(scanning, uploader, colleague, admin, fetch, patient):
    file = FileFactory(owner=patient, name="summary.pdf", content=CLEAN_PDF, uploaded_by=uploader)
    assert file.scan_status == "pending"

    assert fetch(signed_url(file, uploader)).status == 200
    assert fetch(signed_url(file, admin)).status == 200
    refused = fetch(signed_url(file, colleague))
    assert refused.status == 403
    assert CLEAN_PDF not in refused.body


def test_pending_file_token_download_by_a_colleague_is_refused(scanning, colleague, fetch, patient):
    file = FileFactory(owner=patient, name="summary.pdf", content=CLEAN_PDF)

    assert fetch(f"/static/{file.path}", token=colleague.auth_token.key).status == 403


def test_pending_downloads_nobody_holds_pending_files_back_from_uploader_and_admins(
    scanning, settings, uploader, admin, fetch, patient
):
    settings.FILES_PENDING_DOWNLOADS = "nobody"
    file = FileFactory(owner=patient, name="summary.pdf", content=CLEAN_PDF, uploaded_by=uploader)

    assert fetch(signed_url(file, uploader)).status == 403
    assert fetch(signed_url(file, admin)).status == 403


def test_pending_file_is_listed_with_its_status(scanning, admin_client, patient):
    file = FileFactory(owner=patient, name="summary.pdf", content=CLEAN_PDF)

    listed = admin_client.get(f"/api/files/?entity_id={patient.pk}").json()["results"]
    embedded = admin_client.get(f"/api/patients/{patient.pk}/").json()["files"]

    assert [(f["id"], f["scan_status"]) for f in listed] == [(str(file.pk), "pending")]
    assert [(f["id"], f["scan_status"]) for f in embedded] == [(str(file.pk), "pending")]


def test_no_thumbnail_is_made_of_a_file_not_found_clean(scanning, patient):
    file = FileFactory(owner=patient, name="photo.png", content=samples.png_bytes())

    file_derivatives_make(file_id=file.pk)

    assert not Derivative.objects.filter(file=file, state="ready").exists()


def test_stopped_clamd_leaves_files_pending_then_the_catch_up_scans_them(
    own_clamd, client_for, uploader, django_capture_on_commit_callbacks
):
    own_clamd.stop()
    patient = PatientFactory()
    file = upload(client_for(uploader), patient, "summary.pdf", CLEAN_PDF, django_capture_on_commit_callbacks)
    file.refresh_from_db()
    assert file.scan_status == "pending"
    with pytest.raises(CommandError, match="did not answer"):
        call_command("files_scan")
    file.refresh_from_db()
    assert file.scan_status == "pending"

    own_clamd.start()
    call_command("files_scan")

    file.refresh_from_db()
    assert file.scan_status == "clean"
    assert Derivative.objects.filter(file=file, state="ready").count() == 2


def test_infected_file_deleted_then_restored_is_refused_and_stays_unreachable(scanning, patient, admin, storage):
    file = FileFactory(owner=patient, name="letter.pdf", content=MARKED_PDF)
    file_scan(file_id=file.pk)
    file_delete(file=file, deleted_by=admin)

    with pytest.raises(FileNotRestorable):
        file_restore(file=File.all_objects.get(pk=file.pk), restored_by=admin)
    assert not storage.exists(file.storage_name)
    assert storage.exists(QUARANTINE_PREFIX + file.storage_name)


def test_cleanup_keeps_quarantined_bytes(scanning, patient, storage):
    file = FileFactory(owner=patient, name="letter.pdf", content=MARKED_PDF)
    file_scan(file_id=file.pk)

    report = files_reconcile(dry_run=False, grace=conf.trash_retention() * 0)

    assert report.orphan_blobs == []
    assert report.missing_blobs == []
    assert storage.exists(QUARANTINE_PREFIX + file.storage_name)


def test_scanning_off_holds_nothing_back_but_infected_files(settings, patient, colleague):
    settings.FILES_CLAMD = None
    file = FileFactory(owner=patient, name="summary.pdf", content=CLEAN_PDF)

    assert scan_allows_read(user=colleague, file=file)
    file.scan_status = "infected"
    assert not scan_allows_read(user=colleague, file=file)


def test_admin_filters_infected_files_and_offers_no_link_to_them(scanning, client, admin, patient):
    infected = FileFactory(owner=patient, name="letter.pdf", content=MARKED_PDF)
    clean = FileFactory(owner=patient, name="summary.pdf", content=CLEAN_PDF)
    file_scan(file_id=infected.pk)
    file_scan(file_id=clean.pk)
    client.force_login(UserFactory(role="admin", is_staff=True))

    page = client.get("/admin/files/file/?scan_status__exact=infected")

    assert page.status_code == 200
    assert list(page.context["cl"].result_list) == [File.objects.get(pk=infected.pk)]
    assert "quarantined" in page.content.decode()
    assert f"/static/{infected.path}" not in page.content.decode()


def test_admin_action_scans_selected_files_again(scanning, client, patient):
    file = FileFactory(owner=patient, name="summary.pdf", content=CLEAN_PDF)
    client.force_login(UserFactory(role="admin", is_staff=True))

    client.post("/admin/files/file/", {"action": "scan_selected", "_selected_action": [str(file.pk)]})

    file.refresh_from_db()
    assert file.scan_status == "clean"


def test_file_over_clamds_stream_limit_ends_failed_and_held_back_never_clean(settings, patient, colleague, fetch):
    small = started_clamd(stream_max="1M")
    try:
        settings.FILES_CLAMD = small.socket
        file = FileFactory(owner=patient, name="scan.pdf", content=samples.pdf_bytes("Scanned page " * 100_000))

        assert file_scan(file_id=file.pk) == "failed"
    finally:
        small.close()
    file.refresh_from_db()
    assert "StreamMaxLength" in file.scan_detail
    assert fetch(signed_url(file, colleague)).status == 403
