"""The clinic's Celery application: background jobs (derivatives, the trash's purge, reconciliation).

Configured from Django's settings (``CELERY_*``). Without ``CELERY_BROKER_URL``
the jobs run in the web process, once the transaction that asked for them
commits, so the quick start needs no other process. With it, run workers and
one beat (README.md, "Background jobs")::

    celery -A clinic worker --loglevel=INFO
    celery -A clinic beat --loglevel=INFO
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")

app = Celery("clinic")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
