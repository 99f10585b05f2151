"""Every serving mode answers alike: accel mode behind the shipped nginx gives stream mode's very answers.

Two real stacks run side by side, each a real gunicorn (gunicorn.conf.py)
behind a real nginx with a shipped site config, against the test database and
the same stored file: one app in stream mode, the other in accel mode. The
same requests (whole file, ranges good and bad, conditionals, errors) go to
both, and their status, headers and body must be the same, apart from what
differs between any two answers (Date, the request's id, a multipart
boundary). On local disk nginx runs deploy/nginx.conf; on S3 (moto's server)
deploy/nginx.s3.conf, fetching the presigned URL the app hands it.
"""

import hashlib
import http.client
import os
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from django.utils.http import http_date

from demo import samples
from files import signing
from files.api.exports import export_link
from files.export import export_build, export_request
from tests.conftest import s3_backend
from tests.factories import FileFactory, PatientFactory, UserFactory
from tests.nginx import nginx_binary, shipped_config, shipped_site, write_main_conf
from tests.servers import GUNICORN_COMMAND, connections_to, free_port, gunicorn_env, running

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

CONTENT = samples.pdf_bytes("Radiology report " * 400)
SIZE = len(CONTENT)
# What differs between any two answers, whoever sends them.
UNCOMPARED = {"date", "server", "connection", "keep-alive", "x-request-id"}


@dataclass(frozen=True)
class Stack:
    port: int  # nginx's
    log: Path  # nginx's access log (its stdout)
    app_port: int  # gunicorn's, behind nginx


@contextmanager
def app_behind_nginx(
    tmp_path: Path, *, name: str, database_url: str, app_env: dict[str, str], site: "SiteMaker"
) -> Iterator[Stack]:
    """A gunicorn with ``app_env`` and an nginx with the site ``site`` makes for it."""
    folder = tmp_path / name
    folder.mkdir()
    app_port, port = free_port(), free_port()
    env = gunicorn_env(port=app_port, database_url=database_url, **app_env)
    prefix = folder / "nginx"
    prefix.mkdir()
    (prefix / "site.conf").write_text(site(app_port=app_port, port=port, prefix=prefix))
    main = write_main_conf(prefix, serve=True)
    nginx = [nginx_binary(), "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(main)]
    with ExitStack() as stack:
        stack.enter_context(running(GUNICORN_COMMAND, env=env, log=folder / "gunicorn.log", port=app_port))
        stack.enter_context(running(nginx, env=dict(os.environ), log=prefix / "stdout.log", port=port))
        yield Stack(port, prefix / "stdout.log", app_port)


class SiteMaker:
    """``site(app_port=, port=, prefix=)``: a shipped site config with what differs on this machine replaced."""

    def __call__(self, *, app_port: int, port: int, prefix: Path) -> str:
        raise NotImplementedError


class LocalSite(SiteMaker):
    def __init__(self, files_root: Path) -> None:
        self.files_root = files_root

    def __call__(self, *, app_port, port, prefix):
        return shipped_site(app_port=app_port, port=port, files_root=self.files_root, body_temp=prefix / "body")


class S3Site(SiteMaker):
    def __init__(self, store: str) -> None:
        self.store = store  # host:port of the S3 server

    def __call__(self, *, app_port, port, prefix):
        return shipped_config(
            "nginx.s3.conf",
            {
                "server app:8000;": f"server 127.0.0.1:{app_port};",
                "server minio:9000;": f"server {self.store};",
                "proxy_set_header Host minio:9000;": f"proxy_set_header Host {self.store};",
                "listen 80;": f"listen 127.0.0.1:{port};",
                "client_body_temp_path /var/cache/nginx/client_temp;": f"client_body_temp_path {prefix}/body;",
            },
        )


@dataclass
class Setup:
    """Where the two apps keep files and how nginx reaches them."""

    app_env: dict[str, str]
    site: SiteMaker


@pytest.fixture
def local_setup(settings, on_local_disk) -> Setup:
    root = Path(settings.STORAGES["default"]["OPTIONS"]["location"])
    return Setup({"FILES_BACKEND": "local", "FILES_ROOT": str(root)}, LocalSite(root))


@pytest.fixture
def s3_setup(settings, s3_endpoint) -> Setup:
    """A bucket of this test's own, at whose root both the test and the apps keep files."""
    bucket = f"modes-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3", endpoint_url=s3_endpoint, aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    ).create_bucket(Bucket=bucket)
    backend = s3_backend(s3_endpoint)
    backend["OPTIONS"] = {**backend["OPTIONS"], "bucket_name": bucket, "location": ""}
    settings.STORAGES = {**settings.STORAGES, "default": backend}
    app_env = {
        "FILES_BACKEND": "s3",
        "AWS_STORAGE_BUCKET_NAME": bucket,
        "AWS_S3_ENDPOINT_URL": s3_endpoint,
        "AWS_S3_REGION_NAME": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_S3_ADDRESSING_STYLE": "path",
    }
    return Setup(app_env, S3Site(s3_endpoint.removeprefix("http://")))


@pytest.fixture
def stacks(tmp_path, database_url, request) -> Iterator[dict[str, Stack]]:
    """The stream-mode and the accel-mode stack on ``request.param``'s setup (a fixture's name)."""
    setup: Setup = request.getfixturevalue(request.param)
    common = {**setup.app_env, "FILES_CLIENT_ADDRESS_HEADER": "HTTP_X_REAL_IP"}
    with ExitStack() as stack:
        yield {
            mode: stack.enter_context(
                app_behind_nginx(
                    tmp_path,
                    name=mode,
                    database_url=database_url,
                    app_env={**common, "FILES_SERVE_MODE": mode},
                    site=setup.site,
                )
            )
            for mode in ("stream", "accel")
        }


@dataclass(frozen=True)
class Answer:
    status: int
    headers: tuple[tuple[str, str], ...]  # sorted, names in lower case: a header sent twice shows twice
    body: bytes


def ask(port: int, path: str, *, method: str = "GET", headers: dict[str, str]) -> Answer:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        sent = [(name.lower(), value) for name, value in response.getheaders() if name.lower() not in UNCOMPARED]
    finally:
        conn.close()
    boundary = re.search(r"boundary=(\w+)", dict(sent).get("content-type", ""))
    if boundary:  # random in each answer
        body = body.replace(boundary[1].encode(), b"BOUNDARY")
        sent = [(name, value.replace(boundary[1], "BOUNDARY")) for name, value in sent]
    return Answer(response.status, tuple(sorted(sent)), body)


def difference(stream: Answer, accel: Answer) -> dict:
    """What differs between two answers, for a readable failure."""
    return {
        "status": (stream.status, accel.status),
        "headers only in stream mode": sorted(set(stream.headers) - set(accel.headers)),
        "headers only in accel mode": sorted(set(accel.headers) - set(stream.headers)),
        "same body": stream.body == accel.body,
    }


def requests_to_compare(file, token: str) -> dict[str, tuple[str, str, dict[str, str]]]:
    """``{case: (method, path, headers)}``: the whole file, ranges good and bad, conditionals, errors."""
    path = f"/static/{file.path}"
    etag = f'"{file.sha256}"'
    last_modified = http_date(file.created_at.timestamp())
    auth = {"Authorization": f"Token {token}"}
    ranges = {
        "one range": "bytes=10-99",
        "a suffix range": "bytes=-50",
        "an open range": f"bytes={SIZE - 30}-",
        "a range past the end, clamped": f"bytes=0-{SIZE * 10}",
        "several ranges": "bytes=0-9,20-29,40-49",
        "overlapping ranges, in disorder": "bytes=50-60,0-20,10-30",
        "too many ranges": "bytes=" + ",".join(f"{i * 2}-{i * 2}" for i in range(17)),
        "a malformed range": "bytes=abc",
        "another unit": "items=0-5",
        "a range with spaces": "bytes= 0-5",
        "a reversed range": "bytes=9-5",
        "an empty element": "bytes=0-5,",
        "a huge numeral": "bytes=0-" + "9" * 30,
        "an unsatisfiable range": f"bytes={SIZE}-",
        "a zero suffix": "bytes=-0",
    }
    conditionals = {
        "If-None-Match matching": {"If-None-Match": etag},
        "If-None-Match another": {"If-None-Match": '"other"'},
        "If-None-Match *": {"If-None-Match": "*"},
        "If-Modified-Since now": {"If-Modified-Since": last_modified},
        "If-Modified-Since long ago": {"If-Modified-Since": http_date(0)},
        "If-Modified-Since malformed": {"If-Modified-Since": "yesterday"},
        "If-Match another": {"If-Match": '"other"'},
        "If-Match matching": {"If-Match": etag},
        "If-Unmodified-Since long ago": {"If-Unmodified-Since": http_date(0)},
        "If-Range matching ETag": {"If-Range": etag, "Range": "bytes=0-9"},
        "If-Range another ETag": {"If-Range": '"other"', "Range": "bytes=0-9"},
        "If-Range weak ETag": {"If-Range": f"W/{etag}", "Range": "bytes=0-9"},
        "If-Range matching date": {"If-Range": last_modified, "Range": "bytes=0-9"},
        "If-Range another date": {"If-Range": http_date(0), "Range": "bytes=0-9"},
        "If-Range with an unsatisfiable range": {"If-Range": '"other"', "Range": f"bytes={SIZE}-"},
    }
    return {
        "the whole file": ("GET", path, auth),
        "HEAD": ("HEAD", path, auth),
        "HEAD of one range": ("HEAD", path, {**auth, "Range": "bytes=0-9"}),
        "as an attachment": ("GET", f"{path}?download=1", auth),
        "as an attachment, one range": ("GET", f"{path}?download=1", {**auth, "Range": "bytes=5-9"}),
        **{f"Range: {case}": ("GET", path, {**auth, "Range": value}) for case, value in ranges.items()},
        **{case: ("GET", path, {**auth, **headers}) for case, headers in conditionals.items()},
        "no credentials": ("GET", path, {}),
        "a file that does not exist": ("GET", f"/static/{file.entity_id}/{uuid.uuid4()}.pdf", auth),
    }


@pytest.fixture
def file_and_token():
    user = UserFactory(role="admin")
    file = FileFactory(owner=PatientFactory(), name="Jane Doe knee.pdf", content=CONTENT)
    return file, user.auth_token.key, user


@pytest.mark.parametrize("stacks", ["local_setup", "s3_setup"], indirect=True, ids=["local disk", "s3"])
def test_accel_mode_behind_the_shipped_nginx_answers_every_request_as_stream_mode_does(stacks, file_and_token):
    file, token, _ = file_and_token

    answers = {
        mode: {
            case: ask(stack.port, path, method=method, headers=headers)
            for case, (method, path, headers) in requests_to_compare(file, token).items()
        }
        for mode, stack in stacks.items()
    }

    # The cases cover what they say (else comparing them would prove little).
    stream = answers["stream"]
    assert stream["the whole file"].body == CONTENT
    assert [stream[case].status for case in ("Range: one range", "Range: several ranges", "HEAD of one range")] == [
        206,
        206,
        206,
    ]
    assert stream["Range: an unsatisfiable range"].status == 416
    assert stream["Range: a malformed range"].status == 200
    assert stream["If-None-Match matching"].status == 304
    assert stream["If-Match another"].status == 412
    mismatched = {case for case in stream if answers["accel"][case] != stream[case]}
    assert mismatched == set(), {case: difference(stream[case], answers["accel"][case]) for case in sorted(mismatched)}


@pytest.mark.parametrize("stacks", ["local_setup", "s3_setup"], indirect=True, ids=["local disk", "s3"])
def test_nginx_reuses_its_connection_to_the_app_across_accel_downloads(stacks, file_and_token):
    # Else every download costs a connect, an accept and a close on both sides, and leaves a socket in TIME_WAIT.
    file, token, _ = file_and_token
    accel = stacks["accel"]
    before = connections_to(accel.app_port)

    answers = [ask(accel.port, f"/static/{file.path}", headers={"Authorization": f"Token {token}"}) for _ in range(5)]

    assert [(answer.status, answer.body) for answer in answers] == [(200, CONTENT)] * 5
    # At most one new connection: nginx may already hold one from the checks that saw the stack up.
    assert len(connections_to(accel.app_port) - before) <= 1


@pytest.mark.parametrize("stacks", ["local_setup", "s3_setup"], indirect=True, ids=["local disk", "s3"])
def test_a_signed_download_through_nginx_leaves_no_signature_in_its_access_log(stacks, file_and_token):
    file, _, user = file_and_token
    query = signing.sign(
        file_id=str(file.pk), entity_id=str(file.entity_id), extension=file.extension, issued_to=str(user.pk)
    )

    answer = ask(stacks["accel"].port, f"/static/{file.path}?{query}", headers={})

    assert (answer.status, answer.body) == (200, CONTENT)
    # nginx writes the line in its log phase, once the answer is sent: wait for it, a few seconds at most.
    deadline, line = time.monotonic() + 5, f"GET /static/{file.path} "
    while line not in (logged := stacks["accel"].log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert line in logged  # the request is logged, its query is not
    assert "signature=" not in logged.lower()
    assert "expires=" not in logged.lower()
    assert "issued_to" not in logged


@pytest.mark.parametrize("stacks", ["local_setup", "s3_setup"], indirect=True, ids=["local disk", "s3"])
def test_an_export_link_behind_the_shipped_nginx_answers_in_accel_mode_as_in_stream_mode(stacks):
    # An export's ZIP is served as a file's bytes are (files/download/exports.py), from the exports/ folder.
    user = UserFactory(role="admin")
    patient = PatientFactory()
    FileFactory(owner=patient, name="Jane Doe knee.pdf", content=CONTENT)
    export = export_request(record=patient, requested_by=user)
    export_build(export_id=export.pk)
    export.refresh_from_db()
    link = export_link(export)
    cases = {
        "the whole ZIP": ("GET", link, {}),
        "HEAD": ("HEAD", link, {}),
        "one range, to resume": ("GET", link, {"Range": "bytes=100-"}),
        "several ranges": ("GET", link, {"Range": "bytes=0-9,20-29"}),
        "If-None-Match matching": ("GET", link, {"If-None-Match": f'"{export.sha256}"'}),
        "a tampered signature": ("GET", link[:-4] + "0000", {}),
    }

    answers = {
        mode: {
            case: ask(stack.port, path, method=method, headers=headers)
            for case, (method, path, headers) in cases.items()
        }
        for mode, stack in stacks.items()
    }

    stream = answers["stream"]
    whole = stream["the whole ZIP"]
    assert (whole.status, hashlib.sha256(whole.body).hexdigest()) == (200, export.sha256)
    assert [stream[case].status for case in cases] == [200, 200, 206, 206, 304, 403]
    mismatched = {case for case in stream if answers["accel"][case] != stream[case]}
    assert mismatched == set(), {case: difference(stream[case], answers["accel"][case]) for case in sorted(mismatched)}
