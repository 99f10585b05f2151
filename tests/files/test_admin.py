"""The Django admin deletes files through the same service as the API."""

import pytest
from django.contrib.auth.models import Permission

from files.models import File
from tests.factories import FileFactory, UserFactory


@pytest.fixture
def staff_client(client, admin):
    admin.is_staff = True
    admin.save()
    client.force_login(admin)
    return client


def test_changelist_lists_files(staff_client, png_file):
    response = staff_client.get("/admin/files/file/")

    assert response.status_code == 200
    assert png_file.name in response.content.decode()


def test_change_page_shows_checksum_read_only(staff_client, png_file):
    response = staff_client.get(f"/admin/files/file/{png_file.pk}/change/")

    assert response.status_code == 200
    assert png_file.sha256 in response.content.decode()
    assert 'name="sha256"' not in response.content.decode()


def test_admin_delete_removes_row_and_bytes(staff_client, png_file, storage, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(f"/admin/files/file/{png_file.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not File.objects.filter(pk=png_file.pk).exists()
    assert not storage.exists(png_file.storage_name)


def test_admin_bulk_delete_goes_through_the_service(staff_client, patient, storage, django_capture_on_commit_callbacks):
    files = [FileFactory(owner=patient) for _ in range(3)]

    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(
            "/admin/files/file/",
            {"action": "delete_selected", "_selected_action": [str(f.pk) for f in files], "post": "yes"},
        )

    assert not File.objects.exists()
    assert not any(storage.exists(f.storage_name) for f in files)


def test_admin_without_delete_permission_cannot_delete(client, png_file):
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_file"))
    client.force_login(viewer)

    response = client.post(f"/admin/files/file/{png_file.pk}/delete/", {"post": "yes"})

    assert response.status_code == 403
    assert File.objects.filter(pk=png_file.pk).exists()


def test_patient_admin_shows_its_files(staff_client, png_file):
    response = staff_client.get(f"/admin/patients/patient/{png_file.entity_id}/change/")

    assert response.status_code == 200
    assert png_file.name in response.content.decode()
