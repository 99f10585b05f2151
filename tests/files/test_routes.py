"""The files app works wherever a project mounts it: every URL it builds or recognises is reversed."""

import pytest
from django.test import override_settings

from files.routes import delete_prefix, download_prefix
from tests.wsgi import wsgi_request

MOUNTED = "tests.files.mounted_elsewhere"


def test_prefixes_at_the_root_are_the_seeds():
    assert download_prefix() == "/static/"
    assert delete_prefix() == "/static/delete_file/"


@override_settings(ROOT_URLCONF=MOUNTED)
def test_prefixes_follow_the_projects_include():
    assert download_prefix() == "/clinic-a/static/"
    assert delete_prefix() == "/clinic-a/static/delete_file/"


@pytest.mark.django_db
@override_settings(ROOT_URLCONF=MOUNTED)
def test_a_file_url_built_under_another_mount_is_served_by_the_fast_path(admin_client, png_file, storage):
    url = admin_client.get(f"/clinic-a/api/files/{png_file.id}/").json()["url"]
    assert "/clinic-a/static/" in url

    response = wsgi_request(url)

    assert response.status == 200
    assert response.body == storage.open(png_file.storage_name).read()


@pytest.mark.django_db
@override_settings(ROOT_URLCONF=MOUNTED)
def test_the_old_prefix_serves_nothing_once_the_app_is_mounted_elsewhere(admin, png_file):
    response = wsgi_request(f"/static/{png_file.path}", headers={"Authorization": f"Token {admin.auth_token.key}"})
    assert response.status == 404
