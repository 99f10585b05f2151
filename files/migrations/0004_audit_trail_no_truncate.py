"""On PostgreSQL the audit table refuses TRUNCATE too: 0003's row trigger never fires for it.

A statement trigger, running 0003's function. The test suite's flush of
transactional tests, the one legitimate TRUNCATE, sets it aside inside its
own transaction (``tests/conftest.py``).
"""

from django.db import migrations

NO_TRUNCATE = """
CREATE TRIGGER files_auditevent_no_truncate BEFORE TRUNCATE ON files_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION files_auditevent_append_only()
"""
DROP_NO_TRUNCATE = "DROP TRIGGER files_auditevent_no_truncate ON files_auditevent"


def refuse_truncate(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":  # SQLite has no TRUNCATE
        schema_editor.execute(NO_TRUNCATE, params=None)


def allow_truncate(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_NO_TRUNCATE, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("files", "0003_audit_trail"),
    ]

    operations = [
        migrations.RunPython(refuse_truncate, allow_truncate),
    ]
