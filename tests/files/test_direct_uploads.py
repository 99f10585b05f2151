"""Direct-to-S3 uploads at /api/{records}/{id}/direct-uploads/: a presigned POST to the store, then a finalize.

The bytes are posted over real HTTP, with ``requests``, to the local
S3-protocol server (moto's), as a browser or a phone would post them. That
server takes any form: it checks neither the signature nor the policy's
conditions (size, expiry) that S3, MinIO and Ceph enforce, so these tests also
post what a real store would refuse, and see the finalize refuse it on its own.
"""

import base64
import hashlib
import io
import json
from datetime import datetime, timedelta

import pytest
import requests
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.db import DatabaseError, connection
from django.utils import timezone

from demo import samples
from files import conf
from files.direct import direct_upload_finalize
from files.models import AuditEvent, Derivative, DirectUpload, File
from files.reconcile import files_reconcile
from tests.factories import AppointmentFactory, DoctorFactory, PatientFactory, UserFactory
from tests.files import photos
from tests.files.test_fail_closed import s3_unreachable
from tests.responses import body

EXE = b"MZ\x90\x00" + bytes(60) + b"This program cannot be run in DOS mode."
HTML = b"<html><script>alert(1)</script></html>"


def direct_uploads_url(record) -> str:
    return f"/api/{record._meta.app_label}/{record.pk}/direct-uploads/"


def start(client, record, content: bytes = b"", *, size: int | None = None, **declared):
    declared = {"filename": "scan.pdf", "type": "scan", "size": len(content) if size is None else size, **declared}
    return client.post(direct_uploads_url(record), declared, format="json")


def post_to_store(started: dict, content: bytes, filename: str = "upload") -> requests.Response:
    """The client's POST of the form and the bytes, to the store itself."""
    return requests.post(started["url"], data=started["fields"], files={"file": (filename, content)}, timeout=10)


def uploaded(client, record, content: bytes, **declared) -> dict:
    """A direct upload started and its bytes posted: what the client finalizes next."""
    response = start(client, record, content, **declared)
    assert response.status_code == 201, response.content
    assert post_to_store(response.json(), content).status_code == 204
    return response.json()


def stored_under(storage, folder: str) -> list[str]:
    """The names stored in ``folder`` (none when there is no such folder, on local disk as on S3)."""
    try:
        return storage.listdir(f"{folder}/")[1]
    except FileNotFoundError:
        return []


def incoming(storage) -> list[str]:
    return stored_under(storage, "incoming")


def policy_of(started: dict) -> dict:
    return json.loads(base64.b64decode(started["fields"]["policy"]))


@pytest.fixture
def pdf() -> bytes:
    return samples.pdf_bytes("Lab report " * 2_000)


@pytest.mark.parametrize("record_factory", [PatientFactory, DoctorFactory, AppointmentFactory])
def test_posted_pdf_is_finalized_into_a_file_with_its_bytes(on_s3, admin, admin_client, storage, pdf, record_factory):
    record = record_factory()
    started = uploaded(admin_client, record, pdf, filename="lab.pdf", type="report")

    response = admin_client.post(started["finalize_url"])

    assert response.status_code == 201, response.content
    file = File.objects.get()
    assert response.json()["id"] == str(file.pk)
    assert (file.entity_id, file.category, file.name, file.size) == (record.pk, "report", "lab.pdf", len(pdf))
    assert (file.uploaded_by, file.media_type, file.storage_name) == (admin, "application/pdf", file.path)
    assert file.sha256 == hashlib.sha256(pdf).hexdigest()
    assert storage.open(file.storage_name).read() == pdf
    assert incoming(storage) == []
    assert DirectUpload.objects.get().file == file
    assert body(admin_client.get(response.json()["url"])) == pdf


def test_a_file_past_the_stores_multipart_threshold_is_moved_into_place_whole(on_s3, admin_client, patient, storage):
    pdf = samples.pdf_bytes("Scanned page " * 800_000)  # some 10 MiB: S3 copies it in parts (boto3's 8 MiB threshold)
    started = uploaded(admin_client, patient, pdf)

    response = admin_client.post(started["finalize_url"])

    assert response.status_code == 201
    file = File.objects.get()
    assert (
        file.sha256
        == hashlib.sha256(pdf).hexdigest()
        == hashlib.sha256(storage.open(file.storage_name).read()).hexdigest()
    )
    assert storage.bucket.Object(storage.key(file.storage_name)).content_type == "application/pdf"
    assert incoming(storage) == []


@pytest.mark.parametrize(("declared", "kept"), [("", "file.pdf"), ("..", "file.pdf"), ("a/b/x.exe", "x.pdf")])
def test_a_declared_name_that_names_no_file_is_named_after_its_kind(on_s3, admin_client, patient, pdf, declared, kept):
    started = uploaded(admin_client, patient, pdf, filename=declared)

    response = admin_client.post(started["finalize_url"])

    assert response.status_code == 201
    assert response.json()["name"] == kept


def test_start_answers_a_form_for_exactly_the_declared_size_under_incoming(on_s3, admin_client, patient, storage):
    before = timezone.now()

    response = start(admin_client, patient, size=1234, filename="../../etc/passwd.pdf")

    assert response.status_code == 201
    started = response.json()
    upload = DirectUpload.objects.get()
    assert (started["id"], started["size"], started["type"]) == (str(upload.pk), 1234, "scan")
    assert started["finalize_url"] == f"http://testserver{direct_uploads_url(patient)}{upload.pk}/finalize/"
    assert response["Cache-Control"] == "no-store"
    # The key is the service's own random one: nothing the client sent is in it.
    assert started["fields"]["key"] == f"{storage.location}/incoming/{upload.key}"
    assert len(upload.key) == 32 and "passwd" not in started["fields"]["key"]
    conditions = policy_of(started)["conditions"]
    assert ["content-length-range", 1234, 1234] in conditions
    assert {"key": started["fields"]["key"]} in conditions
    expires = datetime.fromisoformat(policy_of(started)["expiration"])
    lifetime = timedelta(seconds=conf.DEFAULTS["FILES_DIRECT_UPLOAD_LIFETIME"])
    assert before + lifetime - timedelta(seconds=5) < expires <= upload.expires_at + timedelta(seconds=1)


def test_the_form_lives_as_long_as_the_setting_says(on_s3, admin_client, patient, settings):
    settings.FILES_DIRECT_UPLOAD_LIFETIME = 120

    started = start(admin_client, patient, size=10).json()

    expires = datetime.fromisoformat(policy_of(started)["expiration"])
    assert timedelta(seconds=110) < expires - timezone.now() <= timedelta(seconds=120)


@pytest.mark.parametrize(
    ("filename", "category", "content", "code"),
    [
        ("invoice.pdf", "document", EXE, "unsupported_file_type"),
        ("photo.png", "image", HTML, "unsupported_file_type"),
        ("photo.png", "image", samples.png_bytes() + HTML, "polyglot_file"),
        ("report.pdf", "report", samples.png_bytes(), "extension_mismatch"),
    ],
)
def test_disguised_file_is_refused_at_finalize_as_a_plain_upload_is_and_nothing_is_left(
    on_s3, admin_client, patient, storage, filename, category, content, code
):
    started = uploaded(admin_client, patient, content, filename=filename, type=category)

    response = admin_client.post(started["finalize_url"])

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == code
    part = io.BytesIO(content)
    part.name = filename
    plain = admin_client.post(f"/api/patients/{patient.pk}/files/", {"file": part, "type": category})
    assert (plain.status_code, plain.json()) == (422, response.json())  # the same answer, word for word
    assert not File.objects.exists()
    assert not DirectUpload.objects.exists()
    assert incoming(storage) == []
    assert stored_under(storage, str(patient.pk)) == []
    assert admin_client.post(started["finalize_url"]).status_code == 404


def test_more_bytes_than_declared_are_refused_at_finalize_and_removed(on_s3, admin_client, patient, storage, pdf):
    started = start(admin_client, patient, size=len(pdf) - 100).json()
    assert post_to_store(started, pdf).status_code == 204  # a real store refuses it already (content-length-range)

    response = admin_client.post(started["finalize_url"])

    assert response.status_code == 422
    message = f"The stored file holds {len(pdf)} bytes, not the {len(pdf) - 100} declared"
    assert response.json()["detail"] == [{"loc": ["body", "file"], "msg": message, "type": "size_mismatch"}]
    assert not File.objects.exists()
    assert not DirectUpload.objects.exists()
    assert incoming(storage) == []


def test_fewer_bytes_than_declared_are_refused_at_finalize(on_s3, admin_client, patient, storage, pdf):
    started = start(admin_client, patient, size=len(pdf) + 1).json()
    post_to_store(started, pdf)

    response = admin_client.post(started["finalize_url"])

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "size_mismatch"
    assert (File.objects.count(), incoming(storage)) == (0, [])


def test_start_over_the_categorys_size_limit_is_413(on_s3, admin_client, patient, settings):
    settings.FILES_MAX_UPLOAD_SIZES = {"image": 1000}

    response = start(admin_client, patient, size=1001, filename="a.png", type="image")

    assert response.status_code == 413
    assert response.json() == {"detail": "File is larger than the limit of 1000 bytes for image files"}
    assert not DirectUpload.objects.exists()


def test_limit_lowered_before_the_finalize_refuses_it_413_and_removes_the_bytes(
    on_s3, admin_client, patient, settings, storage, pdf
):
    started = uploaded(admin_client, patient, pdf)
    settings.FILES_MAX_UPLOAD_SIZE = 1000

    response = admin_client.post(started["finalize_url"])

    assert response.status_code == 413
    assert (File.objects.count(), DirectUpload.objects.count(), incoming(storage)) == (0, 0, [])


@pytest.mark.parametrize(
    "body",
    [{"size": 0}, {"size": -5}, {"size": "ten"}, {}, {"size": 10, "type": "weapon"}, {"size": 10, "filename": "a\x00"}],
)
def test_start_with_a_bad_declaration_is_422(on_s3, admin_client, patient, body):
    response = admin_client.post(direct_uploads_url(patient), body, format="json")

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "body"
    assert not DirectUpload.objects.exists()


def test_photo_is_stored_without_its_metadata_and_the_posted_original_removed(
    on_s3, admin_client, patient, storage, django_capture_on_commit_callbacks
):
    content = photos.phone_jpeg()
    started = uploaded(admin_client, patient, content, filename="photo.jpg", type="image")

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(started["finalize_url"])

    assert response.status_code == 201
    file = File.objects.get()
    stored = storage.open(file.storage_name).read()
    assert photos.SERIAL.encode() not in stored
    assert photos.pixels_of(stored) == photos.pixels_of(content)
    assert (file.size, file.sha256) == (len(stored), hashlib.sha256(stored).hexdigest())
    assert incoming(storage) == []  # the original, with its GPS position, is gone
    # Its jobs ran once the finalize committed, as a plain upload's do.
    assert set(Derivative.objects.filter(file=file).values_list("variant", "state")) == {
        ("thumbnail", "ready"),
        ("preview", "ready"),
    }


def test_stored_object_carries_the_services_headers_not_the_clients(on_s3, admin_client, patient, storage, pdf):
    started = start(admin_client, patient, pdf).json()
    requests.post(
        started["url"],
        data={**started["fields"], "Content-Type": "text/html", "Content-Disposition": "inline"},
        files={"file": ("x.html", pdf)},
        timeout=10,
    )  # a real store refuses fields the policy does not sign; this one keeps them

    admin_client.post(started["finalize_url"])

    head = storage.bucket.Object(storage.key(File.objects.get().storage_name)).get()
    assert head["ContentType"] == "application/pdf"
    assert head["ContentDisposition"] == f'attachment; filename="{File.objects.get().pk}.pdf"'
    assert head["CacheControl"] == "private, no-store"


def test_finalizing_twice_answers_the_same_file_and_makes_one(on_s3, admin_client, patient, pdf):
    started = uploaded(admin_client, patient, pdf)
    first = admin_client.post(started["finalize_url"])

    again = admin_client.post(started["finalize_url"])

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert File.objects.count() == 1


def test_bytes_posted_again_after_the_finalize_never_replace_the_files(on_s3, admin_client, patient, storage, pdf):
    started = uploaded(admin_client, patient, pdf)
    admin_client.post(started["finalize_url"])

    assert post_to_store(started, EXE).status_code == 204  # the form is still valid until it expires
    again = admin_client.post(started["finalize_url"])

    assert again.status_code == 200
    assert storage.open(File.objects.get().storage_name).read() == pdf
    assert File.objects.count() == 1


def test_finalize_of_a_deleted_files_upload_is_404(on_s3, admin_client, patient, pdf):
    started = uploaded(admin_client, patient, pdf)
    file_id = admin_client.post(started["finalize_url"]).json()["id"]
    admin_client.delete(f"/static/delete_file/{file_id}")

    response = admin_client.post(started["finalize_url"])

    assert response.status_code == 404
    assert File.all_objects.count() == 1


def test_finalize_before_the_bytes_arrive_is_409_then_works(on_s3, admin_client, patient, pdf):
    started = start(admin_client, patient, pdf).json()

    early = admin_client.post(started["finalize_url"])
    post_to_store(started, pdf)
    late = admin_client.post(started["finalize_url"])

    assert early.status_code == 409
    assert early.json() == {"detail": "Nothing has been posted for this upload yet: post the form, then finalize"}
    assert late.status_code == 201


def test_expired_upload_is_410_and_makes_nothing(on_s3, admin_client, patient, storage, pdf):
    started = uploaded(admin_client, patient, pdf)
    DirectUpload.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = admin_client.post(started["finalize_url"])

    assert response.status_code == 410
    assert response.json() == {"detail": "The upload expired: start a new one"}
    assert not File.objects.exists()


def test_storage_that_cannot_presign_answers_409_and_keeps_nothing(on_local_disk, admin_client, patient):
    response = start(admin_client, patient, size=100)

    assert response.status_code == 409
    assert response.json() == {
        "detail": "Direct uploads need a storage that presigns uploads (S3); upload to the record's files/ or uploads/"
    }
    assert not DirectUpload.objects.exists()


# Who may: the right to upload to the record, on both requests; an upload is its creator's alone.


@pytest.fixture
def doctor_elsewhere(db):
    """A doctor, linked to a doctor record, who reaches no patient of the tests' (no appointment with them)."""
    user = UserFactory(role="doctor")
    DoctorFactory(user=user)
    return user


@pytest.mark.parametrize(
    "who", ["no role", "patient role", "doctor not reaching the record", "doctor reaching another patient"]
)
def test_start_without_the_upload_right_on_the_record_is_403(on_s3, client_for, patient, doctor_elsewhere, who):
    user = {
        "no role": UserFactory(),
        "patient role": UserFactory(role="patient"),
        "doctor not reaching the record": doctor_elsewhere,
        "doctor reaching another patient": AppointmentFactory(doctor__user=UserFactory(role="doctor")).doctor.user,
    }[who]

    assert start(client_for(user), patient, size=100).status_code == 403
    assert not DirectUpload.objects.exists()


def test_doctor_starts_and_finalizes_on_a_patient_they_reach(on_s3, db, client_for, pdf):
    appointment = AppointmentFactory(doctor__user=UserFactory(role="doctor"))
    client = client_for(appointment.doctor.user)

    response = client.post(uploaded(client, appointment.patient, pdf)["finalize_url"])

    assert response.status_code == 201
    assert File.objects.get().entity_id == appointment.patient.pk


@pytest.mark.parametrize(
    ("who", "status"),
    [("no role", 403), ("patient role", 403), ("doctor not reaching the record", 403), ("another admin", 404)],
)
def test_finalize_by_anyone_but_its_creator_is_refused_and_changes_nothing(
    on_s3, admin_client, client_for, patient, doctor_elsewhere, storage, pdf, who, status
):
    started = uploaded(admin_client, patient, pdf)
    user = {
        "no role": UserFactory(),
        "patient role": UserFactory(role="patient"),
        "doctor not reaching the record": doctor_elsewhere,
        "another admin": UserFactory(role="admin"),
    }[who]

    response = client_for(user).post(started["finalize_url"])

    assert response.status_code == status
    assert not File.objects.exists()
    assert incoming(storage) == [DirectUpload.objects.get().key]  # still there for its creator
    assert admin_client.post(started["finalize_url"]).status_code == 201


def test_finalize_after_losing_the_upload_right_is_403(on_s3, admin, admin_client, patient, pdf):
    started = uploaded(admin_client, patient, pdf)
    admin.groups.clear()

    assert admin_client.post(started["finalize_url"]).status_code == 403
    assert not File.objects.exists()


def test_upload_id_of_another_record_is_404(on_s3, admin_client, patient, pdf):
    started = uploaded(admin_client, patient, pdf)
    other = PatientFactory()

    response = admin_client.post(f"{direct_uploads_url(other)}{started['id']}/finalize/")

    assert response.status_code == 404
    assert not File.objects.exists()


def test_anonymous_cannot_start_or_finalize_401(on_s3, anonymous, admin_client, patient, pdf):
    started = uploaded(admin_client, patient, pdf)

    assert start(anonymous, patient, size=10).status_code == 401
    assert anonymous.post(started["finalize_url"]).status_code == 401


def test_finalize_of_a_non_uuid_is_422(on_s3, admin_client, patient):
    response = admin_client.post(f"{direct_uploads_url(patient)}nope/finalize/")

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "upload_id"]


def test_uploads_and_refusals_are_on_the_audit_trail(on_s3, admin_client, client_for, patient, pdf):
    started = uploaded(admin_client, patient, pdf)
    start(client_for(UserFactory()), patient, size=10)
    client_for(UserFactory(role="admin")).post(started["finalize_url"])
    file_id = admin_client.post(started["finalize_url"]).json()["id"]

    events = AuditEvent.objects.filter(action="upload").order_by("id")
    assert [(event.outcome, event.status) for event in events] == [
        ("refused", 403),
        ("refused", 404),
        ("allowed", None),
    ]
    assert str(events.last().file_id) == file_id


def test_starts_count_against_the_upload_rate_and_finalizes_do_not(on_s3, admin_client, patient, settings, pdf):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": None, "user": None, "uploads": "2/day"},
    }
    started = uploaded(admin_client, patient, pdf)
    start(admin_client, patient, size=10)

    assert start(admin_client, patient, size=10).status_code == 429
    assert admin_client.post(started["finalize_url"]).status_code == 201


# Nothing is lost: a finalize whose transaction fails leaves the bytes where a retry finds them.


@pytest.fixture
def upload_rows_refuse_updates(db):
    """The database refuses, once, to mark a direct upload finalized: the failure comes after the File's rows
    and the move of the bytes into place, inside the finalize's transaction (a PostgreSQL trigger: a real
    refusal of the database, as a lost connection or a serialization failure would be)."""
    if connection.vendor != "postgresql":
        pytest.skip("the refusal is a PostgreSQL trigger (CI runs on PostgreSQL)")
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION refuse_update() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'refused by the test' USING ERRCODE = 'serialization_failure'; END $$ LANGUAGE plpgsql"
        )
        cursor.execute(
            "CREATE TRIGGER refuse_update BEFORE UPDATE ON files_directupload "
            "FOR EACH ROW EXECUTE FUNCTION refuse_update()"
        )

    def allow() -> None:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER refuse_update ON files_directupload")

    return allow


def test_a_finalize_whose_transaction_fails_moves_the_bytes_back_and_a_retry_makes_the_file(
    on_s3, admin, admin_client, patient, storage, pdf, upload_rows_refuse_updates
):
    started = uploaded(admin_client, patient, pdf)
    upload = DirectUpload.objects.get()

    with pytest.raises(DatabaseError):
        direct_upload_finalize(upload_id=upload.pk, owner=patient, user=admin)

    assert not File.objects.exists()
    assert stored_under(storage, str(patient.pk)) == []  # not left at the file's name, with no row
    assert incoming(storage) == [upload.received_name.removeprefix("incoming/")]  # where the next finalize looks
    assert DirectUpload.objects.get().finalized_at is None
    upload_rows_refuse_updates()
    response = admin_client.post(started["finalize_url"])
    assert response.status_code == 201
    assert storage.open(File.objects.get().storage_name).read() == pdf


def test_a_database_refusal_at_finalize_answers_503_and_loses_nothing(
    on_s3, admin_client, patient, storage, pdf, upload_rows_refuse_updates
):
    started = uploaded(admin_client, patient, pdf)

    response = admin_client.post(started["finalize_url"])

    assert response.status_code == 503
    assert not File.objects.exists()
    assert len(incoming(storage)) == 1


def test_an_unreachable_store_at_finalize_answers_503_and_a_retry_makes_the_file(
    on_s3, admin_client, patient, settings, storage, pdf
):
    started = uploaded(admin_client, patient, pdf)

    with s3_unreachable(settings):
        response = admin_client.post(started["finalize_url"])

    assert (response.status_code, response["Retry-After"]) == (503, "5")
    assert (File.objects.count(), incoming(storage)) == (0, [DirectUpload.objects.get().key])
    assert admin_client.post(started["finalize_url"]).status_code == 201


def test_a_finalize_cut_off_after_taking_the_bytes_in_is_taken_up_by_the_next(
    on_s3, admin_client, patient, storage, pdf
):
    started = uploaded(admin_client, patient, pdf)
    upload = DirectUpload.objects.get()
    storage.move(upload.incoming_name, upload.received_name)  # where a worker killed after its first step left them

    response = admin_client.post(started["finalize_url"])

    assert response.status_code == 201
    assert storage.open(File.objects.get().storage_name).read() == pdf
    assert incoming(storage) == []


# files_cleanup: expired uploads and bytes in incoming/ that no upload owns.


def test_cleanup_removes_expired_uploads_and_their_bytes_past_the_grace(
    on_s3, admin_client, patient, settings, storage, pdf, capsys
):
    settings.FILES_DIRECT_UPLOAD_GRACE = 600
    expired = uploaded(admin_client, patient, pdf, filename="old.pdf")
    in_grace = uploaded(admin_client, patient, pdf, filename="late.pdf")
    live = uploaded(admin_client, patient, pdf, filename="live.pdf")
    DirectUpload.objects.filter(pk=expired["id"]).update(expires_at=timezone.now() - timedelta(seconds=601))
    DirectUpload.objects.filter(pk=in_grace["id"]).update(expires_at=timezone.now() - timedelta(seconds=500))

    call_command("files_cleanup", "--grace-hours=0")

    out = capsys.readouterr().out
    assert f"did remove expired direct upload: {expired['id']} (expired " in out
    assert "1 expired direct uploads, 0 stale incoming objects, 0 failed." in out
    assert set(DirectUpload.objects.values_list("filename", flat=True)) == {"late.pdf", "live.pdf"}
    assert sorted(incoming(storage)) == sorted(DirectUpload.objects.values_list("key", flat=True))
    assert admin_client.post(live["finalize_url"]).status_code == 201


def test_cleanup_removes_bytes_no_upload_owns_once_past_the_grace(on_s3, admin_client, patient, settings, storage, pdf):
    started = uploaded(admin_client, patient, pdf)
    admin_client.post(started["finalize_url"])
    post_to_store(started, pdf)  # posted again after the finalize: nothing will ever finalize these bytes
    storage.save("incoming/never-handed-out", ContentFile(b"bytes of no upload"))
    settings.FILES_DIRECT_UPLOAD_GRACE = 3600

    young = files_reconcile(dry_run=False, grace=timedelta(0))
    settings.FILES_DIRECT_UPLOAD_GRACE = 0
    old = files_reconcile(dry_run=False, grace=timedelta(0))

    assert (young.stale_incoming_objects, young.orphan_blobs) == ([], [])
    # The finalized upload owns its key until it is swept itself: what was posted again goes with it.
    assert old.stale_incoming_objects == ["incoming/never-handed-out"]
    DirectUpload.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    swept = files_reconcile(dry_run=False, grace=timedelta(0))
    assert [item.split(" (")[0] for item in swept.expired_direct_uploads] == [started["id"]]
    assert incoming(storage) == []
    assert File.objects.count() == 1  # the file it made stays


def test_cleanup_dry_run_reports_and_removes_nothing(on_s3, admin_client, patient, settings, storage, pdf):
    settings.FILES_DIRECT_UPLOAD_GRACE = 0
    started = uploaded(admin_client, patient, pdf)
    DirectUpload.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    storage.save("incoming/never-handed-out", ContentFile(b"bytes of no upload"))

    report = files_reconcile(dry_run=True, grace=timedelta(0))

    assert [item.split(" (")[0] for item in report.expired_direct_uploads] == [started["id"]]
    assert report.stale_incoming_objects == ["incoming/never-handed-out"]
    assert DirectUpload.objects.count() == 1
    assert sorted(incoming(storage)) == sorted([DirectUpload.objects.get().key, "never-handed-out"])


def test_bytes_of_an_upload_not_finalized_yet_are_never_orphans(on_s3, admin_client, patient, storage, pdf):
    started = uploaded(admin_client, patient, pdf)

    report = files_reconcile(dry_run=False, grace=timedelta(0))

    assert (report.orphan_blobs, report.stale_incoming_objects, report.expired_direct_uploads) == ([], [], [])
    assert admin_client.post(started["finalize_url"]).status_code == 201
