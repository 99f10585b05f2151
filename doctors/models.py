from django.conf import settings
from django.db import models
from uuid_utils.compat import uuid7

from files.models import FileOwner


class Doctor(FileOwner):
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    first_name = models.CharField(max_length=150)
    last_name = models.CharField(max_length=150)
    specialty = models.CharField(max_length=150, blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="doctor",
        help_text="The doctor's account: it sees this record and the patients and appointments assigned to it.",
    )

    class Meta:
        ordering = ["last_name", "first_name", "id"]

    def __str__(self) -> str:
        return f"Dr {self.first_name} {self.last_name}"
