"""Hostile paths under /static/: always 404, never a byte from outside the files' storage.

Every path goes through both download paths: the WSGI fast path (as gunicorn calls it) and Django's view.
"""

import os

import pytest
from django.test import Client

from files import backends
from files.models import File
from tests.factories import FileFactory
from tests.wsgi import wsgi_request

HOSTILE = [
    "../../../../etc/passwd",
    "%2e%2e/%2e%2e/etc/passwd",
    "%252e%252e/%252e%252e/etc/passwd",
    "..%2f..%2fetc%2fpasswd",
    "{entity}\\..\\{file}.png",
    "{entity}/{file}.png%00.pdf",
    "{entity}/{file}.png\x00",
    "%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
    "/etc/passwd",
    "//etc/passwd",
    "{entity}/./{file}.png",
    "{entity}//{file}.png",
    "{entity}/{file}.png/..",
    "trash/{entity}/{file}.png",
]


@pytest.fixture
def token(admin):
    return admin.auth_token.key


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_path_is_404_on_both_download_paths(png_file, token, hostile):
    path = "/static/" + hostile.format(entity=png_file.entity_id, file=png_file.id)

    fast = wsgi_request(path, headers={"Authorization": f"Token {token}"})
    django = Client().get(path, HTTP_AUTHORIZATION=f"Token {token}")

    assert fast.status == 404, path
    assert django.status_code == 404, path
    assert b"root:" not in fast.body
    assert b"root:" not in django.content


@pytest.mark.parametrize("opener", ["openat2", "folder by folder"])
@pytest.mark.parametrize("link", ["file", "folder"])
def test_link_inside_storage_pointing_out_is_404(on_local_disk, patient, token, storage, link, opener, monkeypatch):
    """Both ways of opening a stored file refuse links: one openat2 where the kernel has it, else one open a level."""
    if opener == "openat2" and not backends._HAS_OPENAT2:
        pytest.skip("this kernel (or its seccomp filter) has no openat2")
    monkeypatch.setattr(backends, "_HAS_OPENAT2", opener == "openat2")
    file = FileFactory(owner=patient)
    target = storage.path(file.storage_name)
    os.remove(target)
    if link == "file":
        os.symlink("/etc/passwd", target)
    else:
        folder = os.path.dirname(target)
        os.rename(folder, folder + ".moved")
        os.symlink("/etc", folder)
        File.objects.filter(pk=file.pk).update(storage_name=f"{file.entity_id}/passwd")

    response = wsgi_request(f"/static/{file.path}", headers={"Authorization": f"Token {token}"})

    assert response.status == 404
    assert b"root:" not in response.body
