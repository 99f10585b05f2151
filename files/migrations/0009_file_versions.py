"""Versions of a file's content: every file gets its version 1 (its bytes as they are), and audit actions."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def first_versions(apps, schema_editor):
    """Version 1 of every existing file (trash included): its content and uploader as they are now."""
    File = apps.get_model("files", "File")
    FileVersion = apps.get_model("files", "FileVersion")
    fields = ["id", "storage_name", "size", "sha256", "media_type", "extension", "uploaded_by_id", "created_at"]
    batch = []
    for file in File.objects.values(*fields).iterator(chunk_size=2000):
        batch.append(
            FileVersion(
                file_id=file["id"],
                number=1,
                storage_name=file["storage_name"],
                size=file["size"],
                sha256=file["sha256"],
                media_type=file["media_type"],
                extension=file["extension"],
                created_by_id=file["uploaded_by_id"],
                created_at=file["created_at"],
            )
        )
        if len(batch) == 2000:
            FileVersion.objects.bulk_create(batch)
            batch = []
    FileVersion.objects.bulk_create(batch)


class Migration(migrations.Migration):

    dependencies = [
        ("files", "0008_scanning"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="file",
            name="version",
            field=models.PositiveIntegerField(default=1, help_text="The number of its current version (FileVersion)."),
        ),
        migrations.CreateModel(
            name="FileVersion",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("number", models.PositiveIntegerField()),
                ("storage_name", models.CharField(editable=False, max_length=255, unique=True)),
                ("size", models.PositiveBigIntegerField(help_text="In bytes.")),
                ("sha256", models.CharField(max_length=64, verbose_name="SHA-256")),
                ("media_type", models.CharField(max_length=127)),
                ("extension", models.CharField(max_length=16)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "file",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="versions", to="files.file"
                    ),
                ),
            ],
            options={
                "ordering": ["file", "number"],
                "constraints": [models.UniqueConstraint(fields=("file", "number"), name="files_version_unique_number")],
            },
        ),
        migrations.RunPython(first_versions, migrations.RunPython.noop),
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
                    ("replace", "Replace"),
                    ("export", "Export"),
                ],
                max_length=16,
            ),
        ),
    ]
