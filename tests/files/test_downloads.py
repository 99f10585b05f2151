"""GET /static/...: signed URLs, tokens and sessions, and HTTP semantics, on both download paths.

Every test runs twice: through the WSGI fast path in front of Django
(``clinic.wsgi.application``, as gunicorn calls it) and through Django's
own view (the test client), which must answer the same.
"""

import hashlib
import threading
import time
import types
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.test import Client

from demo import samples
from files import audit, conf, signing
from files.api.serializers import file_url
from files.download import access, serving
from files.download.serving import StreamServer
from files.services import file_delete
from tests.factories import AppointmentFactory, DoctorFactory, FileFactory, UserFactory
from tests.wsgi import wsgi_request

PDF = samples.pdf_bytes("Discharge summary " * 40)


@pytest.fixture
def pdf_file(patient):
    return FileFactory(owner=patient, name="summary.pdf", content=PDF)


@pytest.fixture
def token(admin):
    return admin.auth_token.key


def signed_url(file, user, now=None) -> str:
    """A signed URL of ``file``, issued to ``user`` (as the API issues one: to a user who may view it)."""
    query = signing.sign(
        file_id=str(file.id), entity_id=str(file.entity_id), extension=file.extension, issued_to=str(user.pk), now=now
    )
    return f"/static/{file.path}?{query}"


def bare(file) -> str:
    return f"/static/{file.path}"


# Signed URLs


def test_signed_url_opens_without_credentials(fetch, pdf_file, admin):
    answer = fetch(signed_url(pdf_file, admin))

    assert answer.status == 200
    assert answer.body == PDF
    assert answer["Content-Type"] == "application/pdf"
    assert answer["Content-Length"] == str(len(PDF))


def test_url_in_the_file_object_opens_without_credentials(fetch, pdf_file, rf, admin):
    request = rf.get("/")
    request.user = admin
    url = urlsplit(file_url(pdf_file, request))

    assert fetch(f"{url.path}?{url.query}").body == PDF


def test_signed_response_is_cacheable_for_no_longer_than_the_signature_lives(fetch, pdf_file, settings, admin):
    settings.FILES_URL_LIFETIME = 300
    url = signed_url(pdf_file, admin)
    remaining = int(parse_qs(urlsplit(url).query)["expires"][0]) - time.time()

    cache_control = fetch(url)["Cache-Control"]

    assert cache_control.startswith("private, max-age=")
    assert 0 < int(cache_control.split("=")[1]) <= remaining


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda url: url.replace("signature=", "signature=0"), id="signature"),
        pytest.param(lambda url: url.replace("expires=", "expires=9"), id="expiry"),
        pytest.param(lambda url: url.replace(".pdf?", ".png?"), id="extension"),
    ],
)
def test_tampered_signed_url_returns_403(fetch, pdf_file, tamper, admin):
    answer = fetch(tamper(signed_url(pdf_file, admin)))

    assert answer.status == 403
    assert answer.body == b'{"detail": "Invalid file URL signature"}'


def test_signature_of_another_file_returns_403(fetch, pdf_file, patient, admin):
    other = FileFactory(owner=patient, name="other.pdf", content=PDF)
    query = urlsplit(signed_url(other, admin)).query

    assert fetch(f"{bare(pdf_file)}?{query}").status == 403


def test_expired_signed_url_returns_403(fetch, pdf_file, admin):
    answer = fetch(signed_url(pdf_file, admin, now=time.time() - 3600))

    assert answer.status == 403
    assert answer.body == b'{"detail": "File URL has expired"}'


def test_signed_url_after_delete_returns_404_at_once(fetch, pdf_file, django_capture_on_commit_callbacks, admin):
    url = signed_url(pdf_file, admin)
    assert fetch(url).status == 200  # its metadata is now cached

    with django_capture_on_commit_callbacks(execute=True):
        file_delete(file=pdf_file)

    assert fetch(url).status == 404


@pytest.fixture
def audit_events(monkeypatch) -> list[tuple]:
    """Download events, collected instead of written (production writes them in batches, off the request)."""
    collected: list[tuple] = []
    monkeypatch.setattr(audit._batch, "add", collected.append)
    return collected


def test_a_warm_signed_download_asks_the_database_nothing(
    fetch, pdf_file, admin, audit_events, django_assert_num_queries, auth_clock
):
    """Within one window of the caches' clock (stopped here: a real one may cross a window's end between the two)."""
    url = signed_url(pdf_file, admin)
    fetch(url)

    with django_assert_num_queries(0):
        assert fetch(url).status == 200
    assert len(audit_events) == 2


def before_and_after_the_auth_cache_time(fetch, url: str, clock) -> tuple[int, int]:
    """The status of ``url`` 9 s and 10.5 s after the caches were filled (at 1000 s), a change made in between."""
    clock.now = 1009.0
    still_cached = fetch(url).status
    clock.now = 1010.5
    return still_cached, fetch(url).status


def test_signed_url_of_a_deactivated_user_stops_within_the_auth_cache_time(fetch, pdf_file, auth_clock):
    user = UserFactory(role="receptionist")
    url = signed_url(pdf_file, user)
    assert fetch(url).status == 200

    user.is_active = False
    user.save()

    assert before_and_after_the_auth_cache_time(fetch, url, auth_clock) == (200, 403)


def test_signed_url_of_a_user_who_lost_their_role_stops_within_the_auth_cache_time(fetch, pdf_file, auth_clock):
    user = UserFactory(role="receptionist")
    url = signed_url(pdf_file, user)
    assert fetch(url).status == 200

    user.groups.clear()

    assert before_and_after_the_auth_cache_time(fetch, url, auth_clock) == (200, 403)


def test_signed_url_of_a_doctor_who_no_longer_reaches_the_record_stops_within_the_auth_cache_time(
    fetch, pdf_file, patient, doctor_user, auth_clock
):
    appointment = AppointmentFactory(patient=patient, doctor=DoctorFactory(user=doctor_user))
    url = signed_url(pdf_file, doctor_user)
    assert fetch(url).status == 200

    appointment.delete()

    assert before_and_after_the_auth_cache_time(fetch, url, auth_clock) == (200, 403)


def test_a_signed_url_that_expires_while_its_download_is_remembered_returns_403(
    fetch, pdf_file, admin, auth_clock, monkeypatch
):
    url = signed_url(pdf_file, admin)
    expiry = int(parse_qs(urlsplit(url).query)["expires"][0])
    monkeypatch.setattr(signing, "time", types.SimpleNamespace(time=lambda: expiry - 1))
    assert fetch(url).status == 200

    monkeypatch.setattr(signing, "time", types.SimpleNamespace(time=lambda: expiry))
    answer = fetch(url)

    assert (answer.status, answer.body) == (403, b'{"detail": "File URL has expired"}')


def test_a_remembered_download_ends_with_the_answers_it_was_decided_from(fetch, pdf_file, auth_clock):
    """The user was checked at 1000 s; the download remembered at 1009 s still ends with that check, at 1010 s."""
    user = UserFactory(role="receptionist")
    assert fetch(bare(pdf_file), token=user.auth_token.key).status == 200  # the user is checked and remembered
    auth_clock.now = 1009.0
    url = signed_url(pdf_file, user)
    assert fetch(url).status == 200  # a new URL: its download decided now, from the user remembered at 1000 s

    user.is_active = False
    user.save()
    auth_clock.now = 1010.5

    assert fetch(url).status == 403


def test_padded_credentials_are_served_but_not_remembered(fetch, pdf_file, admin, token):
    """One user's variants of their own URL or header must not each take a cache entry of the request's size."""
    long_query = signed_url(pdf_file, admin) + "&padding=" + "x" * 300
    long_header = f"Token{' ' * 300}{token}"

    answers = [fetch(long_query), fetch(bare(pdf_file), Authorization=long_header)]

    assert [answer.status for answer in answers] == [200, 200]
    assert not access._grants._entries


def test_another_token_on_the_same_file_is_decided_for_itself(fetch, pdf_file, token):
    assert fetch(bare(pdf_file), token=token).status == 200

    answer = fetch(bare(pdf_file), token=UserFactory().auth_token.key)

    assert (answer.status, answer.body) == (403, b'{"detail": "Permission denied"}')


def test_a_session_download_is_decided_for_its_own_user_whatever_other_header_it_carries(pdf_file, admin):
    """Only a token header names the user; a session's downloads are never remembered by a header."""
    allowed, refused = Client(HTTP_AUTHORIZATION="Basic c2FtZTpzYW1l"), Client(HTTP_AUTHORIZATION="Basic c2FtZTpzYW1l")
    allowed.force_login(admin)
    refused.force_login(UserFactory())

    assert allowed.get(bare(pdf_file)).status_code == 200
    assert refused.get(bare(pdf_file)).status_code == 403


def test_signed_url_of_a_deleted_user_returns_403(fetch, pdf_file):
    user = UserFactory(role="receptionist")
    url = signed_url(pdf_file, user)
    user.delete()

    answer = fetch(url)

    assert (answer.status, answer.body) == (403, b'{"detail": "Permission denied"}')


def test_signed_url_issued_to_a_user_who_never_could_view_the_file_returns_403(fetch, pdf_file):
    answer = fetch(signed_url(pdf_file, UserFactory()))

    assert (answer.status, answer.body) == (403, b'{"detail": "Permission denied"}')


# Hosts


@pytest.mark.parametrize("host", ["evil.example", "localhost.evil.example", "", "bad host"])
def test_host_outside_allowed_hosts_returns_400_for_a_signed_url(fetch, pdf_file, admin, host):
    answer = fetch(signed_url(pdf_file, admin), Host=host)

    assert (answer.status, answer.body) == (400, b'{"detail": "Bad request"}')


def test_host_outside_allowed_hosts_returns_400_for_a_token(fetch, pdf_file, token):
    answer = fetch(bare(pdf_file), token=token, Host="evil.example")

    assert (answer.status, answer.body) == (400, b'{"detail": "Bad request"}')


def test_forwarded_host_is_checked_when_it_is_trusted(fetch, pdf_file, admin, settings):
    settings.USE_X_FORWARDED_HOST = True
    url = signed_url(pdf_file, admin)

    refused = fetch(url, Host="localhost", **{"X-Forwarded-Host": "evil.example"})
    allowed = fetch(url, Host="evil.example", **{"X-Forwarded-Host": "localhost:8443"})

    assert (refused.status, allowed.status) == (400, 200)


def test_allowed_host_with_a_port_is_served(fetch, pdf_file, admin):
    assert fetch(signed_url(pdf_file, admin), Host="localhost:8000").status == 200


# Tokens and sessions


def test_no_credentials_and_no_signature_returns_401(fetch, pdf_file):
    answer = fetch(bare(pdf_file))

    assert answer.status == 401
    assert answer.body == b'{"detail": "Not authenticated"}'
    assert answer["WWW-Authenticate"] == "Token"


def test_token_download_is_revalidated_every_time(fetch, pdf_file, token):
    answer = fetch(bare(pdf_file), token=token)

    assert answer.status == 200
    assert answer["Cache-Control"] == "private, no-cache"


@pytest.mark.parametrize("header", ["Token", "Token ", "Token a b"])
def test_malformed_token_header_returns_401(fetch, pdf_file, header):
    assert fetch(bare(pdf_file), Authorization=header).status == 401


def test_unknown_token_returns_401(fetch, pdf_file):
    answer = fetch(bare(pdf_file), token="f" * 40)

    assert answer.status == 401
    assert answer.body == b'{"detail": "Invalid token."}'


def test_token_without_view_permission_returns_403(fetch, pdf_file):
    answer = fetch(bare(pdf_file), token=UserFactory().auth_token.key)

    assert answer.status == 403
    assert answer.body == b'{"detail": "Permission denied"}'


def test_a_warm_token_download_asks_the_database_nothing(
    fetch, pdf_file, token, audit_events, django_assert_num_queries, auth_clock
):
    """Within one window of the caches' clock (stopped here: a real one may cross a window's end between the two)."""
    fetch(bare(pdf_file), token=token)

    with django_assert_num_queries(0):
        assert fetch(bare(pdf_file), token=token).status == 200
    assert len(audit_events) == 2


def test_deleted_token_is_refused_at_once(fetch, pdf_file, admin, token):
    assert fetch(bare(pdf_file), token=token).status == 200

    admin.auth_token.delete()

    assert fetch(bare(pdf_file), token=token).status == 401


# serialized_rollback: a transactional test flushes the tables, the role groups of the data migration with them.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="reading on a second connection during a write needs PostgreSQL"
)
def test_deleted_token_is_refused_at_once_after_another_request_read_it_before_the_commit(fetch, pdf_file, admin):
    token = admin.auth_token.key
    statuses = []

    def download_in_another_request():
        try:
            statuses.append(fetch(bare(pdf_file), token=token).status)
        finally:
            connection.close()

    with transaction.atomic():
        admin.auth_token.delete()
        # Another thread's request, on its own connection, still reads the token: the deletion has not committed.
        other = threading.Thread(target=download_in_another_request)
        other.start()
        other.join()

    assert statuses == [200]
    assert fetch(bare(pdf_file), token=token).status == 401


def test_withdrawn_permission_is_honoured_within_the_auth_cache_time(fetch, pdf_file, auth_clock):
    user = UserFactory(role="receptionist")
    assert fetch(bare(pdf_file), token=user.auth_token.key).status == 200

    user.groups.remove(Group.objects.get(name="receptionist"))
    auth_clock.now = 1009.0
    still_cached = fetch(bare(pdf_file), token=user.auth_token.key).status
    auth_clock.now = 1010.5
    after_expiry = fetch(bare(pdf_file), token=user.auth_token.key).status

    assert (still_cached, after_expiry) == (200, 403)


def test_session_login_downloads_through_django(pdf_file, admin, client):
    client.force_login(admin)
    cookie = f"sessionid={client.cookies['sessionid'].value}"

    response = wsgi_request(bare(pdf_file), headers={"Cookie": cookie})

    assert response.status == 200
    assert response.body == PDF


# HTTP semantics


def test_etag_is_the_sha256_and_last_modified_is_set(fetch, pdf_file, token):
    answer = fetch(bare(pdf_file), token=token)

    assert answer["ETag"] == f'"{hashlib.sha256(PDF).hexdigest()}"'
    assert answer["Last-Modified"].endswith(" GMT")
    assert answer["Accept-Ranges"] == "bytes"


@pytest.mark.parametrize("if_none_match", ["{etag}", "W/{etag}", '"other", {etag}', "*"])
def test_if_none_match_returns_304_without_content_type(fetch, pdf_file, token, if_none_match):
    etag = f'"{pdf_file.sha256}"'

    answer = fetch(bare(pdf_file), token=token, **{"If-None-Match": if_none_match.format(etag=etag)})

    assert answer.status == 304
    assert answer.body == b""
    assert "Content-Type" not in answer.headers
    assert answer["ETag"] == etag


def test_if_modified_since_returns_304_unless_if_none_match_is_present(fetch, pdf_file, token):
    last_modified = fetch(bare(pdf_file), token=token)["Last-Modified"]

    unchanged = fetch(bare(pdf_file), token=token, **{"If-Modified-Since": last_modified})
    other_tag = fetch(bare(pdf_file), token=token, **{"If-Modified-Since": last_modified, "If-None-Match": '"x"'})

    assert (unchanged.status, other_tag.status) == (304, 200)


def test_failed_if_match_returns_412(fetch, pdf_file, token):
    assert fetch(bare(pdf_file), token=token, **{"If-Match": '"not-it"'}).status == 412


def test_failed_if_unmodified_since_returns_412(fetch, pdf_file, token):
    answer = fetch(bare(pdf_file), token=token, **{"If-Unmodified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"})

    assert answer.status == 412


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [("bytes=0-99", 0, 99), ("bytes=100-", 100, len(PDF) - 1), ("bytes=-50", len(PDF) - 50, len(PDF) - 1)],
)
def test_single_range_returns_206_with_those_bytes(fetch, pdf_file, token, header, first, last):
    answer = fetch(bare(pdf_file), token=token, Range=header)

    assert answer.status == 206
    assert answer.body == PDF[first : last + 1]
    assert answer["Content-Range"] == f"bytes {first}-{last}/{len(PDF)}"
    assert answer["Content-Length"] == str(last - first + 1)


def test_several_ranges_return_multipart_byteranges(fetch, pdf_file, token):
    answer = fetch(bare(pdf_file), token=token, Range="bytes=200-209, 0-9")

    assert answer.status == 206
    assert answer["Content-Type"].startswith("multipart/byteranges; boundary=")
    assert answer["Content-Length"] == str(len(answer.body))
    boundary = answer["Content-Type"].split("boundary=")[1].encode()
    parts = [part for part in answer.body.split(b"--" + boundary) if b"Content-Range" in part]
    assert [part.split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n") for part in parts] == [PDF[0:10], PDF[200:210]]


def test_unsatisfiable_range_returns_416(fetch, pdf_file, token):
    answer = fetch(bare(pdf_file), token=token, Range=f"bytes={len(PDF)}-")

    assert answer.status == 416
    assert answer["Content-Range"] == f"bytes */{len(PDF)}"


@pytest.mark.parametrize("header", ["bytes=9-1", "items=0-1", "bytes=abc", ",".join(["bytes=0-0"] + ["1-1"] * 100)])
def test_unusable_range_header_returns_the_whole_file(fetch, pdf_file, token, header):
    answer = fetch(bare(pdf_file), token=token, Range=header)

    assert (answer.status, answer.body) == (200, PDF)


def test_if_range_with_current_etag_honours_the_range(fetch, pdf_file, token):
    answer = fetch(bare(pdf_file), token=token, Range="bytes=0-9", **{"If-Range": f'"{pdf_file.sha256}"'})

    assert (answer.status, answer.body) == (206, PDF[:10])


def test_if_range_with_another_validator_returns_the_whole_file(fetch, pdf_file, token):
    answer = fetch(bare(pdf_file), token=token, Range="bytes=0-9", **{"If-Range": '"an-older-version"'})

    assert (answer.status, answer.body) == (200, PDF)


def test_head_sends_headers_without_the_body(fetch, pdf_file, token):
    answer = fetch(bare(pdf_file), token=token, method="HEAD")

    assert answer.status == 200
    assert answer.body == b""
    assert answer["Content-Length"] == str(len(PDF))


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_other_methods_return_405(fetch, pdf_file, token, method):
    answer = fetch(bare(pdf_file), token=token, method=method)

    assert answer.status == 405
    assert answer["Allow"] == "GET, HEAD"


def test_download_parameter_makes_an_attachment(fetch, pdf_file, admin):
    answer = fetch(signed_url(pdf_file, admin) + "&download=1")

    assert answer["Content-Disposition"] == 'attachment; filename="summary.pdf"'


def test_word_documents_are_always_attachments(fetch, patient, token):
    file = FileFactory(owner=patient, name="letter.docx", content=samples.docx_bytes())

    assert fetch(bare(file), token=token)["Content-Disposition"].startswith("attachment;")


def test_images_and_errors_carry_nosniff_and_a_sandboxing_csp(fetch, patient, token):
    photo = FileFactory(owner=patient, name="photo.png")

    for answer in (fetch(bare(photo), token=token), fetch(f"/static/{patient.pk}/{patient.pk}.png", token=token)):
        assert answer["X-Content-Type-Options"] == "nosniff"
        assert answer["Content-Security-Policy"].startswith("default-src 'none';")
        assert answer["Content-Security-Policy"].endswith("; sandbox")


def test_pdfs_carry_nosniff_and_a_csp_chromes_pdf_viewer_can_work_with(fetch, pdf_file, token):
    # Chrome's PDF viewer is a plugin: a CSP sandbox or object-src 'none' would leave the page blank.
    answer = fetch(bare(pdf_file), token=token)

    assert answer["X-Content-Type-Options"] == "nosniff"
    assert answer["Content-Security-Policy"] == "script-src 'none'"


# Serving modes


def test_accel_mode_hands_the_transfer_to_nginx(fetch, on_local_disk, pdf_file, token, settings):
    # On S3 the target is a presigned path instead (tests/files/test_s3.py).
    settings.FILES_SERVE_MODE = "accel"

    answer = fetch(bare(pdf_file), token=token)

    assert answer.status == 200
    assert answer.body == b""
    assert answer["X-Accel-Redirect"] == f"/_protected_files/{pdf_file.storage_name}"
    assert answer["Content-Length"] == "0"  # not chunked: nginx keeps its connection to the app (test_serving_modes)
    assert answer["Content-Type"] == "application/pdf"
    assert answer["ETag"] == f'"{pdf_file.sha256}"'


def test_accel_mode_still_answers_conditionals_itself(fetch, pdf_file, token, settings):
    settings.FILES_SERVE_MODE = "accel"

    answer = fetch(bare(pdf_file), token=token, **{"If-None-Match": f'"{pdf_file.sha256}"'})

    assert answer.status == 304
    assert "X-Accel-Redirect" not in answer.headers


def test_accel_mode_streams_itself_when_nginx_would_misjudge_if_match(fetch, pdf_file, token, settings):
    settings.FILES_SERVE_MODE = "accel"

    answer = fetch(bare(pdf_file), token=token, **{"If-Match": f'"{pdf_file.sha256}"'})

    assert (answer.status, answer.body) == (200, PDF)
    assert "X-Accel-Redirect" not in answer.headers


def test_accel_mode_answers_an_unsatisfiable_range_itself(fetch, pdf_file, token, settings):
    settings.FILES_SERVE_MODE = "accel"

    answer = fetch(bare(pdf_file), token=token, Range=f"bytes={len(PDF)}-")

    assert answer.status == 416
    assert answer["Content-Range"] == f"bytes */{len(PDF)}"


class WatermarkServer(StreamServer):
    """A project's own serving mode: one class, named by its path in FILES_SERVE_MODE."""

    def send(self, meta, blob, storage, environ, headers):
        answer = super().send(meta, blob, storage, environ, headers)
        answer.headers.append(("X-Served-By", "watermark"))
        return answer


def test_a_new_serving_mode_is_one_class_named_by_its_path(fetch, pdf_file, token, settings):
    settings.FILES_SERVE_MODE = f"{__name__}.WatermarkServer"

    answer = fetch(bare(pdf_file), token=token)

    assert (answer.status, answer.body, answer["X-Served-By"]) == (200, PDF, "watermark")


def test_an_unknown_serving_mode_is_a_configuration_error_naming_the_modes(settings):
    settings.FILES_SERVE_MODE = "teleport"

    with pytest.raises(ImproperlyConfigured, match="stream, accel, redirect"):
        conf.server()


def test_redirect_mode_on_a_storage_that_cannot_presign_is_a_configuration_error(on_local_disk, pdf_file, settings):
    settings.FILES_SERVE_MODE = "redirect"

    with pytest.raises(ImproperlyConfigured, match="presigns"):
        serving.reply(serving.FileMeta.of(pdf_file), {"REQUEST_METHOD": "GET"}, max_age=None)
