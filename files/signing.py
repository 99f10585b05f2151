"""Signed, expiring file URLs: a file's ``url`` loads with no header until it expires.

The signature is an HMAC (SHA-256, keyed from ``SECRET_KEY``) over the file
id, the owner's id, the extension, the expiry and the user the URL was issued
to, so it opens exactly one file's bytes and nothing else, checking it needs
no database, and the audit trail knows whose URL opened a file. Keys in
``SECRET_KEY_FALLBACKS`` still verify, so the secret can be rotated without
breaking the URLs already handed out.
"""

import functools
import hashlib
import hmac
import math
import time
from dataclasses import dataclass

from django.conf import settings

from files import conf

_SALT = "files.signed-url"
#: Export links are signed with a key of their own: no export signature can ever pass for a file's, nor the reverse.
_EXPORT_SALT = "files.export-link"


@dataclass(frozen=True)
class SignedQuery:
    expires: int
    issued_to: str
    signature: str

    def __str__(self) -> str:
        return f"expires={self.expires}&issued_to={self.issued_to}&signature={self.signature}"


EXPIRED = "File URL has expired"


class InvalidSignature(Exception):
    """A signed URL that was altered, made with an unknown key, or has expired."""


def sign(*, file_id: str, entity_id: str, extension: str, issued_to: str, now: float | None = None) -> SignedQuery:
    """Sign a file's path for the user ``issued_to`` (a user id), ``FILES_URL_LIFETIME`` seconds from ``now``.

    The expiry is rounded up to the next whole minute, so that a client
    reading the same record twice within a minute gets the same URL and its
    browser cache can answer the second time.
    """
    now = time.time() if now is None else now
    expires = math.ceil((now + conf.url_lifetime()) / 60) * 60
    signature = _signature(file_id, entity_id, extension, expires, issued_to, settings.SECRET_KEY)
    return SignedQuery(expires, issued_to, signature)


def verify(
    *,
    file_id: str,
    entity_id: str,
    extension: str,
    expires: str,
    issued_to: str,
    signature: str,
    now: float | None = None,
) -> int:
    """Return the expiry of a valid, unexpired signature; raise :class:`InvalidSignature` otherwise."""
    if not expires.isdigit() or len(expires) > 12 or not 0 < len(issued_to) <= 64:
        raise InvalidSignature("Invalid file URL signature")
    expiry = int(expires)
    for secret in (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS):
        if hmac.compare_digest(_signature(file_id, entity_id, extension, expiry, issued_to, secret), signature):
            break
    else:
        raise InvalidSignature("Invalid file URL signature")
    if seconds_left(expiry, now=now) <= 0:
        raise InvalidSignature(EXPIRED)
    return expiry


def seconds_left(expiry: int, *, now: float | None = None) -> float:
    """How long a URL valid until ``expiry`` stays valid; 0 or less once it has expired."""
    return expiry - (time.time() if now is None else now)


def export_signature(*, export_id: str, expires: int, issued_to: str, secret: str | None = None) -> str:
    """The signature of the link to export ``export_id`` for the user ``issued_to``, valid until ``expires``."""
    message = f"{export_id}/{expires}/{issued_to}"
    key = _key(settings.SECRET_KEY if secret is None else secret, _EXPORT_SALT)
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def export_verify(*, export_id: str, expires: str, issued_to: str, signature: str, now: float | None = None) -> int:
    """Return the expiry of a valid, unexpired export link; raise :class:`InvalidSignature` otherwise."""
    if not expires.isdigit() or len(expires) > 12:
        raise InvalidSignature("Invalid export link signature")
    expiry = int(expires)
    secrets = (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS)
    expected = (export_signature(export_id=export_id, expires=expiry, issued_to=issued_to, secret=s) for s in secrets)
    if not any(hmac.compare_digest(candidate, signature) for candidate in expected):
        raise InvalidSignature("Invalid export link signature")
    if expiry <= (time.time() if now is None else now):
        raise InvalidSignature("Export link has expired")
    return expiry


# A page asks for the same thumbnails' URLs again and again: a URL's signature is computed once, not per download.
@functools.lru_cache(maxsize=4096)
def _signature(file_id: str, entity_id: str, extension: str, expires: int, issued_to: str, secret: str) -> str:
    message = f"{file_id}/{entity_id}/{extension}/{expires}/{issued_to}"
    return hmac.new(_key(secret), message.encode(), hashlib.sha256).hexdigest()


@functools.lru_cache(maxsize=8)
def _key(secret: str, salt: str = _SALT) -> bytes:
    """The HMAC key for ``secret``, derived as Django's ``salted_hmac`` does, once per secret.

    Deriving it on every check was a tenth of a signed download's time.
    """
    return hashlib.sha256((salt + secret).encode()).digest()
