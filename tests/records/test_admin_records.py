"""Record edits in the admin follow the same rules as the API: links between records, account links, uploads.

A doctor may change their appointments but never move one (to another
patient or doctor): that would move its files, and reach, with it. Only
admins link a record to a user account (``Patient.user``, ``Doctor.user``),
which gives that account the record and its files. Every edit is a real
POST through the admin, CSRF checked.
"""

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile

from appointments.models import Appointment
from demo import samples
from doctors.models import Doctor
from files.models import File
from patients.models import Patient
from tests.factories import AppointmentFactory, DoctorFactory, PatientFactory, UserFactory
from tests.files.test_admin_access import APPOINTMENTS, AdminSession, appointment_form, inline_management


@pytest.fixture
def doctor_session(doctor_user) -> AdminSession:
    doctor_user.is_staff = True
    doctor_user.save()
    return AdminSession(doctor_user)


@pytest.fixture
def appointment(doctor_session):
    """An appointment of the doctor whose session it is."""
    return AppointmentFactory(doctor=DoctorFactory(user=doctor_session.user))


def _unmoved(appointment: Appointment) -> bool:
    return Appointment.objects.filter(
        pk=appointment.pk, patient_id=appointment.patient_id, doctor_id=appointment.doctor_id
    ).exists()


def _post_appointment(session: AdminSession, appointment: Appointment, **changes):
    url = f"{APPOINTMENTS}{appointment.pk}/change/"
    return session.post(url, appointment_form(session.get(url), appointment, **changes))


def test_doctor_changes_their_appointments_other_fields(doctor_session, appointment):
    response = _post_appointment(doctor_session, appointment, reason="Follow-up")

    assert response.status_code == 302
    assert Appointment.objects.get(pk=appointment.pk).reason == "Follow-up"


@pytest.mark.parametrize("target", ["another of their patients", "a patient they do not reach"])
def test_doctor_cannot_move_their_appointment_to_another_patient(doctor_session, appointment, target):
    patient = PatientFactory()
    if target == "another of their patients":
        AppointmentFactory(patient=patient, doctor=appointment.doctor)

    response = _post_appointment(doctor_session, appointment, patient=str(patient.pk))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["patient"]
    assert _unmoved(appointment)


def test_doctor_cannot_hand_their_appointment_to_another_doctor(doctor_session, appointment):
    response = _post_appointment(doctor_session, appointment, doctor=str(DoctorFactory().pk))

    assert response.status_code == 200
    assert _unmoved(appointment)


def test_doctor_cannot_take_another_doctors_appointment(doctor_session, appointment):
    theirs = AppointmentFactory()
    url = f"{APPOINTMENTS}{theirs.pk}/change/"

    response = doctor_session.post(
        url, {"patient": theirs.patient_id, "doctor": appointment.doctor_id, "scheduled_at_0": "2026-03-04"}
    )

    assert response.status_code == 404
    assert _unmoved(theirs)


def test_doctor_is_offered_only_records_they_reach(doctor_session, appointment):
    AppointmentFactory()  # another doctor's, with another patient

    form = doctor_session.get(f"{APPOINTMENTS}{appointment.pk}/change/").context["adminform"].form

    assert list(form.fields["patient"].queryset) == [appointment.patient]
    assert list(form.fields["doctor"].queryset) == [appointment.doctor]


def test_receptionist_moves_an_appointment(receptionist, appointment):
    receptionist.is_staff = True
    receptionist.save()
    patient = PatientFactory()

    response = _post_appointment(AdminSession(receptionist), appointment, patient=str(patient.pk))

    assert response.status_code == 302
    assert Appointment.objects.get(pk=appointment.pk).patient == patient


def test_doctor_uploads_to_their_appointment_but_not_to_another(doctor_session, appointment):
    theirs = AppointmentFactory()

    mine, refused = (_upload(doctor_session, record) for record in (appointment, theirs))

    assert (mine.status_code, refused.status_code) == (302, 404)
    assert list(File.objects.values_list("entity_id", flat=True)) == [appointment.pk]


def _upload(session: AdminSession, appointment: Appointment):
    url = f"{APPOINTMENTS}{appointment.pk}/change/"
    page = session.get(url)
    if page.status_code == 200:
        form = appointment_form(page, appointment)
        prefix = next(
            f.formset.prefix for f in page.context["inline_admin_formsets"] if f.opts.verbose_name == "new file"
        )
    else:  # what a forged form would send
        form = {"patient": appointment.patient_id, "doctor": appointment.doctor_id, "scheduled_at_0": "2026-03-04"}
        prefix = "files-file-entity_type-entity_id-2"  # the second inline of its model
        form |= {f"{prefix}-TOTAL_FORMS": "1", f"{prefix}-INITIAL_FORMS": "0"}
    upload = SimpleUploadedFile("x.png", samples.png_bytes())
    return session.post(url, {**form, f"{prefix}-0-upload_category": "scan", f"{prefix}-0-upload": upload})


def test_admin_upload_asks_the_policy_not_only_the_model_permission(db):
    # May change appointments and add files, but the policy also wants the view permission on the record type.
    user = UserFactory(is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["change_appointment", "add_file", "reach_all_records"])
    )
    appointment = AppointmentFactory()

    response = _upload(AdminSession(user), appointment)

    assert response.status_code == 403
    assert not File.objects.exists()


# Account links: only admins give an account a record.

RECORDS_WITH_ACCOUNTS = {
    "patient": (
        PatientFactory,
        lambda p: {"reg_number": p.reg_number, "first_name": p.first_name, "last_name": p.last_name},
    ),
    "doctor": (DoctorFactory, lambda d: {"first_name": d.first_name, "last_name": d.last_name, "specialty": ""}),
}


def _post_record(session: AdminSession, record, **changes):
    url = f"/admin/{record._meta.app_label}/{record._meta.model_name}/{record.pk}/change/"
    page = session.get(url)
    fields = RECORDS_WITH_ACCOUNTS[record._meta.model_name][1](record)
    return session.post(url, {**inline_management(page), **fields, **changes})


def _linked_user(record) -> int | None:
    return type(record).objects.get(pk=record.pk).user_id


@pytest.mark.parametrize("kind", list(RECORDS_WITH_ACCOUNTS))
def test_receptionist_cannot_link_or_unlink_an_account(receptionist, kind):
    receptionist.is_staff = True
    receptionist.save()
    session, portal_account = AdminSession(receptionist), UserFactory()
    factory = RECORDS_WITH_ACCOUNTS[kind][0]
    unlinked, linked = factory(), factory(user=UserFactory())

    _post_record(session, unlinked, user=str(portal_account.pk))
    _post_record(session, linked, user="")

    assert _linked_user(unlinked) is None
    assert _linked_user(linked) == linked.user_id


@pytest.mark.parametrize("kind", list(RECORDS_WITH_ACCOUNTS))
def test_admin_links_an_account(admin, kind):
    admin.is_staff = True
    admin.save()
    portal_account = UserFactory()
    record = RECORDS_WITH_ACCOUNTS[kind][0]()

    response = _post_record(AdminSession(admin), record, user=str(portal_account.pk))

    assert response.status_code == 302
    assert _linked_user(record) == portal_account.pk


def test_receptionist_adds_a_patient_without_an_account(receptionist):
    receptionist.is_staff = True
    receptionist.save()
    session = AdminSession(receptionist)
    page = session.get("/admin/patients/patient/add/")

    session.post(
        "/admin/patients/patient/add/",
        {
            **inline_management(page),
            "reg_number": "PAT-9",
            "first_name": "A",
            "last_name": "B",
            "user": UserFactory().pk,
        },
    )

    assert Patient.objects.get(reg_number="PAT-9").user is None


def test_doctor_record_account_field_is_read_only_for_a_doctor(doctor_session, appointment):
    page = doctor_session.get(f"/admin/doctors/doctor/{appointment.doctor_id}/change/")

    assert page.status_code == 200
    assert 'name="user"' not in page.content.decode()
    assert Doctor.objects.get(pk=appointment.doctor_id).user == doctor_session.user
