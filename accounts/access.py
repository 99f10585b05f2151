"""The clinic's access policy: which records, and so which files, each role reaches.

Plugged into the files app with ``FILES_PERMISSION_POLICY``, so every path that
reads or changes files (download, list, embed, upload, delete, signed URLs)
and every record endpoint asks the same rules:

- admins and receptionists reach every record, within their role's model
  permissions (receptionists view and add files, they do not delete them);
- a doctor reaches their own doctor record, their appointments and the
  patients of those appointments; they delete only files they uploaded;
- a patient's portal account reaches that patient's record only;
- anyone else reaches nothing;
- only admins place and release legal holds (``files.hold_file``) and link
  accounts to records (``accounts.link_accounts``);
- a file the malware scanner has not found clean is read only by its
  uploader and admins (``files.read_unscanned_file``; ``files.scanning``).

A role is a group (``accounts.roles``) holding model permissions; the admin
and receptionist roles also hold ``accounts.reach_all_records``. A doctor's or
patient's account reaches records through the record it is linked to
(``Doctor.user``, ``Patient.user``); with no link, it reaches nothing.
"""

import functools
import operator
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db.models import Q, QuerySet

from appointments.models import Appointment
from doctors.models import Doctor
from files.models import File, owner_models
from files.policy import DELETE, ModelPermissionPolicy
from patients.models import Patient


@dataclass(frozen=True)
class Reach:
    """The records a user reaches: all of them, or those of one doctor or one patient."""

    everything: bool = False
    doctor_id: object = None
    patient_id: object = None

    def records(self, model) -> Q | None:
        """The condition on ``model``'s records this reach covers; None for no record at all."""
        conditions = []
        if self.doctor_id is not None:
            conditions += _doctor_records(model, self.doctor_id)
        if self.patient_id is not None and model is Patient:
            conditions.append(Q(pk=self.patient_id))
        return functools.reduce(operator.or_, conditions) if conditions else None


def _doctor_records(model, doctor_id) -> list[Q]:
    if model is Doctor:
        return [Q(pk=doctor_id)]
    if model is Appointment:
        return [Q(doctor_id=doctor_id)]
    if model is Patient:
        return [Q(pk__in=Appointment.objects.filter(doctor_id=doctor_id).values("patient_id"))]
    return []


#: Granted to the admin and receptionist roles (``accounts/migrations/0003_...``).
REACH_ALL_RECORDS = "accounts.reach_all_records"
#: Granted to the admin role (``accounts/migrations/0005_...``): a linked account reaches its record.
LINK_ACCOUNTS = "accounts.link_accounts"


def user_reach(user) -> Reach:
    """What ``user`` reaches: every record, or those of the doctor or patient their account is linked to."""
    if not (user and user.is_authenticated and user.is_active):
        return Reach()
    if user.has_perm(REACH_ALL_RECORDS):
        return Reach(everything=True)
    links = get_user_model().objects.filter(pk=user.pk).values_list("doctor", "patient").first()
    return Reach(doctor_id=links[0], patient_id=links[1]) if links else Reach()


class ClinicPolicy(ModelPermissionPolicy):
    """Model permissions (what a role may do), narrowed to the records the user reaches."""

    def records_visible_to(self, user, records: QuerySet) -> QuerySet:
        return _narrowed(user_reach(user), records)

    def user_may_see_record(self, user, record) -> bool:
        # No query for a user who reaches every record (the base policy asks the database).
        return _reaches(user_reach(user), type(record), record.pk)

    def user_reaches_every_record(self, user) -> bool:
        return user_reach(user).everything

    def user_may_link(self, user, *, record, field: str, target) -> bool:
        if not super().user_may_link(user, record=record, field=field, target=target):
            return False
        if record is None or _linked_pk(record, field) == target.pk:
            return True
        # Re-pointing an existing record moves it, and its files, to another record (an appointment to
        # another patient): only for a user who reaches every record, never by a doctor between patients.
        return user_reach(user).everything

    def user_may_link_accounts(self, user) -> bool:
        return bool(user and user.is_active and user.has_perm(LINK_ACCOUNTS))

    def user_has_permission_for_owner(self, user, action: str, owner) -> bool:
        return super().user_has_permission_for_owner(user, action, owner) and self.user_may_see_record(user, owner)

    def user_has_permission_for_file(self, user, action: str, file) -> bool:
        if not super().user_has_permission_for_file(user, action, file):
            return False
        reach = user_reach(user)
        if action == DELETE and not reach.everything and file.uploaded_by_id != user.pk:
            return False  # a doctor deletes only what they uploaded
        return _reaches(reach, ContentType.objects.get_for_id(file.entity_type_id).model_class(), file.entity_id)

    def files_visible_to(self, user, files: QuerySet[File]) -> QuerySet[File]:
        files = super().files_visible_to(user, files)
        reach = user_reach(user)
        if reach.everything:
            return files
        reached = [
            Q(
                entity_type=ContentType.objects.get_for_model(model),
                entity_id__in=model.objects.filter(condition).values("pk"),
            )
            for model in owner_models()
            if (condition := reach.records(model)) is not None
        ]
        return files.filter(functools.reduce(operator.or_, reached)) if reached else files.none()


def _narrowed(reach: Reach, records: QuerySet) -> QuerySet:
    """``records`` narrowed to those ``reach`` covers."""
    if reach.everything:
        return records
    condition = reach.records(records.model)
    return records.filter(condition) if condition is not None else records.none()


def _linked_pk(record, field: str):
    """The primary key ``record``'s relation ``field`` points at now."""
    return getattr(record, record._meta.get_field(field).attname)


def _reaches(reach: Reach, model, pk) -> bool:
    return reach.everything or _narrowed(reach, model._default_manager.filter(pk=pk)).exists()
