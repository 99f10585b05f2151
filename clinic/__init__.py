# Loaded with Django, so that the files app's shared tasks are sent through the clinic's configured app.
from clinic.celery import app as celery_app

__all__ = ["celery_app"]
