"""The admin obeys the clinic's access policy, as the API does: each role sees and changes only what it reaches.

Every user here has staff status, which alone reaches nothing. The world:
the doctor's account is linked to doctor A, the patient's account to patient
A; A's appointment joins them; B's records are someone else's. Requests are
real POSTs through the admin, CSRF checked like a browser's.
"""

from dataclasses import dataclass

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.test import Client

from appointments.models import Appointment
from doctors.models import Doctor
from files import conf
from files.exceptions import HoldNotPermitted
from files.models import AuditEvent, File
from files.services import file_delete, legal_hold_set
from patients.models import Patient
from tests.factories import AppointmentFactory, DoctorFactory, FileFactory, PatientFactory, UserFactory

ROLES = ["admin", "receptionist", "doctor", "patient", "no role"]


class AdminSession:
    """A browser logged in to the admin: a CSRF-checking client, and the token its pages carry."""

    def __init__(self, user) -> None:
        self.user = user
        self.client = Client(enforce_csrf_checks=True)
        self.client.force_login(user)
        self.token = self.client.get("/admin/").context["csrf_token"]

    def get(self, url: str, data=None):
        return self.client.get(url, data)

    def post(self, url: str, data: dict):
        return self.client.post(url, {**data, "csrfmiddlewaretoken": self.token})

    def action(self, url: str, action: str, selected, **extra):
        return self.post(url, {"action": action, "_selected_action": [str(pk) for pk in selected], **extra})


@dataclass
class World:
    users: dict
    doctor_a: Doctor
    doctor_b: Doctor
    patient_a: Patient
    patient_b: Patient
    appointment_a: Appointment
    appointment_b: Appointment
    #: Files on patient A: one the doctor uploaded, one the admin did; on patient B; on appointment B.
    own_file: File
    others_file: File
    file_b: File
    appointment_file_b: File

    def session(self, role: str) -> AdminSession:
        return AdminSession(self.users[role])


@pytest.fixture
def world(db) -> World:
    users = {role: UserFactory(role=None if role == "no role" else role, is_staff=True) for role in ROLES}
    doctor_a, doctor_b = DoctorFactory(user=users["doctor"]), DoctorFactory()
    patient_a = PatientFactory(reg_number="PAT-A", user=users["patient"])
    patient_b = PatientFactory(reg_number="PAT-B", last_name="Elsewhere")
    appointment_a = AppointmentFactory(patient=patient_a, doctor=doctor_a)
    appointment_b = AppointmentFactory(patient=patient_b, doctor=doctor_b)
    return World(
        users=users,
        doctor_a=doctor_a,
        doctor_b=doctor_b,
        patient_a=patient_a,
        patient_b=patient_b,
        appointment_a=appointment_a,
        appointment_b=appointment_b,
        own_file=FileFactory(owner=patient_a, name="own.png", uploaded_by=users["doctor"]),
        others_file=FileFactory(owner=patient_a, name="others.png", uploaded_by=users["admin"]),
        file_b=FileFactory(owner=patient_b, name="b.png", uploaded_by=users["admin"]),
        appointment_file_b=FileFactory(owner=appointment_b, name="b-appointment.png", uploaded_by=users["admin"]),
    )


FILES, PATIENTS = "/admin/files/file/", "/admin/patients/patient/"
DOCTORS, APPOINTMENTS = "/admin/doctors/doctor/", "/admin/appointments/appointment/"
AUDIT = "/admin/files/auditevent/"


def listed(response) -> set:
    """The objects a change list shows, or its status when it refuses."""
    if response.status_code != 200:
        return {response.status_code}
    return set(response.context["cl"].result_list)


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# Lists, search, change pages.

EVERY_FILE = {"own_file", "others_file", "file_b", "appointment_file_b"}
REACHED = {
    "admin": {
        FILES: EVERY_FILE,
        PATIENTS: {"patient_a", "patient_b"},
        DOCTORS: {"doctor_a", "doctor_b"},
        APPOINTMENTS: {"appointment_a", "appointment_b"},
    },
    "receptionist": {
        FILES: EVERY_FILE,
        PATIENTS: {"patient_a", "patient_b"},
        DOCTORS: {"doctor_a", "doctor_b"},
        APPOINTMENTS: {"appointment_a", "appointment_b"},
    },
    "doctor": {
        FILES: {"own_file", "others_file"},
        PATIENTS: {"patient_a"},
        DOCTORS: {"doctor_a"},
        APPOINTMENTS: {"appointment_a"},
    },
    "patient": {FILES: {"own_file", "others_file"}, PATIENTS: {"patient_a"}, DOCTORS: 403, APPOINTMENTS: 403},
    "no role": {FILES: 403, PATIENTS: 403, DOCTORS: 403, APPOINTMENTS: 403},
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", [FILES, PATIENTS, DOCTORS, APPOINTMENTS])
def test_each_change_list_shows_only_what_the_role_reaches(world, role, page):
    expected = REACHED[role][page]

    response = world.session(role).get(page)

    assert listed(response) == ({expected} if isinstance(expected, int) else {getattr(world, n) for n in expected})


@pytest.mark.parametrize("role", ROLES)
def test_only_admins_read_the_audit_trail(world, role):
    session = world.session(role)

    statuses = (session.get(AUDIT).status_code, session.get(AUDIT + "export.csv").status_code)

    assert statuses == ((200, 200) if role == "admin" else (403, 403))


def test_staff_with_every_model_permission_but_no_role_reaches_nothing(world):
    user = UserFactory(is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label__in=["files", "patients", "doctors", "appointments"])
    )
    session = AdminSession(user)

    assert [listed(session.get(page)) for page in (FILES, PATIENTS, DOCTORS, APPOINTMENTS)] == [set()] * 4
    assert session.get(f"{FILES}{world.own_file.pk}/change/").status_code == 404
    assert session.get(f"{PATIENTS}{world.patient_a.pk}/change/").status_code == 404
    session.action(FILES, "delete_selected", [world.own_file.pk], post="yes")
    session.action(FILES, "hold_selected", [world.own_file.pk])
    assert File.objects.filter(pk=world.own_file.pk, legal_hold=False).exists()


@pytest.mark.parametrize(
    ("page", "query"),
    [
        (PATIENTS, "PAT-B"),
        (PATIENTS, "Elsewhere"),
        (FILES, "PAT-B"),
        (FILES, "b.png"),
        (APPOINTMENTS, "Elsewhere"),
    ],
)
def test_doctor_search_does_not_find_records_they_do_not_reach(world, page, query):
    assert listed(world.session("doctor").get(page, {"q": query})) == set()


def test_doctor_cannot_find_files_by_id_they_do_not_reach(world):
    response = world.session("doctor").get(FILES, {"q": str(world.file_b.pk)})

    assert listed(response) == set()


def test_autocomplete_offers_a_doctor_only_their_patients(world):
    query = {"app_label": "appointments", "model_name": "appointment", "field_name": "patient", "term": ""}

    response = world.session("doctor").get("/admin/autocomplete/", query)

    assert [result["id"] for result in response.json()["results"]] == [str(world.patient_a.pk)]


UNREACHED = {
    "doctor": ["file_b", "appointment_file_b", "patient_b", "doctor_b", "appointment_b"],
    "patient": ["file_b", "appointment_file_b", "patient_b"],
}


@pytest.mark.parametrize(
    ("role", "name"), [(role, name) for role, names in UNREACHED.items() for name in names], ids=str
)
@pytest.mark.parametrize("view", ["change", "history", "delete"])
def test_pages_of_what_the_user_does_not_reach_are_404(world, role, name, view):
    obj = getattr(world, name)
    url = f"/admin/{obj._meta.app_label}/{obj._meta.model_name}/{obj.pk}/{view}/"

    response = world.session(role).get(url)

    assert response.status_code == 404
    assert str(obj.pk) not in response.content.decode()


def test_doctor_cannot_delete_a_record_they_do_not_reach(world):
    response = world.session("doctor").post(f"{APPOINTMENTS}{world.appointment_b.pk}/delete/", {"post": "yes"})

    assert response.status_code == 404
    assert Appointment.objects.filter(pk=world.appointment_b.pk).exists()


def test_storage_report_counts_only_the_files_the_user_may_view(world):
    response = world.session("doctor").get(FILES + "report/")

    by_owner = dict(response.context["sections"])["By owner type"]["items"]
    assert [(row["name"], row["count"]) for row in by_owner] == [("patients patient", 2)]


@pytest.mark.parametrize("role", ["receptionist", "doctor", "patient", "no role"])
def test_only_admins_open_the_cleanup_page(world, role, django_capture_on_commit_callbacks):
    session = world.session(role)

    with django_capture_on_commit_callbacks(execute=True):
        page, repair = session.get(FILES + "cleanup/"), session.post(FILES + "cleanup/", {})

    assert (page.status_code, repair.status_code) == (403, 403)


# File actions: delete, restore, purge. A doctor deletes only what they uploaded, on records they reach.


def _live(file: File) -> bool:
    return File.objects.filter(pk=file.pk).exists()


def test_doctor_deletes_a_file_they_uploaded(world):
    response = world.session("doctor").post(f"{FILES}{world.own_file.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not _live(world.own_file)


@pytest.mark.parametrize("role", ["doctor", "receptionist", "patient"])
def test_deleting_a_file_someone_else_uploaded_is_403_and_keeps_it(world, role):
    response = world.session(role).post(f"{FILES}{world.others_file.pk}/delete/", {"post": "yes"})

    assert response.status_code == 403
    assert _live(world.others_file)


def test_doctor_bulk_delete_with_a_file_they_may_not_delete_is_refused_whole(world):
    selected = [world.own_file.pk, world.others_file.pk, world.file_b.pk]

    response = world.session("doctor").action(FILES, "delete_selected", selected, post="yes")

    assert response.status_code == 403
    assert _live(world.own_file) and _live(world.others_file) and _live(world.file_b)


@pytest.mark.parametrize("action", ["purge_selected", "restore_selected"])
def test_doctor_cannot_purge_or_restore_what_they_may_not_delete(world, action):
    for file in (world.others_file, world.file_b):
        file_delete(file=file, deleted_by=world.users["admin"])

    world.session("doctor").action(FILES, action, [world.others_file.pk, world.file_b.pk])

    trashed = File.all_objects.trashed()
    assert set(trashed.filter(pk__in=[world.others_file.pk, world.file_b.pk])) == {world.others_file, world.file_b}


def test_doctor_restores_a_file_they_deleted(world):
    file_delete(file=world.own_file, deleted_by=world.users["doctor"])

    world.session("doctor").action(FILES, "restore_selected", [world.own_file.pk])

    assert _live(world.own_file)


# Legal holds: placed and released by admins only, on files and on records, each on the audit trail.

HOLDABLE = [
    ("files", FILES, "own_file"),
    ("patients", PATIENTS, "patient_a"),
    ("appointments", APPOINTMENTS, "appointment_a"),
]


def _held(obj) -> bool:
    return type(obj)._base_manager.get(pk=obj.pk).legal_hold


def _holds_recorded(obj) -> list[tuple]:
    column = "file_id" if isinstance(obj, File) else "record_id"
    return list(
        AuditEvent.objects.filter(action__in=["hold", "release"], **{column: obj.pk})
        .order_by("id")
        .values_list("action", "outcome", "username", "via")
    )


@pytest.mark.parametrize(("kind", "page", "name"), HOLDABLE, ids=[h[0] for h in HOLDABLE])
def test_admin_places_and_releases_a_hold_and_each_is_on_the_audit_trail(world, kind, page, name):
    obj, session = getattr(world, name), world.session("admin")

    session.action(page, "hold_selected", [obj.pk])
    held = _held(obj)
    session.action(page, "hold_selected", [obj.pk])  # already held: nothing changes, nothing recorded
    session.action(page, "release_selected", [obj.pk])

    username = world.users["admin"].username
    assert (held, _held(obj)) == (True, False)
    assert _holds_recorded(obj) == [("hold", "allowed", username, "admin"), ("release", "allowed", username, "admin")]


@pytest.mark.parametrize("role", ["receptionist", "doctor", "patient", "no role"])
@pytest.mark.parametrize(("kind", "page", "name"), HOLDABLE, ids=[h[0] for h in HOLDABLE])
@pytest.mark.parametrize("action", ["hold_selected", "release_selected"])
def test_only_admins_place_or_release_holds(world, role, kind, page, name, action):
    obj = getattr(world, name)
    before = action == "release_selected"
    type(obj)._base_manager.filter(pk=obj.pk).update(legal_hold=before)

    world.session(role).action(page, action, [obj.pk])

    assert _held(obj) == before
    assert _holds_recorded(obj) == []


@pytest.mark.parametrize("role", ["receptionist", "doctor"])
def test_a_record_change_form_cannot_release_its_hold(world, role):
    Appointment.objects.filter(pk=world.appointment_a.pk).update(legal_hold=True)
    session = world.session(role)
    url = f"{APPOINTMENTS}{world.appointment_a.pk}/change/"
    page = session.get(url)

    # An unchecked box is simply absent from the POST: the form's way of clearing it.
    response = session.post(url, appointment_form(page, world.appointment_a))

    assert response.status_code == 302, response.content.decode()[:2000]
    assert _held(world.appointment_a)


def test_held_file_cannot_be_deleted_by_an_admin_either(world):
    session = world.session("admin")
    session.action(FILES, "hold_selected", [world.others_file.pk])

    response = session.post(f"{FILES}{world.others_file.pk}/delete/", {"post": "yes"})

    assert response.status_code == 403
    assert _live(world.others_file)


def inline_management(page) -> dict:
    """The management form fields of every inline on an admin change page."""
    data = {}
    for inline in page.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        for name in ("TOTAL_FORMS", "INITIAL_FORMS", "MIN_NUM_FORMS", "MAX_NUM_FORMS"):
            data[f"{inline.formset.prefix}-{name}"] = management[name].value()
    return data


def appointment_form(page, appointment: Appointment, **changes) -> dict:
    """The change form of ``appointment`` as its page shows it, with ``changes``."""
    return {
        **inline_management(page),
        "patient": str(appointment.patient_id),
        "doctor": str(appointment.doctor_id),
        "scheduled_at_0": f"{appointment.scheduled_at:%Y-%m-%d}",
        "scheduled_at_1": f"{appointment.scheduled_at:%H:%M:%S}",
        "reason": appointment.reason,
        **changes,
    }


# The rule behind the actions, in the core: whoever calls the hold service, the policy decides.


@pytest.mark.parametrize("role", ["receptionist", "doctor", "patient", "no role"])
@pytest.mark.parametrize("name", ["own_file", "patient_a"])
def test_hold_service_refuses_anyone_but_an_admin_and_records_nothing(world, role, name):
    target = getattr(world, name)

    with pytest.raises(HoldNotPermitted):
        legal_hold_set(target=target, held=True, by=world.users[role])

    assert not _held(target)
    assert _holds_recorded(target) == []


@pytest.mark.parametrize(("role", "allowed"), [("admin", True), ("receptionist", False), ("doctor", False)])
def test_only_admins_may_hold_and_link_accounts_by_the_policy(world, role, allowed):
    policy, user = conf.permission_policy(), world.users[role]

    assert (policy.user_may_hold(user), policy.user_may_link_accounts(user)) == (allowed, allowed)


def test_an_admin_may_not_hold_once_deactivated(world):
    admin = world.users["admin"]
    admin.is_active = False

    assert not conf.permission_policy().user_may_hold(admin, world.own_file)
