"""Settings for the test suite: the project's own, with a fixed secret and a fast hasher.

DATABASE_URL still picks the database (PostgreSQL in CI; SQLite by default).
"""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-secret-key")

from clinic.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Every download event is written at once, in the test's own transaction, so tests read it back directly.
FILES_AUDIT_FLUSH_SECONDS = 0

# Every test counts from nothing, in this process's memory (never a Redis that others use too); throttles are off
# but in the tests of them, which set their own low rates.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": None, "user": None, "uploads": None}}  # noqa: F405
FILES_REFUSAL_RATE = None
