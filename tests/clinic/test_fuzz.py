"""Schemathesis against the live app: every operation of /api/schema/, fuzzed over real HTTP.

The schema is loaded from the running app (Django's live server); three
requests in four carry an admin's token, the fourth none (the 401s are
documented too). Hypothesis decides, request by request, whether a case goes
as the fuzzer made it or about real records: a fresh record with a file in its
path (fresh each time, so that a DELETE never starves the requests after it),
real documents in an upload, a real patient and doctor in an appointment, a
meaningful range or condition on a download. Every response must be no 5xx
and have a documented status code, content type and body; and every operation
must have succeeded (2xx) at least once, or the fuzzer never really reached it.
Nothing is excluded: handing out a direct upload, which only S3 can, is fuzzed
on local disk (its documented 409) and again on the suite's S3 server, where
it must get through.

Bounded, so that it runs on every CI run: MAX_EXAMPLES requests per operation
and generation mode (valid and invalid data), derandomized so that a run is
repeatable, with no deadline (the live server's first request of a kind is slow).
"""

import collections

import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.transport.serialization import Binary

from demo import samples
from files.export import export_request
from tests.factories import (
    AppointmentFactory,
    DoctorFactory,
    FileFactory,
    PatientFactory,
    PostedDirectUploadFactory,
    UserFactory,
)

# serialized_rollback: a transactional test flushes the tables, the role groups of the data migration with them.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

MAX_EXAMPLES = 25
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
DOCUMENTS = [samples.png_bytes, samples.jpeg_bytes, samples.pdf_bytes, samples.docx_bytes, samples.doc_bytes]
CONDITIONS = {"range", "if-range", "if-none-match", "if-modified-since", "if-match", "if-unmodified-since"}
# A download's headers that mean something: none, ranges (206, multipart/byteranges, 416), conditions (304, 412).
DOWNLOAD_HEADERS = [
    {},
    {"Range": "bytes=0-9"},
    {"Range": "bytes=-5,0-0,3-4"},
    {"Range": "bytes=999999999-"},
    {"If-None-Match": "*"},
    {"If-Match": '"not-its-etag"'},
    {"If-Modified-Since": "Sun, 06 Nov 2101 08:49:37 GMT"},
]


def real_path_parameters(path: str, referenced: bool, on_hold: bool, requester) -> dict[str, str]:
    """Path parameters naming a fresh record of ``path``'s kind, with a file (or an export ``requester`` asked for).

    ``referenced``: the record has an appointment (deleting a patient or a doctor is 409);
    ``on_hold``: the record is on legal hold (deleting it or its file is 409).
    """
    if path.startswith("/api/appointments/"):
        record = AppointmentFactory()
    elif path.startswith("/api/doctors/"):
        record = DoctorFactory()
        if referenced:
            AppointmentFactory(doctor=record)
    else:  # patients, and the files' own paths
        record = PatientFactory()
        if referenced:
            AppointmentFactory(patient=record)
    if on_hold:
        record.legal_hold = True
        record.save(update_fields=["legal_hold"])
    file = FileFactory(owner=record)
    if path.startswith("/static/delete_file/"):
        return {"file_id": str(file.pk)}
    if path.startswith("/static/"):
        return {"entity_id": str(file.entity_id), "file_name": f"{file.pk}{file.extension}"}
    if path.startswith("/api/files/"):
        return {"id": str(file.pk)}
    if path.startswith("/api/exports/"):
        return {"export_id": str(export_request(record=record, requested_by=requester).pk)}
    if "{upload_id}" in path:
        upload = PostedDirectUploadFactory(owner=record, created_by=requester)
        return {"id": str(record.pk), "upload_id": str(upload.pk)}
    return {"id": str(record.pk)}


def about_real_records(
    case, referenced: bool, on_hold: bool, documents: list, category: str, conditions: dict, requester
):
    """``case``, made to name real records: fresh ones in its path, real documents in an upload,
    a real patient and doctor in an appointment, and a download's query and conditions meaningful."""
    path, method = case.operation.path, case.method.upper()
    if "{" in path:
        case.path_parameters = real_path_parameters(path, referenced, on_hold, requester)
    if method == "POST" and path.endswith("/files/"):
        case.body = {"file": [Binary(document()) for document in documents], "type": category}
    elif method == "POST" and needs_presigning(path):
        case.body = {"filename": "scan.pdf", "type": category, "size": len(documents[0]())}
    elif path.startswith("/api/appointments/") and isinstance(case.body, dict):
        case.body = {**case.body, "patient": str(PatientFactory().pk), "doctor": str(DoctorFactory().pk)}
    elif path.startswith("/static/{"):
        # The token is the credential here: a made-up signature would only ever be refused.
        case.query = {name: value for name, value in (case.query or {}).items() if name not in {"expires", "signature"}}
        headers = {name: value for name, value in (case.headers or {}).items() if name.lower() not in CONDITIONS}
        case.headers = {**headers, **conditions}
    return case


def needs_presigning(path_or_label: str) -> bool:
    """Does the operation hand out a direct upload, which only a storage that presigns (S3) can?

    On local disk it answers its documented 409 (fuzzed for that all the same);
    ``test_direct_uploads_conform_to_the_schema_on_s3`` gets it through.
    """
    return path_or_label.endswith("/direct-uploads/")


@pytest.fixture
def statuses():
    """The status codes each operation answered, by its label."""
    return collections.defaultdict(set)


@pytest.fixture
def api_schema(live_server, statuses):
    """The schema as the live app serves it, with an admin's token and real records in the mix."""
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/", timeout=30)
    admin = UserFactory(role="admin")
    schema.config.update(base_url=live_server.url)
    token = f"Token {admin.auth_token.key}"

    @schema.hook
    def flatmap_case(context, case):
        # Drawn by Hypothesis, so it shrinks and replays: the case as the fuzzer made it, or about real records.
        real = st.builds(
            about_real_records,
            st.just(case),
            referenced=st.booleans(),
            on_hold=st.booleans(),
            documents=st.lists(st.sampled_from(DOCUMENTS), min_size=1, max_size=3),
            category=st.sampled_from(["document", "report"]),
            conditions=st.sampled_from(DOWNLOAD_HEADERS),
            requester=st.just(admin),
        )
        return st.one_of(st.just(case), real)

    @schema.hook
    def flatmap_headers(context, headers):
        # The admin's token, but one request in four without it: the 401s are documented too.
        others = {name: value for name, value in (headers or {}).items() if name.lower() != "authorization"}
        return st.sampled_from([{**others, "Authorization": token}] * 3 + [others])

    @schema.hook
    def after_call(context, case, response):
        statuses[case.operation.label].add(response.status_code)

    return schema


def test_api_conforms_to_its_schema(api_schema, statuses, subtests):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 20, [operation.label for operation in operations]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            with subtests.test(f"{operation.label} ({mode.value})"):
                fuzz(operation, mode)

    never_succeeded = {
        label: codes
        for label, codes in statuses.items()
        if not any(200 <= c < 300 for c in codes) and not needs_presigning(label)
    }
    assert not never_succeeded, "operations the fuzzer never got through, with the statuses they gave"
    assert set(statuses) == {operation.label for operation in operations}


def test_direct_uploads_conform_to_the_schema_on_s3(on_s3, api_schema, statuses, subtests):
    operations = [
        operation
        for operation in (result.ok() for result in api_schema.get_all_operations())
        if needs_presigning(operation.label)
    ]
    assert len(operations) == 3, [operation.label for operation in operations]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            with subtests.test(f"{operation.label} ({mode.value})"):
                fuzz(operation, mode)

    assert {label: any(200 <= c < 300 for c in codes) for label, codes in statuses.items()} == {
        operation.label: True for operation in operations
    }


def fuzz(operation, mode: GenerationMode) -> None:
    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        print_blob=False,
        # Drawing a case writes records and the bodies are large: the speed and size checks would only flake.
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy(mode))
    def run(case):
        case.call_and_validate(checks=CHECKS, timeout=30)

    run()
