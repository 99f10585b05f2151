"""Peer: Django's own ``django.views.static.serve``, as a fresh project would run it.

A whole project in one file: settings configured in code with DEBUG off and
the INSTALLED_APPS, MIDDLEWARE and TEMPLATES of a fresh ``startproject``, so
each request pays what a plain Django request pays (URL resolving, the
default middleware stack), and the view answers with a FileResponse
(sendfile through gunicorn's ``wsgi.file_wrapper``). Its URL:
``/static/<path>`` -> ``serve(document_root=BENCH_DATA_DIR)``.
"""

import os

import django
from django.conf import settings

DATA_DIR = os.environ["BENCH_DATA_DIR"]

settings.configure(
    DEBUG=False,
    SECRET_KEY="bench-peer-not-secret",  # noqa: S106 (a benchmark peer on loopback)
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=[
        "django.contrib.admin",
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.sessions",
        "django.contrib.messages",
        "django.contrib.staticfiles",
    ],
    MIDDLEWARE=[
        "django.middleware.security.SecurityMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    ],
    TEMPLATES=[
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "DIRS": [],
            "APP_DIRS": True,
            "OPTIONS": {
                "context_processors": [
                    "django.template.context_processors.request",
                    "django.contrib.auth.context_processors.auth",
                    "django.contrib.messages.context_processors.messages",
                ],
            },
        },
    ],
    # Never queried: no request touches the session or the user.
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    STATIC_URL="/assets/",
    USE_TZ=True,
)
django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402  (after settings)
from django.urls import path  # noqa: E402
from django.views.static import serve  # noqa: E402

urlpatterns = [path("static/<path:path>", serve, {"document_root": DATA_DIR})]

application = get_wsgi_application()
