from django.db import models


class ClinicAccess(models.Model):  # noqa: DJ008 (never instantiated)
    """No table: it holds the clinic-wide permissions that belong to no single model."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("reach_all_records", "Can reach every record of the clinic and its files"),
            ("link_accounts", "Can link a user account to a doctor's or patient's record"),
        ]
