"""Settings for the clinic backend.

Everything that differs between a laptop, CI and production comes from the
environment; the defaults give a working local service on SQLite and local
disk. Every variable is listed in README.md.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("CLINIC_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG")

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Set DJANGO_SECRET_KEY (or DJANGO_DEBUG=1 for local development).")
    SECRET_KEY = "insecure-local-development-key-never-use-in-production"  # noqa: S105 (DEBUG only)
SECRET_KEY_FALLBACKS = env_list("DJANGO_SECRET_KEY_FALLBACKS", "")

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "files",
    "patients",
    "doctors",
    "appointments",
    "accounts",
    "demo",
]

MIDDLEWARE = [
    "clinic.logs.RequestIdMiddleware",
    "files.audit.AuditContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Answers a login refused for too many failures with 429 (clinic/logins.py).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "clinic.urls"
WSGI_APPLICATION = "clinic.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "clinic" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# DATABASE_URL picks the database; without it the service runs on an SQLite
# file so that the quick start needs no server.
if "DATABASE_URL" not in os.environ:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}


def postgres_timeouts(database: dict, *, connect_timeout: int, statement_timeout: float) -> None:
    """Bound every wait on PostgreSQL: a connection that does not open, a statement that does not end.

    A request then fails (503) within seconds instead of holding its thread
    while the server hangs. ``statement_timeout`` is in seconds, 0 for none
    (a long migration: ``DATABASE_STATEMENT_TIMEOUT=0 manage.py migrate``).
    """
    if database["ENGINE"] != "django.db.backends.postgresql":
        return
    options = database.setdefault("OPTIONS", {})
    options.setdefault("connect_timeout", connect_timeout)
    server_options = f"-c statement_timeout={int(statement_timeout * 1000)}"
    options["options"] = f"{options['options']} {server_options}" if options.get("options") else server_options


postgres_timeouts(
    DATABASES["default"],
    connect_timeout=int(os.environ.get("DATABASE_CONNECT_TIMEOUT", "5")),
    statement_timeout=float(os.environ.get("DATABASE_STATEMENT_TIMEOUT", "30")),
)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Password logins (the admin's, the browsable API's) lock a client address out after
# LOGIN_FAILURE_LIMIT failures for LOGIN_LOCKOUT_MINUTES, the right password included (clinic/logins.py).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=float(os.environ.get("LOGIN_LOCKOUT_MINUTES", "15")))
# By address: by user name, anyone could lock the clinic's admins out.
AXES_LOCKOUT_PARAMETERS = ["ip_address"]
# Attempts while locked out are not recorded: they neither write rows nor push the end of the lockout away.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_CLIENT_IP_CALLABLE = "clinic.logins.client_ip"
AXES_LOCKOUT_CALLABLE = "clinic.logins.locked_out"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# /static/ belongs to the Files API (the URL existing clients use for uploaded
# files), so Django's own assets (admin, browsable API) live under /assets/.
STATIC_URL = "/assets/"
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", VAR_DIR / "assets"))

# Uploaded files. FILES_ROOT is where the local-disk backend keeps the bytes;
# nothing there is ever served by a generic static handler.
FILES_ROOT = Path(os.environ.get("FILES_ROOT", VAR_DIR / "files"))

# FILES_BACKEND picks where the bytes live: "local" disk (default) or "s3"
# (AWS S3, MinIO, Ceph: any S3-protocol store).
FILES_BACKEND = os.environ.get("FILES_BACKEND", "local")
if FILES_BACKEND == "s3":
    _files_storage = {
        "BACKEND": "files.storages.S3FileStorage",
        "OPTIONS": {
            "bucket_name": os.environ.get("AWS_STORAGE_BUCKET_NAME", "clinic-files"),
            "endpoint_url": os.environ.get("AWS_S3_ENDPOINT_URL") or None,
            "region_name": os.environ.get("AWS_S3_REGION_NAME") or None,
            "access_key": os.environ.get("AWS_ACCESS_KEY_ID") or None,
            "secret_key": os.environ.get("AWS_SECRET_ACCESS_KEY") or None,
            "addressing_style": os.environ.get("AWS_S3_ADDRESSING_STYLE") or None,
            "signature_version": "s3v4",
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
elif FILES_BACKEND == "local":
    _files_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "location": FILES_ROOT,
            "base_url": None,
            # Patients' documents: readable by the service's user only.
            "file_permissions_mode": 0o600,
            "directory_permissions_mode": 0o700,
        },
    }
else:
    raise ImproperlyConfigured(f'FILES_BACKEND must be "local" or "s3", not {FILES_BACKEND!r}')

STORAGES = {
    "default": _files_storage,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Who reaches which record and its files: the clinic's roles (accounts/access.py).
FILES_PERMISSION_POLICY = "accounts.access.ClinicPolicy"

# The files app's settings an operator may set from the environment. An unset
# (or empty) variable leaves the app's own default, written in files/conf.py only.
_FILES_ENVIRONMENT = {
    "FILES_PUBLIC_BASE_URL": str,
    "FILES_SERVE_MODE": str,
    "FILES_URL_LIFETIME": int,
    "FILES_ACCEL_PREFIX": str,
    "FILES_REDIRECT_LIFETIME": int,
    "FILES_AUTH_CACHE_SECONDS": float,
    "FILES_TRASH_RETENTION_DAYS": float,
    "FILES_MAX_UPLOAD_SIZE": int,
    "FILES_MAX_REQUEST_SIZE": int,
    "FILES_MAX_IMAGE_PIXELS": int,
    "FILES_MAX_FILES_PER_REQUEST": int,
    "FILES_EMBED_LIMIT": int,
    "FILES_AUDIT_FLUSH_SECONDS": float,
    # Behind a proxy that sets it (deploy/nginx.conf sets X-Real-IP): the client's address for the audit trail.
    "FILES_CLIENT_ADDRESS_HEADER": str,
    "FILES_REFUSAL_RATE": str,
    "FILES_STORAGE_CONNECT_TIMEOUT": float,
    "FILES_STORAGE_READ_TIMEOUT": float,
    "FILES_STORAGE_MAX_ATTEMPTS": int,
    "FILES_STORAGE_CONCURRENCY": int,
    "FILES_STORAGE_WAIT": float,
    "FILES_CLAMD": str,
    "FILES_CLAMD_TIMEOUT": float,
    "FILES_PENDING_DOWNLOADS": str,
    "FILES_RESUMABLE_LIFETIME": int,
    "FILES_DIRECT_UPLOAD_LIFETIME": int,
    "FILES_DIRECT_UPLOAD_GRACE": int,
}
globals().update({name: parse(os.environ[name]) for name, parse in _FILES_ENVIRONMENT.items() if os.environ.get(name)})

# Django's cache holds the throttles' counts. REDIS_URL (e.g. redis://redis:6379/0) shares them between
# processes and hosts, as production needs; without it each process counts alone in its memory (the quick start).
if os.environ.get("REDIS_URL"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["REDIS_URL"],
            "KEY_PREFIX": "clinic",
            # An unreachable Redis costs a request half a second at most: the throttles then count nothing.
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Uploads are streamed to temporary files, never held whole in memory, hashed
# and size-checked as they arrive.
FILE_UPLOAD_HANDLERS = ["files.uploads.HashingUploadHandler"]
# The service's own folder for them: files_cleanup removes what a killed worker left there.
FILES_UPLOAD_TEMP_DIR = Path(os.environ.get("FILES_UPLOAD_TEMP_DIR", VAR_DIR / "upload-tmp"))

# Background jobs (clinic/celery.py, files/tasks.py). With a broker (Redis), workers run them; without
# one (the quick start) they run in the web process once the transaction that asked for them commits.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Decoding photos is heavy: a worker takes one job at a time, and a process that grew is replaced.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_MAX_MEMORY_PER_CHILD = int(os.environ.get("CELERY_WORKER_MAX_MEMORY_PER_CHILD", "300000"))  # KiB
CELERY_BEAT_SCHEDULE = {
    "purge-expired-trash": {"task": "files.tasks.purge_expired_trash", "schedule": crontab(hour=3, minute=0)},
    "reconciliation-report": {"task": "files.tasks.reconciliation_report", "schedule": crontab(hour=4, minute=30)},
    # Files left pending while clamd was down, and those stored before scanning: scanned again.
    "scan-pending-files": {"task": "files.tasks.scan_pending_files", "schedule": crontab(minute="*/10")},
}

REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header makes a request without
    # credentials a 401, as the API's clients expect, rather than a 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["clinic.permissions.ModelPermissions"],
    # DRF's three, the JSON one refusing a body nested too deeply as a 422 rather than a 500.
    "DEFAULT_PARSER_CLASSES": [
        "clinic.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PAGINATION_CLASS": "clinic.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "clinic.errors.exception_handler",
    # drf-spectacular's, documenting the error responses every operation can give (clinic.errors).
    "DEFAULT_SCHEMA_CLASS": "clinic.schema.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Requests per client address (anonymous) and per user; uploads have their own, stricter rate per user.
    "DEFAULT_THROTTLE_CLASSES": ["files.api.throttling.AnonRateThrottle", "files.api.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.environ.get("API_THROTTLE_ANON", "120/minute"),
        "user": os.environ.get("API_THROTTLE_USER", "1200/minute"),
        "uploads": os.environ.get("API_THROTTLE_UPLOADS", "60/minute"),
    },
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Clinic files service",
    "DESCRIPTION": (
        "Records (patients, doctors, appointments) and the files they own. A File object's `url` is "
        "signed and loads with no header until it expires; `GET /static/...` returns the file's bytes."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and ReDoc from the installed sidecar package: clinics run on closed networks.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "files.api.schema.add_file_download"],
}

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("DJANGO_BEHIND_TLS_PROXY") else None
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "clinic.logs.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "clinic.logs.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            # JSON lines for the log collector; DJANGO_LOG_FORMAT=text for a person at a terminal.
            "formatter": os.environ.get("DJANGO_LOG_FORMAT", "text" if DEBUG else "json"),
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
}
