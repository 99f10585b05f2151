"""Each record shows its files, as the File objects of the seed's "Example Patient Response"."""

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile

from demo import samples
from files.models import File
from files.policy import ModelPermissionPolicy
from tests.factories import FileFactory, UserFactory
from tests.records.conftest import RECORD_TYPES, file_json, give_ids_in_reverse_insertion_order, record_json
from tests.responses import body
from tests.signed import SignedFileURL, version_json

FILE_KEYS = [
    "id", "type", "mime_type", "entity_id", "url", "name", "size", "content_type", "created_at",
    "thumbnail_url", "preview_url", "width", "height", "pages", "scan_status", "version", "versions",
]  # fmt: skip


@pytest.fixture
def record_files(record):
    """Two files of ``record``: a PNG profile photo and a PDF report."""
    return [
        FileFactory(owner=record, name="photo.png", category="profile"),
        FileFactory(owner=record, name="blood-test.pdf", content=samples.pdf_bytes("Blood test"), category="report"),
    ]


def test_detail_embeds_files_like_the_seed_example(admin_client, record_type, record, record_files):
    photo, report = record_files

    files = admin_client.get(record_type.detail_url(record.pk)).json()["files"]

    assert [list(item) for item in files] == [FILE_KEYS, FILE_KEYS]
    assert files[0] == {
        "id": str(photo.id),
        "type": "profile",
        "mime_type": ".png",
        "entity_id": str(record.pk),
        "url": SignedFileURL(photo),
        "name": "photo.png",
        "size": len(samples.png_bytes()),
        "content_type": "image/png",
        "created_at": files[0]["created_at"],
        # Thumbnail and preview are made once the upload commits: not yet here.
        "thumbnail_url": None,
        "preview_url": None,
        "width": None,
        "height": None,
        "pages": None,
        # Not scanned: scanning is off in these tests (FILES_CLAMD unset).
        "scan_status": "pending",
        "version": 1,
        "versions": [version_json(photo)],
    }
    assert files[1]["type"] == "report"
    assert files[1]["mime_type"] == ".pdf"
    assert files[1]["url"] == SignedFileURL(report)
    assert files[1]["content_type"] == "application/pdf"
    assert files == [file_json(photo), file_json(report)]


def test_embedded_created_at_is_iso_8601_utc(admin_client, record_type, record, record_files):
    files = admin_client.get(record_type.detail_url(record.pk)).json()["files"]

    stored = File.objects.get(pk=files[0]["id"]).created_at
    assert files[0]["created_at"].endswith("Z")
    assert files[0]["created_at"] == stored.isoformat().replace("+00:00", "Z")


def test_embedded_url_serves_the_files_bytes(admin_client, record_type, record, record_files):
    url = admin_client.get(record_type.detail_url(record.pk)).json()["files"][0]["url"]

    response = admin_client.get(url)

    assert response.status_code == 200
    assert body(response) == samples.png_bytes()


def test_list_embeds_each_records_own_files(admin_client, record_type):
    first, second, bare = record_type.factory(), record_type.factory(), record_type.factory()
    first_files = [FileFactory(owner=first), FileFactory(owner=first, name="scan.jpg", content=samples.jpeg_bytes())]
    second_files = [FileFactory(owner=second, name="letter.docx", content=samples.docx_bytes())]

    results = admin_client.get(record_type.url).json()["results"]

    by_id = {item["id"]: item for item in results}
    assert by_id[str(first.pk)] == record_json(record_type, first, first_files)
    assert by_id[str(second.pk)] == record_json(record_type, second, second_files)
    assert by_id[str(bare.pk)]["files"] == []


def test_files_of_other_records_are_not_embedded(admin_client, record_type, record, record_files):
    for other_type in RECORD_TYPES:
        FileFactory(owner=other_type.factory(), name="other.png")

    body = admin_client.get(record_type.detail_url(record.pk)).json()

    assert [item["id"] for item in body["files"]] == [str(file.id) for file in record_files]
    assert {item["entity_id"] for item in body["files"]} == {str(record.pk)}


def test_record_without_files_has_an_empty_list(admin_client, record_type, record):
    FileFactory(owner=record_type.factory())

    assert admin_client.get(record_type.detail_url(record.pk)).json()["files"] == []


def test_embedded_files_are_ordered_by_id(admin_client, record_type, record):
    made = [FileFactory(owner=record, name=f"page-{n}.png") for n in range(4)]
    by_id = give_ids_in_reverse_insertion_order(made)

    detail = admin_client.get(record_type.detail_url(record.pk)).json()["files"]
    listed = admin_client.get(record_type.url).json()["results"][0]["files"]

    expected = [str(file.id) for file in by_id]
    assert [item["name"] for item in detail] == ["page-3.png", "page-2.png", "page-1.png", "page-0.png"]
    assert [item["id"] for item in detail] == expected
    assert [item["id"] for item in listed] == expected


def test_update_response_still_embeds_the_files(admin_client, record_type, record, record_files):
    response = admin_client.patch(record_type.detail_url(record.pk), record_type.changes, format="json")

    assert response.status_code == 200
    assert response.json()["files"] == [file_json(file) for file in record_files]


def test_uploaded_file_appears_in_the_record(admin_client, record_type, record):
    upload = SimpleUploadedFile("x-ray.jpg", samples.jpeg_bytes())

    created = admin_client.post(record_type.files_url(record.pk), {"file": upload, "type": "scan"}, format="multipart")

    assert created.status_code == 201
    files = admin_client.get(record_type.detail_url(record.pk)).json()["files"]
    assert files == [created.json()]
    assert files[0]["type"] == "scan"
    assert files[0]["mime_type"] == ".jpg"


# GET /api/{records}/{id}/files/


def test_files_endpoint_lists_the_records_files(admin_client, record_type, record, record_files):
    FileFactory(owner=record_type.factory())

    response = admin_client.get(record_type.files_url(record.pk))

    assert response.status_code == 200
    assert response.json() == [file_json(file) for file in record_files]


def test_files_endpoint_matches_the_embedded_files(admin_client, record_type, record, record_files):
    give_ids_in_reverse_insertion_order(record_files)

    listed = admin_client.get(record_type.files_url(record.pk)).json()
    embedded = admin_client.get(record_type.detail_url(record.pk)).json()["files"]

    assert listed == embedded
    assert [item["name"] for item in listed] == ["blood-test.pdf", "photo.png"]


def test_files_endpoint_of_a_record_without_files_is_empty(admin_client, record_type, record):
    response = admin_client.get(record_type.files_url(record.pk))

    assert response.status_code == 200
    assert response.json() == []


def test_files_endpoint_of_an_unknown_record_returns_404(admin_client, record_type, record, record_files):
    response = admin_client.get(record_type.files_url("019ec9e7-70fc-70e1-9be7-039fdb5efc3e"))

    assert response.status_code == 404


def test_files_endpoint_with_a_non_uuid_id_returns_422(admin_client, record_type):
    response = admin_client.get(record_type.files_url("not-a-uuid"))

    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"loc": ["path", "id"], "msg": "Input should be a valid UUID", "type": "uuid_parsing"}
    ]


# FILES_PUBLIC_BASE_URL


@pytest.mark.parametrize(
    ("base_url", "expected_base"),
    [
        ("https://api-core.aayutech.dev", "https://api-core.aayutech.dev"),
        ("https://api-core.aayutech.dev/", "https://api-core.aayutech.dev"),
        ("https://cdn.example.org/clinic", "https://cdn.example.org/clinic"),
    ],
)
def test_public_base_url_setting_changes_the_url_base(
    admin_client, settings, record_type, record, record_files, base_url, expected_base
):
    settings.FILES_PUBLIC_BASE_URL = base_url
    photo = record_files[0]
    expected = SignedFileURL(photo, expected_base)

    detail = admin_client.get(record_type.detail_url(record.pk)).json()["files"][0]["url"]
    listed = admin_client.get(record_type.url).json()["results"][0]["files"][0]["url"]
    endpoint = admin_client.get(record_type.files_url(record.pk)).json()[0]["url"]

    assert detail == listed == endpoint == expected


def test_without_public_base_url_the_url_follows_the_request_host(admin_client, settings, record_type, record):
    settings.FILES_PUBLIC_BASE_URL = None
    settings.ALLOWED_HOSTS = ["api.clinic.example"]
    photo = FileFactory(owner=record)

    body = admin_client.get(record_type.detail_url(record.pk), HTTP_HOST="api.clinic.example", secure=True).json()

    assert body["files"][0]["url"] == SignedFileURL(photo, "https://api.clinic.example")


def test_user_without_file_view_permission_sees_no_embedded_files(client_for, record_type, record, record_files):
    user = UserFactory()
    user.user_permissions.add(
        Permission.objects.get(codename=f"view_{record._meta.model_name}"),
        Permission.objects.get(codename="reach_all_records"),
    )

    response = client_for(user).get(record_type.detail_url(record.pk))

    assert response.status_code == 200
    assert response.json()["files"] == []


def test_embedded_files_follow_the_permission_policy(client_for, settings, record_type, record, record_files):
    settings.FILES_PERMISSION_POLICY = "tests.records.test_files_embedding.ProfilePhotosOnlyPolicy"

    response = client_for(UserFactory(role="admin")).get(record_type.detail_url(record.pk))

    assert [file["type"] for file in response.json()["files"]] == ["profile"]


class ProfilePhotosOnlyPolicy(ModelPermissionPolicy):
    """A host project's policy that shows only profile photos."""

    def files_visible_to(self, user, files):
        return super().files_visible_to(user, files).filter(category="profile")
