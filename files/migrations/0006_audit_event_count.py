"""Each audit event says how many attempts it records (``count``): repeats of a refusal are counted, not each kept.

Existing events record one attempt each. On PostgreSQL the column is added
with its default in the catalogue: no existing row is rewritten, so the
append-only triggers (0003, 0004) are neither fired nor set aside.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('files', '0005_audit_hold_actions'),
    ]

    operations = [
        migrations.AddField(
            model_name='auditevent',
            name='count',
            field=models.PositiveIntegerField(default=1, help_text='How many attempts it records: more than 1 for the repeats, in one minute, of a refusal recorded just before (the last at its time).'),
        ),
    ]
