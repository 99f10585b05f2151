"""Fixtures for the record endpoints: patients, doctors and appointments, each described once.

The three are alike (CRUD, embedded ``files``, cascade delete), so most tests
take the parametrized ``record_type`` fixture and run once for each.
"""

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from unittest.mock import ANY

import pytest
from django.db import models
from uuid_utils.compat import uuid7

from appointments.models import Appointment
from doctors.models import Doctor
from files.models import File, FileVersion
from patients.models import Patient
from tests.factories import AppointmentFactory, DoctorFactory, PatientFactory
from tests.signed import SignedFileURL, version_json


def iso(value: dt.datetime) -> str:
    """A datetime as the API writes it: ISO 8601 in UTC, with a ``Z``."""
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class RecordType:
    """What the parametrized tests need to know about one kind of record."""

    plural: str
    model: type[models.Model]
    factory: Callable[..., models.Model]
    #: The fields a create must carry, in the order their errors are reported.
    required: tuple[str, ...]
    #: A valid create (or full update) body; creates the records it refers to.
    payload: Callable[[], dict[str, Any]]
    #: A valid partial update.
    changes: dict[str, Any]
    #: The record's JSON, "files" left out.
    fields_json: Callable[[Any], dict[str, Any]]

    @property
    def url(self) -> str:
        return f"/api/{self.plural}/"

    def detail_url(self, pk) -> str:
        return f"/api/{self.plural}/{pk}/"

    def files_url(self, pk) -> str:
        return f"/api/{self.plural}/{pk}/files/"


def _patient_payload() -> dict[str, Any]:
    patient = PatientFactory.build()
    return {"reg_number": patient.reg_number, "first_name": patient.first_name, "last_name": patient.last_name}


def _doctor_payload() -> dict[str, Any]:
    doctor = DoctorFactory.build()
    return {"first_name": doctor.first_name, "last_name": doctor.last_name, "specialty": "Radiology"}


def _appointment_payload() -> dict[str, Any]:
    return {
        "patient": str(PatientFactory().pk),
        "doctor": str(DoctorFactory().pk),
        "scheduled_at": "2026-03-04T09:30:00Z",
        "reason": "Check-up",
    }


PATIENTS = RecordType(
    plural="patients",
    model=Patient,
    factory=PatientFactory,
    required=("reg_number", "first_name", "last_name"),
    payload=_patient_payload,
    changes={"first_name": "Renamed"},
    fields_json=lambda p: {
        "id": str(p.pk),
        "reg_number": p.reg_number,
        "first_name": p.first_name,
        "last_name": p.last_name,
    },
)
DOCTORS = RecordType(
    plural="doctors",
    model=Doctor,
    factory=DoctorFactory,
    required=("first_name", "last_name"),
    payload=_doctor_payload,
    changes={"specialty": "Cardiology"},
    fields_json=lambda d: {
        "id": str(d.pk),
        "first_name": d.first_name,
        "last_name": d.last_name,
        "specialty": d.specialty,
    },
)
APPOINTMENTS = RecordType(
    plural="appointments",
    model=Appointment,
    factory=AppointmentFactory,
    required=("patient", "doctor", "scheduled_at"),
    payload=_appointment_payload,
    changes={"scheduled_at": "2026-05-06T14:15:00Z"},
    fields_json=lambda a: {
        "id": str(a.pk),
        "patient": str(a.patient_id),
        "doctor": str(a.doctor_id),
        "scheduled_at": iso(a.scheduled_at),
        "reason": a.reason,
    },
)
RECORD_TYPES = (PATIENTS, DOCTORS, APPOINTMENTS)


@pytest.fixture(params=RECORD_TYPES, ids=[t.plural for t in RECORD_TYPES])
def record_type(request) -> RecordType:
    """Each kind of record in turn."""
    return request.param


@pytest.fixture
def record(db, record_type):
    """One saved record of ``record_type``, without files or appointments."""
    return record_type.factory()


def perform(client, record_type: RecordType, action: str, record):
    """Do ``action`` (list, create, retrieve, update, delete or files) on ``record``'s endpoint."""
    if action == "list":
        return client.get(record_type.url)
    if action == "create":
        return client.post(record_type.url, record_type.payload(), format="json")
    if action == "retrieve":
        return client.get(record_type.detail_url(record.pk))
    if action == "update":
        return client.patch(record_type.detail_url(record.pk), record_type.changes, format="json")
    if action == "delete":
        return client.delete(record_type.detail_url(record.pk))
    if action == "files":
        return client.get(record_type.files_url(record.pk))
    raise ValueError(f"Unknown action {action!r}")


def record_json(record_type: RecordType, record, files=()) -> dict[str, Any]:
    """The whole JSON of ``record`` (read back from the database) with ``files`` (all of them: under the cap)."""
    record = record_type.model.objects.get(pk=record.pk)
    return {
        **record_type.fields_json(record),
        "files": [file_json(file) for file in files],
        "files_count": len(files),
        "files_url": f"http://testserver/api/files/?entity_id={record.pk}",
    }


def file_json(file: File, base: str = "http://testserver") -> dict[str, Any]:
    """The File object of ``file`` (read back from the database), as a record embeds it."""
    file = File.objects.get(pk=file.pk)
    return {
        "id": str(file.id),
        "type": file.category,
        "mime_type": file.extension,
        "entity_id": str(file.entity_id),
        "url": SignedFileURL(file, base),
        "name": file.name,
        "size": file.size,
        "content_type": file.media_type,
        "created_at": iso(file.created_at),
        # Signed like ``url`` once made (tests/files/test_derivatives.py checks them): null before.
        "thumbnail_url": ANY if file.ready_derivative("thumbnail") else None,
        "preview_url": ANY if file.ready_derivative("preview") else None,
        "width": file.width,
        "height": file.height,
        "pages": file.pages,
        "scan_status": file.scan_status,
        "version": 1,
        "versions": [version_json(file, base)],
    }


def give_ids_in_reverse_insertion_order(files: list[File]) -> list[File]:
    """Renumber ``files`` so that the first inserted has the highest id; return them ordered by id.

    UUIDv7 ids grow with time, so files made one after the other are already
    in id order, and a query without ``ORDER BY id`` would still list them
    "by id". Reversing the ids makes only a real ordering pass.
    """
    new_ids = sorted(uuid.UUID(str(uuid7())) for _ in files)
    for file, new_id in zip(files, reversed(new_ids), strict=True):
        File.objects.filter(pk=file.pk).update(id=new_id)
        FileVersion.objects.filter(file_id=file.pk).update(file_id=new_id)  # its constraint is checked at commit
    return list(File.objects.filter(pk__in=new_ids).order_by("id"))
