"""GET /static/{entity_id}/{file_id}{ext}: the file's bytes, to those allowed to see them."""

import json
import os
import uuid
from wsgiref.util import FileWrapper

import pytest
from django.core.files.base import ContentFile

from demo import samples
from files.download.serving import SMALL_BODY
from tests.factories import FileFactory, UserFactory
from tests.responses import body
from tests.wsgi import wsgi_request


def test_serve_returns_bytes_with_real_content_type_and_length(admin_client, png_file):
    response = admin_client.get(f"/static/{png_file.path}")

    assert response.status_code == 200
    assert body(response) == samples.png_bytes()
    assert response["Content-Type"] == "image/png"
    assert response["Content-Length"] == str(png_file.size)


def test_serve_sets_nosniff_and_inline_disposition_with_original_name(admin_client, png_file):
    response = admin_client.get(f"/static/{png_file.path}")

    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"] == 'inline; filename="photo.png"'


def test_serve_escapes_non_ascii_name_in_disposition(admin_client, patient):
    file = FileFactory(owner=patient, name='Röntgen "links".png')

    response = admin_client.get(f"/static/{file.path}")

    assert response["Content-Disposition"] == (
        "inline; filename=\"Rontgen _links_.png\"; filename*=UTF-8''R%C3%B6ntgen%20%22links%22.png"
    )


@pytest.mark.parametrize(
    ("name", "content", "media_type"),
    [
        ("scan.jpg", samples.jpeg_bytes(), "image/jpeg"),
        ("report.pdf", samples.pdf_bytes(), "application/pdf"),
        ("letter.doc", samples.doc_bytes(), "application/msword"),
        (
            "letter.docx",
            samples.docx_bytes(),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
    ],
)
def test_serve_each_accepted_kind(admin_client, patient, name, content, media_type):
    file = FileFactory(owner=patient, name=name, content=content)

    response = admin_client.get(f"/static/{file.path}")

    assert response.status_code == 200
    assert response["Content-Type"] == media_type
    assert body(response) == content


def test_serve_head_sends_headers_without_body(admin_client, png_file):
    response = admin_client.head(f"/static/{png_file.path}")

    assert response.status_code == 200
    assert response["Content-Length"] == str(png_file.size)


def test_serve_without_credentials_returns_401(anonymous, png_file):
    response = anonymous.get(f"/static/{png_file.path}")

    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated"}
    assert response["WWW-Authenticate"] == "Token"


def test_serve_with_bad_token_returns_401(anonymous, png_file):
    anonymous.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    assert anonymous.get(f"/static/{png_file.path}").status_code == 401


def test_serve_without_view_permission_returns_403(client_for, png_file):
    response = client_for(UserFactory()).get(f"/static/{png_file.path}")

    assert response.status_code == 403
    assert response.json() == {"detail": "Permission denied"}


def test_serve_with_session_login(client, admin, png_file):
    client.force_login(admin)

    assert client.get(f"/static/{png_file.path}").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("{entity}/{file}.pdf", id="wrong extension"),
        pytest.param("{entity}/{file}.PNG", id="upper-case extension"),
        pytest.param("{other}/{file}.png", id="wrong entity"),
        pytest.param("{entity}/{other}.png", id="unknown id"),
        pytest.param("{entity}/{file}", id="no extension"),
        pytest.param("{file}.png", id="no entity"),
        pytest.param("{entity}/{file}.png/", id="trailing slash"),
        pytest.param("{entity}/../{entity}/{file}.png", id="dot-dot"),
        pytest.param("{ENTITY}/{file}.png", id="upper-case uuid"),
        pytest.param("x/{entity}/{file}.png", id="extra prefix"),
        pytest.param("etc/passwd", id="system file"),
    ],
)
def test_serve_any_other_path_returns_404(admin_client, png_file, path):
    url = "/static/" + path.format(
        entity=png_file.entity_id,
        ENTITY=str(png_file.entity_id).upper(),
        file=png_file.id,
        other=uuid.uuid4(),
    )

    response = admin_client.get(url)

    assert response.status_code == 404
    assert response.json() == {"detail": "File not found"}


def test_serve_row_without_bytes_returns_404(admin_client, png_file, storage):
    storage.delete(png_file.storage_name)

    response = admin_client.get(f"/static/{png_file.path}")

    assert response.status_code == 404
    assert response.json() == {"detail": "File not found"}


def test_serve_other_methods_are_not_allowed(admin_client, png_file):
    for method in ("post", "put", "patch", "delete"):
        assert getattr(admin_client, method)(f"/static/{png_file.path}").status_code == 405


def test_serve_get_on_delete_path_is_not_allowed(admin_client, png_file):
    response = admin_client.get(f"/static/delete_file/{png_file.id}")

    assert response.status_code == 405
    assert response["Allow"] == "DELETE, OPTIONS"


# How the bytes leave: a small body read while the request is answered, a bigger one through the server's sendfile.


def token_request(user, url: str, **headers):
    return wsgi_request(url, headers={"Authorization": f"Token {user.auth_token.key}", **headers})


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize(
    ("headers", "status", "part"), [({}, 200, slice(None)), ({"Range": "bytes=5-99"}, 206, slice(5, 100))]
)
def test_a_small_file_is_read_while_answered_and_its_descriptor_closed(admin, patient, headers, status, part):
    content = samples.pdf_bytes()
    file = FileFactory(owner=patient, name="report.pdf", content=content)
    token_request(admin, f"/static/{file.path}")  # the storage folder is opened once, by the first download
    before = open_descriptors()

    response = token_request(admin, f"/static/{file.path}", **headers)

    assert (response.status, response.body, response["Content-Length"]) == (
        status,
        content[part],
        str(len(content[part])),
    )
    assert isinstance(response.iterable, list)  # bytes in hand: no file left for the server to send
    assert open_descriptors() == before


def test_a_file_bigger_than_a_small_body_goes_out_through_the_servers_file_wrapper(admin, patient):
    content = samples.pdf_bytes("x" * SMALL_BODY)
    assert len(content) > SMALL_BODY
    file = FileFactory(owner=patient, name="report.pdf", content=content)

    response = token_request(admin, f"/static/{file.path}")

    assert (response.status, response.body) == (200, content)
    assert isinstance(response.iterable, FileWrapper)


def test_a_file_whose_stored_bytes_were_cut_short_returns_404_not_a_short_body(fetch, admin, patient, storage):
    content = samples.pdf_bytes()
    file = FileFactory(owner=patient, name="report.pdf", content=content)
    storage.delete(file.storage_name)
    assert storage.save(file.storage_name, ContentFile(content[:100])) == file.storage_name  # behind the service's back

    answer = fetch(f"/static/{file.path}", token=admin.auth_token.key)

    assert (answer.status, json.loads(answer.body)) == (404, {"detail": "File not found"})
