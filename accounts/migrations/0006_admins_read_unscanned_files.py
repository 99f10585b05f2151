"""Admins may download files the malware scanner has not found clean: they decide about failed scans."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def _permission(apps):
    return apps.get_model("auth", "Permission").objects.get(
        content_type__app_label="files", codename="read_unscanned_file"
    )


def grant(apps, schema_editor) -> None:
    # The new permission is normally created after all migrations have run; create it now.
    files = apps.get_app_config("files")
    files.models_module = True
    create_permissions(files, apps=apps, verbosity=0)
    files.models_module = None
    apps.get_model("auth", "Group").objects.get(name="admin").permissions.add(_permission(apps))


def revoke(apps, schema_editor) -> None:
    apps.get_model("auth", "Group").objects.get(name="admin").permissions.remove(_permission(apps))


class Migration(migrations.Migration):
    dependencies = [("accounts", "0005_admins_hold_and_link_accounts"), ("files", "0008_scanning")]

    operations = [migrations.RunPython(grant, revoke)]
