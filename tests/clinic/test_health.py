"""/healthz and /readyz."""

from tests.wsgi import wsgi_request


def test_healthz_answers_without_the_database(client, db, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")

    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_a_new_service_answers_before_its_storage_folder_exists(db, on_local_disk, storage):
    """The folder is made by the first upload: until then the service is up, and every file is missing."""
    assert not storage.exists("")

    answers = [wsgi_request("/healthz"), wsgi_request(f"/static/{'0' * 8}-0000-7000-8000-{'0' * 12}/x.pdf")]

    assert [answer.status for answer in answers] == [200, 404]


def test_readyz_checks_database_and_storage(client, db):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "storage": "ok"}}


def test_readyz_is_503_when_storage_fails(client, db, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "files.storages.S3FileStorage",
            # Nothing listens on port 9 of loopback: the store is unreachable.
            "OPTIONS": {"bucket_name": "b", "endpoint_url": "http://127.0.0.1:9", "access_key": "x", "secret_key": "x"},
        },
    }

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "storage": "failing"}
