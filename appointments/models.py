from django.db import models
from uuid_utils.compat import uuid7

from doctors.models import Doctor
from files.models import FileOwner
from patients.models import Patient


class Appointment(FileOwner):
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    # PROTECT: a patient or doctor with appointments on record is not deleted by accident.
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="appointments")
    doctor = models.ForeignKey(Doctor, on_delete=models.PROTECT, related_name="appointments")
    scheduled_at = models.DateTimeField()
    reason = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["scheduled_at", "id"]

    def __str__(self) -> str:
        return f"{self.patient} with {self.doctor} at {self.scheduled_at:%Y-%m-%d %H:%M}"
