"""Legal holds: a permission to place and release them, and their events on the audit trail."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("files", "0004_audit_trail_no_truncate")]

    operations = [
        migrations.AlterModelOptions(
            name="file",
            options={
                "base_manager_name": "all_objects",
                "ordering": ["id"],
                "permissions": [("hold_file", "Can place files and records on legal hold and release them")],
            },
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="action",
            field=models.CharField(
                choices=[
                    ("upload", "Upload"),
                    ("download", "Download"),
                    ("delete", "Delete"),
                    ("restore", "Restore"),
                    ("purge", "Purge"),
                    ("hold", "Hold"),
                    ("release", "Release"),
                ],
                max_length=16,
            ),
        ),
    ]
