"""Any JSON body gets an answer in the API's error format, however it is built."""

import pytest

from tests.records.conftest import RECORD_TYPES

DEEP = 100_000


@pytest.mark.parametrize("record_type", RECORD_TYPES, ids=[t.plural for t in RECORD_TYPES])
@pytest.mark.parametrize(
    "body", ["[" * DEEP, '{"a":' * DEEP, "[" * DEEP + "]" * DEEP], ids=["open", "objects", "closed"]
)
@pytest.mark.parametrize("method", ["post", "patch", "put"])
def test_deeply_nested_json_is_refused_422_on_every_record_endpoint(admin_client, record_type, body, method):
    url = record_type.url if method == "post" else record_type.detail_url(record_type.factory().pk)

    response = getattr(admin_client, method)(url, body, content_type="application/json")

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body"]
    assert error["type"] == "parse_error"


def test_json_nested_within_the_limit_is_still_validated(admin_client):
    response = admin_client.post("/api/patients/", {"first_name": [[[["x"]]]]}, format="json")

    assert response.status_code == 422
