"""Who reaches which records, and the patient role.

- admins and receptionists reach every record (``accounts.reach_all_records``);
- doctors may delete files: the access policy (``accounts.access``) narrows it
  to the files they uploaded, on the records they reach;
- a patient's portal account views its own record and files.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "admin": {"accounts": ("reach_all_records",)},
    "receptionist": {"accounts": ("reach_all_records",)},
    "doctor": {"files": ("delete_file",)},
    "patient": {"files": ("view_file",), "patients": ("view_patient",)},
}


def _permissions(apps, grants):
    Permission = apps.get_model("auth", "Permission")
    for app_label, codenames in grants.items():
        yield from Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)


def grant(apps, schema_editor) -> None:
    # The new permission is normally created after all migrations have run; create it now.
    accounts = apps.get_app_config("accounts")
    accounts.models_module = True
    create_permissions(accounts, apps=apps, verbosity=0)
    accounts.models_module = None

    Group = apps.get_model("auth", "Group")
    for role, grants in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(*_permissions(apps, grants))


def revoke(apps, schema_editor) -> None:
    Group = apps.get_model("auth", "Group")
    for role, grants in GRANTS.items():
        group = Group.objects.get(name=role)
        group.permissions.remove(*_permissions(apps, grants))
    Group.objects.filter(name="patient").delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_clinic_access")]

    operations = [migrations.RunPython(grant, revoke)]
