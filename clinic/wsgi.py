"""WSGI entry point, used by gunicorn in production.

Downloads of files take the fast path in front of Django (``files.download.wsgi``).
"""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")

django_application = get_wsgi_application()

# Imported once Django is set up: the fast path uses the files app's models.
from files.download.wsgi import FilesFastPath  # noqa: E402

application = FilesFastPath(django_application)

# Django's modules, settings, URL patterns and models live as long as the process: moved out of the
# collector's generations, its collections look only at what requests make (a few per cent of a warm download).
gc.freeze()
