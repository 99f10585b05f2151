from django.conf import settings
from django.db import models
from uuid_utils.compat import uuid7

from files.models import FileOwner


class Patient(FileOwner):
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    reg_number = models.CharField("registration number", max_length=32, unique=True, help_text='e.g. "PAT-001"')
    first_name = models.CharField(max_length=150)
    last_name = models.CharField(max_length=150)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="patient",
        help_text="The patient's own portal account: it sees this record's files and nothing else.",
    )

    class Meta:
        ordering = ["reg_number"]

    def __str__(self) -> str:
        return f"{self.reg_number} {self.first_name} {self.last_name}"

    def export_records(self) -> list:
        """What a patient's export holds (files.export): this record's files and its appointments'."""
        return [self, *self.appointments.all()]
