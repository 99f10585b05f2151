"""Versions: a file's content replaced keeps every earlier content, each at a URL that always serves its bytes."""

import hashlib
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from demo import samples
from files.exceptions import FileOnHold, ReplaceNotPermitted
from files.models import AuditEvent, Derivative, File, FileVersion
from files.reconcile import files_reconcile
from files.services import file_delete, file_purge, file_replace, file_restore, legal_hold_set
from tests.factories import FileFactory, UserFactory
from tests.responses import body

REPORTS = [samples.pdf_bytes("Lab report, first"), samples.pdf_bytes("Amended"), samples.pdf_bytes("Amended again")]


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def report(patient, admin):
    return FileFactory(owner=patient, name="report.pdf", content=REPORTS[0], category="report", uploaded_by=admin)


def replace(client, file, content: bytes, name: str = "amended.pdf"):
    return client.put(f"/api/files/{file.id}/content/", {"file": SimpleUploadedFile(name, content)}, format="multipart")


def body_of(client, url: str) -> bytes:
    response = client.get(url)
    assert response.status_code == 200, url
    return body(response)


def test_report_replaced_twice_shows_three_versions_matching_the_uploads(admin_client, report, admin):
    assert replace(admin_client, report, REPORTS[1]).status_code == 200
    body = replace(admin_client, report, REPORTS[2]).json()

    assert body["id"] == str(report.id) and body["version"] == 3
    assert [v["number"] for v in body["versions"]] == [1, 2, 3]
    assert [v["sha256"] for v in body["versions"]] == [hashlib.sha256(c).hexdigest() for c in REPORTS]
    assert [v["size"] for v in body["versions"]] == [len(c) for c in REPORTS]
    assert {v["created_by"] for v in body["versions"]} == {admin.username}
    for version, content in zip(body["versions"], REPORTS, strict=True):
        assert body_of(admin_client, version["url"]) == content
    assert body_of(admin_client, body["url"]) == REPORTS[2]
    assert body["url"] == body["versions"][2]["url"]


def test_old_link_of_version_1_keeps_serving_its_bytes(admin_client, report, anonymous):
    old_url = admin_client.get(f"/api/files/{report.id}/").json()["url"]
    first_etag = anonymous.get(old_url)["ETag"]

    new_url = replace(admin_client, report, REPORTS[1]).json()["url"]

    assert new_url.split("?")[0] != old_url.split("?")[0]
    assert body_of(anonymous, old_url) == REPORTS[0]
    assert body_of(anonymous, new_url) == REPORTS[1]
    assert anonymous.get(new_url)["ETag"] != first_etag == anonymous.get(old_url)["ETag"]
    assert body_of(admin_client, f"/static/{report.path}") == REPORTS[0]  # the seed path is version 1


def test_file_keeps_its_seed_fields_and_mirrors_its_current_version(admin_client, report):
    body = replace(admin_client, report, samples.png_bytes(), name="scan.png").json()

    assert body["type"] == "report" and body["entity_id"] == str(report.entity_id)
    assert body["mime_type"] == ".png" and body["content_type"] == "image/png"
    assert body["url"].split("?")[0].endswith(f"/static/{report.entity_id}/{report.id}.v2.png")
    assert body["versions"][0]["extension"] == ".pdf"


def test_version_url_of_another_file_or_unknown_number_is_404(admin_client, report):
    other = FileFactory()  # another patient's
    replace(admin_client, report, REPORTS[1])

    assert admin_client.get(f"/static/{report.entity_id}/{report.id}.v3.pdf").status_code == 404
    assert admin_client.get(f"/static/{report.entity_id}/{report.id}.v2.png").status_code == 404
    assert admin_client.get(f"/static/{other.entity_id}/{report.id}.v2.pdf").status_code == 404
    assert admin_client.get(f"/static/{report.entity_id}/{other.id}.v2.pdf").status_code == 404
    assert admin_client.get(f"/static/{report.entity_id}/{report.id}.v2.pdf").status_code == 200


def test_replacement_with_a_refused_kind_is_422_and_changes_nothing(admin_client, report, storage):
    response = replace(admin_client, report, b"MZ\x90\x00 not a report", name="x.exe")

    assert response.status_code == 422
    assert File.objects.get(pk=report.pk).version == 1
    assert FileVersion.objects.filter(file=report).count() == 1


def test_replacement_over_the_category_limit_is_413(admin_client, report, settings):
    settings.FILES_MAX_UPLOAD_SIZES = {"report": 100}
    assert replace(admin_client, report, REPORTS[1]).status_code == 413
    assert File.objects.get(pk=report.pk).version == 1


def test_receptionist_who_may_not_delete_may_not_replace_403_audited(client_for, receptionist, report):
    response = replace(client_for(receptionist), report, REPORTS[1])

    assert response.status_code == 403
    assert File.objects.get(pk=report.pk).version == 1
    event = AuditEvent.objects.get(action="replace")
    assert (event.outcome, event.file_id, event.user_id) == ("refused", report.id, str(receptionist.pk))


def test_doctor_replaces_only_files_they_uploaded_as_the_delete_rule(doctor_user, report):
    with pytest.raises(ReplaceNotPermitted):
        file_replace(file=report, upload=SimpleUploadedFile("a.pdf", REPORTS[1]), replaced_by=doctor_user)


def test_held_file_cannot_be_replaced_409(admin_client, report, admin):
    legal_hold_set(target=report, held=True, by=admin)

    assert replace(admin_client, report, REPORTS[1]).status_code == 409
    assert File.objects.get(pk=report.pk).version == 1


def test_file_of_a_held_record_cannot_be_replaced(report, patient, admin):
    legal_hold_set(target=patient, held=True, by=admin)
    with pytest.raises(FileOnHold):
        file_replace(file=report, upload=SimpleUploadedFile("a.pdf", REPORTS[1]), replaced_by=admin)


def test_replacement_is_audited(admin_client, report, admin):
    replace(admin_client, report, REPORTS[1])

    event = AuditEvent.objects.get(action="replace")
    assert (event.outcome, event.file_id, event.user_id, event.detail) == (
        "allowed",
        report.id,
        str(admin.pk),
        "version 2",
    )


def test_derivatives_are_made_again_from_the_new_version(report, admin, commit, settings, storage):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from files.derivatives import file_derivatives_make

    file_derivatives_make(file_id=report.pk)
    old = Derivative.objects.get(file=report, variant="thumbnail")
    with commit():
        file_replace(file=report, upload=SimpleUploadedFile("x.png", samples.png_bytes(300, 200)), replaced_by=admin)

    thumbnail = Derivative.objects.get(file=report, variant="thumbnail")
    assert thumbnail.state == "ready" and thumbnail.storage_name != old.storage_name
    assert not storage.exists(old.storage_name)
    assert File.objects.get(pk=report.pk).width == 300


def test_versions_go_to_the_trash_with_the_file_and_come_back(admin_client, report, admin, storage, commit):
    replace(admin_client, report, REPORTS[1])
    names = list(FileVersion.objects.filter(file=report).values_list("storage_name", flat=True))
    with commit():
        file_delete(file=File.objects.get(pk=report.pk), deleted_by=admin)

    assert not any(storage.exists(name) for name in names)
    assert admin_client.get(f"/static/{report.entity_id}/{report.id}.v2.pdf").status_code == 404
    with commit():
        file_restore(file=File.all_objects.get(pk=report.pk), restored_by=admin)

    assert all(storage.exists(name) for name in names)
    assert body_of(admin_client, f"/static/{report.entity_id}/{report.id}.v2.pdf") == REPORTS[1]


def test_purge_removes_every_version_bytes(admin_client, report, admin, storage, commit):
    replace(admin_client, report, REPORTS[1])
    names = list(FileVersion.objects.filter(file=report).values_list("storage_name", flat=True))
    with commit():
        file_delete(file=File.objects.get(pk=report.pk), deleted_by=admin)
    with commit():
        file_purge(file=File.all_objects.get(pk=report.pk), purged_by=admin)

    assert not FileVersion.objects.filter(file_id=report.pk).exists()
    assert not any(storage.exists(name) or storage.exists(f"trash/{name}") for name in names)


def test_reconciliation_knows_versions_bytes_and_reports_a_missing_one(admin_client, report, storage):
    replace(admin_client, report, REPORTS[1])
    first = FileVersion.objects.get(file=report, number=1)

    clean = files_reconcile(dry_run=True, grace=__import__("datetime").timedelta(0))
    assert clean.orphan_blobs == [] and clean.missing_blobs == []
    storage.delete(first.storage_name)
    assert files_reconcile(dry_run=True).missing_blobs == [f"{report.pk} version 1 ({first.storage_name})"]


def test_files_verify_checks_every_version(admin_client, report, storage):
    replace(admin_client, report, REPORTS[1])
    first = FileVersion.objects.get(file=report, number=1)
    storage.delete(first.storage_name)
    storage.save(first.storage_name, SimpleUploadedFile("x", b"rotten"))

    out = StringIO()
    with pytest.raises(Exception, match="missing or corrupted"):
        call_command("files_verify", stdout=out)
    assert f"corrupted: {report.pk} version 1" in out.getvalue()


def test_every_uploaded_file_has_its_version_1(patient):
    file = FileFactory(owner=patient)
    version = FileVersion.objects.get(file=file)
    assert (version.number, version.storage_name, version.sha256) == (1, file.storage_name, file.sha256)


def test_user_without_view_of_the_file_gets_no_version(client_for, report, admin_client):
    replace(admin_client, report, REPORTS[1])
    stranger = UserFactory()
    response = client_for(stranger).get(f"/static/{report.entity_id}/{report.id}.v2.pdf")
    assert response.status_code == 403


@pytest.fixture
def staff_client(client, admin):
    admin.is_staff = True
    admin.save()
    client.force_login(admin)
    return client


def test_admin_replace_content_makes_a_new_version_under_the_admin(staff_client, report, admin):
    page = f"/admin/files/file/{report.pk}/replace/"
    assert staff_client.get(page).status_code == 200

    response = staff_client.post(page, {"file": SimpleUploadedFile("amended.pdf", REPORTS[1])})

    assert response.status_code == 302
    version = FileVersion.objects.get(file=report, number=2)
    assert (version.sha256, version.created_by) == (hashlib.sha256(REPORTS[1]).hexdigest(), admin)
    assert AuditEvent.objects.get(action="replace").via == "admin"


def test_admin_replace_refuses_a_refused_kind_on_the_form(staff_client, report):
    response = staff_client.post(
        f"/admin/files/file/{report.pk}/replace/", {"file": SimpleUploadedFile("x.exe", b"MZ")}
    )

    assert response.status_code == 200 and b"errorlist" in response.content
    assert File.objects.get(pk=report.pk).version == 1


def test_admin_replace_is_refused_to_staff_who_may_not_delete(client, report):
    client.force_login(UserFactory(role="receptionist", is_staff=True))

    response = client.post(f"/admin/files/file/{report.pk}/replace/", {"file": SimpleUploadedFile("a.pdf", REPORTS[1])})

    assert response.status_code == 403
    assert File.objects.get(pk=report.pk).version == 1


def test_admin_replace_of_an_unknown_id_is_404(staff_client):
    assert staff_client.get("/admin/files/file/not-a-uuid/replace/").status_code == 404
