"""A record's export: one streamed ZIP of the files the user may view, a manifest that verifies, each file audited."""

import hashlib
import io
import json
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from demo import samples
from files.models import AuditEvent, File
from files.services import file_delete, file_replace
from tests.factories import AppointmentFactory, FileFactory, PatientFactory, UserFactory
from tests.responses import body


def export(client, record_path: str):
    response = client.get(f"/api/{record_path}/export/")
    return response, body(response)


@pytest.fixture
def chart(patient):
    """A patient's photo and report, one appointment's scan, and another patient's file."""
    appointment = AppointmentFactory(patient=patient)
    return {
        "photo": FileFactory(owner=patient, name="photo.png", category="profile"),
        "report": FileFactory(owner=patient, name='lab "<b>".pdf', content=samples.pdf_bytes(), category="report"),
        "scan": FileFactory(owner=appointment, name="x-ray.jpg", content=samples.jpeg_bytes(), category="scan"),
        "other": FileFactory(owner=PatientFactory(), name="not-theirs.png"),
    }


def test_export_manifest_verifies_against_the_bytes(admin_client, patient, chart):
    response, body = export(admin_client, f"patients/{patient.pk}")

    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(body))
    manifest = json.loads(archive.read("manifest.json"))
    assert {entry["id"] for entry in manifest["files"]} == {str(chart[n].id) for n in ("photo", "report", "scan")}
    for entry in manifest["files"]:
        data = archive.read(entry["path"])
        assert entry["path"].startswith(f"{entry['category']}/")
        assert (len(data), hashlib.sha256(data).hexdigest()) == (entry["size"], entry["sha256"])
        assert entry["versions"][0]["sha256"] == entry["sha256"]


def test_export_index_escapes_names(admin_client, patient, chart):
    _, body = export(admin_client, f"patients/{patient.pk}")

    index = zipfile.ZipFile(io.BytesIO(body)).read("index.html").decode()
    assert "lab &quot;&lt;b&gt;&quot;.pdf" in index and "<b>" not in index


def test_patient_exports_exactly_their_own_files(client_for, patient, chart):
    portal = UserFactory(role="patient")
    patient.user = portal
    patient.save()

    response, body = export(client_for(portal), f"patients/{patient.pk}")

    assert response.status_code == 200
    names = set(zipfile.ZipFile(io.BytesIO(body)).namelist()) - {"manifest.json", "index.html"}
    # Their portal account reaches their record only, not the appointments' records (accounts.access).
    assert names == {f"profile/{chart['photo'].id}-photo.png", f"report/{chart['report'].id}-lab _b_.pdf"}


def test_an_export_leaves_out_what_the_scanner_holds_back_from_the_user(client_for, patient, chart, settings):
    # Scanning on, the scanner unreachable: a new upload stays pending; another file was found infected.
    settings.FILES_CLAMD = "/nonexistent/clamd.sock"
    pending = FileFactory(owner=patient, name="new.pdf", content=samples.pdf_bytes(), category="report")
    File.objects.filter(pk=chart["photo"].pk).update(scan_status=File.ScanStatus.INFECTED)
    File.objects.filter(pk=chart["report"].pk).update(scan_status=File.ScanStatus.CLEAN)
    portal = UserFactory(role="patient")
    patient.user = portal
    patient.save()

    response, body = export(client_for(portal), f"patients/{patient.pk}")

    names = set(zipfile.ZipFile(io.BytesIO(body)).namelist()) - {"manifest.json", "index.html"}
    assert (response.status_code, names) == (200, {f"report/{chart['report'].id}-lab _b_.pdf"})
    assert File.objects.get(pk=pending.pk).scan_status == File.ScanStatus.PENDING


def test_patient_may_not_export_another_patients_record_403(client_for, patient, chart):
    portal = UserFactory(role="patient")
    patient.user = portal
    patient.save()

    response, _ = export(client_for(portal), f"patients/{chart['other'].entity_id}")

    assert response.status_code == 403
    event = AuditEvent.objects.get(action="export")
    assert (event.outcome, event.record_id) == ("refused", chart["other"].entity_id)


def test_every_exported_file_is_audited(admin_client, admin, patient, chart):
    export(admin_client, f"patients/{patient.pk}")

    exported = AuditEvent.objects.filter(action="export", file_id__isnull=False)
    assert {event.file_id for event in exported} == {chart[n].id for n in ("photo", "report", "scan")}
    assert {event.user_id for event in exported} == {str(admin.pk)}


def test_export_holds_current_content_and_lists_versions_not_trashed_files(admin_client, admin, patient, chart):
    amended = samples.pdf_bytes("Amended")
    file_replace(file=chart["report"], upload=SimpleUploadedFile("a.pdf", amended), replaced_by=admin)
    file_delete(file=chart["photo"], deleted_by=admin)

    _, body = export(admin_client, f"patients/{patient.pk}")

    archive = zipfile.ZipFile(io.BytesIO(body))
    manifest = {entry["id"]: entry for entry in json.loads(archive.read("manifest.json"))["files"]}
    assert str(chart["photo"].id) not in manifest
    report = manifest[str(chart["report"].id)]
    assert archive.read(report["path"]) == amended
    assert [v["number"] for v in report["versions"]] == [1, 2]


def test_doctor_and_appointment_exports_hold_their_own_files(admin_client, chart):
    appointment = chart["scan"].entity
    response, body = export(admin_client, f"appointments/{appointment.pk}")
    names = set(zipfile.ZipFile(io.BytesIO(body)).namelist())
    assert response.status_code == 200 and names == {
        "manifest.json",
        "index.html",
        f"scan/{chart['scan'].id}-x-ray.jpg",
    }

    response, body = export(admin_client, f"doctors/{appointment.doctor_id}")
    assert response.status_code == 200
    assert set(zipfile.ZipFile(io.BytesIO(body)).namelist()) == {"manifest.json", "index.html"}


def test_export_of_an_unknown_record_is_404(admin_client):
    assert admin_client.get("/api/patients/0190a1b2-0000-7000-8000-000000000000/export/").status_code == 404


def test_admin_exports_a_patients_record_for_their_request_audited(client, admin, patient, chart):
    admin.is_staff = True
    admin.save()
    client.force_login(admin)

    response = client.post(
        "/admin/patients/patient/", {"action": "export_selected", "_selected_action": [str(patient.pk)]}
    )

    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert len(json.loads(archive.read("manifest.json"))["files"]) == 3
    request = AuditEvent.objects.get(action="export", file_id__isnull=True)
    assert (request.record_id, request.user_id, request.via) == (patient.pk, str(admin.pk), "admin")
