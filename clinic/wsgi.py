"""WSGI entry point, used by gunicorn in production.

Downloads of files take the fast path in front of Django (``files.download.wsgi``).
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")

django_application = get_wsgi_application()

# Imported once Django is set up: the fast path uses the files app's models.
from files.download.wsgi import FilesFastPath  # noqa: E402

application = FilesFastPath(django_application)
