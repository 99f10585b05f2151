"""ASGI entry point.

The supported production server is WSGI (gunicorn): Django under ASGI reads a
synchronous FileResponse whole into memory before sending it, which a files
service must not do with large scans. This module exists for tooling that
expects it.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")

application = get_asgi_application()
