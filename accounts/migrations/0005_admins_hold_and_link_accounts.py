"""Only admins place and release legal holds and link user accounts to doctors' and patients' records.

Both are grants: a hold decides what may never be deleted, and a linked
account reaches the record (and its files) it is linked to.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {"files": ("hold_file",), "accounts": ("link_accounts",)}


def _admin_permissions(apps):
    Permission = apps.get_model("auth", "Permission")
    for app_label, codenames in GRANTS.items():
        yield from Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)


def grant(apps, schema_editor) -> None:
    # The new permissions are normally created after all migrations have run; create them now.
    for app_label in GRANTS:
        app_config = apps.get_app_config(app_label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    apps.get_model("auth", "Group").objects.get(name="admin").permissions.add(*_admin_permissions(apps))


def revoke(apps, schema_editor) -> None:
    apps.get_model("auth", "Group").objects.get(name="admin").permissions.remove(*_admin_permissions(apps))


class Migration(migrations.Migration):
    dependencies = [("accounts", "0004_admins_read_the_audit_trail"), ("files", "0005_audit_hold_actions")]

    operations = [
        migrations.AlterModelOptions(
            name="clinicaccess",
            options={
                "default_permissions": (),
                "managed": False,
                "permissions": [
                    ("reach_all_records", "Can reach every record of the clinic and its files"),
                    ("link_accounts", "Can link a user account to a doctor's or patient's record"),
                ],
            },
        ),
        migrations.RunPython(grant, revoke),
    ]
