"""DELETE /static/delete_file/{file_id}: the seed's contract, byte for byte."""

import uuid

import pytest
from django.contrib.auth.models import Permission

from files.models import File
from tests.factories import FileFactory, UserFactory


@pytest.fixture
def delete(django_capture_on_commit_callbacks):
    """``delete(client, file_id)``: send the DELETE and run what waits for the commit."""

    def send(client, file_id):
        with django_capture_on_commit_callbacks(execute=True):
            return client.delete(f"/static/delete_file/{file_id}")

    return send


def test_delete_returns_200_with_the_seed_body(admin_client, png_file, delete):
    response = delete(admin_client, png_file.id)

    assert response.status_code == 200
    assert response.content == b'"File deleted successfully"'
    assert response["Content-Type"] == "application/json"


def test_delete_removes_row_and_bytes(admin_client, png_file, storage, delete):
    delete(admin_client, png_file.id)

    assert not File.objects.filter(pk=png_file.pk).exists()
    assert not storage.exists(png_file.storage_name)


def test_deleted_file_url_returns_404(admin_client, png_file, delete):
    delete(admin_client, png_file.id)

    response = admin_client.get(f"/static/{png_file.path}")

    assert response.status_code == 404
    assert response.json() == {"detail": "File not found"}


def test_delete_twice_returns_404_the_second_time(admin_client, png_file, delete):
    delete(admin_client, png_file.id)

    response = delete(admin_client, png_file.id)

    assert response.status_code == 404
    assert response.json() == {"detail": "File not found"}


def test_delete_unknown_id_returns_404(admin_client, db, delete):
    response = delete(admin_client, uuid.uuid4())

    assert response.status_code == 404
    assert response.json() == {"detail": "File not found"}


@pytest.mark.parametrize("file_id", ["abc", "123", "019ec9e8-d2b4-77ff-be43", "019ec9e8-d2b4-77ff-be43-525f928a5de3x"])
def test_delete_non_uuid_id_returns_422_with_the_seed_body(admin_client, db, delete, file_id):
    response = delete(admin_client, file_id)

    assert response.status_code == 422
    assert response.content == (
        b'{"detail":[{"loc":["path","file_id"],"msg":"Input should be a valid UUID","type":"uuid_parsing"}]}'
    )


def test_delete_without_credentials_returns_401(anonymous, png_file, storage, delete):
    response = delete(anonymous, png_file.id)

    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated"}
    assert File.objects.filter(pk=png_file.pk).exists()


def test_delete_without_permission_returns_403_and_keeps_the_file(client_for, png_file, storage, delete):
    receptionist = UserFactory(role="receptionist")  # may view and add files, not delete them

    response = delete(client_for(receptionist), png_file.id)

    assert response.status_code == 403
    assert response.json() == {"detail": "Permission denied"}
    assert File.objects.filter(pk=png_file.pk).exists()
    assert storage.exists(png_file.storage_name)


def test_delete_without_view_permission_on_owner_returns_403(client_for, png_file, delete):
    user = UserFactory()
    user.user_permissions.add(*_permissions("files.delete_file", "files.view_file"))

    response = delete(client_for(user), png_file.id)

    assert response.status_code == 403
    assert File.objects.filter(pk=png_file.pk).exists()


def test_delete_leaves_other_files_alone(admin_client, png_file, storage, delete):
    other = FileFactory(owner=png_file.entity)

    delete(admin_client, png_file.id)

    assert File.objects.filter(pk=other.pk).exists()
    assert storage.exists(other.storage_name)


def _permissions(*labels):
    for label in labels:
        app_label, codename = label.split(".")
        yield Permission.objects.get(content_type__app_label=app_label, codename=codename)
