"""Admins read the audit trail (in the Django admin); no role may change it."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def grant(apps, schema_editor) -> None:
    files = apps.get_app_config("files")
    files.models_module = True
    create_permissions(files, apps=apps, verbosity=0)
    files.models_module = None
    Permission = apps.get_model("auth", "Permission")
    apps.get_model("auth", "Group").objects.get(name="admin").permissions.add(
        Permission.objects.get(content_type__app_label="files", codename="view_auditevent")
    )


def revoke(apps, schema_editor) -> None:
    Permission = apps.get_model("auth", "Permission")
    apps.get_model("auth", "Group").objects.get(name="admin").permissions.remove(
        Permission.objects.get(content_type__app_label="files", codename="view_auditevent")
    )


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_record_reach_and_patient_role"), ("files", "0003_audit_trail")]

    operations = [migrations.RunPython(grant, revoke)]
