"""Create the clinic's role groups with their model permissions."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

_ALL = ("add", "change", "delete", "view")

ROLE_PERMISSIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "admin": {
        "files.file": _ALL,
        "patients.patient": _ALL,
        "doctors.doctor": _ALL,
        "appointments.appointment": _ALL,
    },
    "doctor": {
        "files.file": ("add", "view"),
        "patients.patient": ("view",),
        "doctors.doctor": ("view",),
        "appointments.appointment": ("change", "view"),
    },
    "receptionist": {
        "files.file": ("add", "view"),
        "patients.patient": ("add", "change", "view"),
        "doctors.doctor": ("view",),
        "appointments.appointment": _ALL,
    },
}


def create_roles(apps, schema_editor) -> None:
    # Permissions are normally created after all migrations have run; create
    # them now so that a fresh database gets its groups in one migrate.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, grants in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        for label, actions in grants.items():
            app_label, model = label.split(".")
            codenames = [f"{action}_{model}" for action in actions]
            group.permissions.add(
                *Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
            )


def delete_roles(apps, schema_editor) -> None:
    apps.get_model("auth", "Group").objects.filter(name__in=ROLE_PERMISSIONS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("files", "0001_initial"),
        ("patients", "0001_initial"),
        ("doctors", "0001_initial"),
        ("appointments", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_roles, delete_roles)]
