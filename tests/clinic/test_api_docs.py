"""The OpenAPI schema and its pages, which must work on a closed network."""

import re

import pytest
import yaml
from django.contrib.staticfiles import finders


@pytest.fixture
def schema(client, db):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def test_schema_describes_every_endpoint(schema):
    assert {
        "/api/patients/",
        "/api/patients/{id}/files/",
        "/api/doctors/{id}/files/",
        "/api/appointments/{id}/files/",
        "/api/patients/{id}/direct-uploads/",
        "/api/patients/{id}/direct-uploads/{upload_id}/finalize/",
        "/api/files/",
        "/api/files/{id}/",
        "/static/delete_file/{file_id}",
        "/static/{entity_id}/{file_name}",
    } <= set(schema["paths"])


def test_schema_shows_the_seed_bodies(schema):
    delete = schema["paths"]["/static/delete_file/{file_id}"]["delete"]["responses"]
    example_422 = next(iter(delete["422"]["content"]["application/json"]["examples"].values()))["value"]
    example_200 = next(iter(delete["200"]["content"]["application/json"]["examples"].values()))["value"]

    assert example_200 == "File deleted successfully"
    assert example_422 == {
        "detail": [{"loc": ["path", "file_id"], "msg": "Input should be a valid UUID", "type": "uuid_parsing"}]
    }


def test_schema_shows_the_download_as_binary(schema):
    content = schema["paths"]["/static/{entity_id}/{file_name}"]["get"]["responses"]["200"]["content"]

    assert content["application/pdf"]["schema"] == {"type": "string", "format": "binary"}
    assert "image/png" in content


@pytest.mark.parametrize("page", ["/api/docs/", "/api/redoc/"])
def test_docs_pages_load_their_assets_from_the_service_itself(client, db, page):
    response = client.get(page)
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)

    assert response.status_code == 200
    assert assets
    assert all(asset.startswith("/") and not asset.startswith("//") for asset in assets), assets
    for asset in assets:
        if asset.startswith("/assets/"):
            assert finders.find(asset.removeprefix("/assets/")), f"{asset} is not shipped by collectstatic"


def test_schema_documents_the_file_objects_derivative_fields(schema):
    file_object = schema["components"]["schemas"]["File"]["properties"]

    assert {"thumbnail_url", "preview_url", "width", "height", "pages"} <= set(file_object)
    assert all(file_object[name].get("nullable") for name in ("thumbnail_url", "preview_url", "width", "pages"))
    assert [file_object[name]["type"] for name in ("thumbnail_url", "preview_url", "width", "height", "pages")] == [
        "string", "string", "integer", "integer", "integer",
    ]  # fmt: skip
