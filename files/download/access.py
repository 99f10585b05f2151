"""Who may read a file's bytes: signed URLs, tokens, sessions.

:func:`download_reply` answers ``GET``/``HEAD /static/{entity_id}/{file_id}{ext}``
completely — authentication, authorisation, then :func:`files.download.serving.reply`.
It works on a WSGI environ, so the same code runs in the WSGI fast path
(``files.download.wsgi``, before Django) and in the Django view behind it.

A signed URL's signature is checked without the database; the user it was
issued to must still be active and still may view the file. That user, a
token's user, their permissions and the policy's answer for each file are
cached for ``FILES_AUTH_CACHE_SECONDS`` (see ``files.caching``), so a
deactivated user's or a withdrawn role's URLs and tokens stop within that
time, and a warm download asks the database nothing. Whether the file still
exists is asked of storage every time, so a deleted file is 404 at once.

While storage or the database is down, a download is 503 with
``Retry-After``, never 500. A signed URL or token whose user and file this
process checked within ``FILES_AUTH_CACHE_SECONDS`` is still served while
the database is down (it needs no query); any other is 503.
"""

import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import InterfaceError, OperationalError
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed, Throttled

from files import conf, limits, signing
from files.audit import Action, Attempt, context_of
from files.caching import BoundedCache
from files.download import config
from files.download.serving import Reply, derivative_meta, error_reply, file_meta, reply
from files.download.versions import VERSION_ENDING, version_meta
from files.exceptions import (
    DATABASE_UNAVAILABLE,
    FILE_NOT_FOUND,
    NOT_SCANNED,
    RETRY_AFTER_SECONDS,
    StorageUnavailable,
)
from files.models import File
from files.policy import VIEW
from files.scanning import scan_allows_read

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# The only shapes a file's path under the download prefix has: {entity_id}/{file_id}{extension}, and
# {entity_id}/{file_id}.{variant}{extension} for a derivative (".thumbnail.webp"). The whole ending is
# signed as the extension, so a signed URL opens one variant of one file and nothing else.
FILE_PATH = re.compile(
    rf"(?P<entity_id>{_UUID})/(?P<file_id>{_UUID})(?P<extension>(?:\.[a-z][a-z0-9_]{{0,31}})?\.[a-z0-9]{{1,15}})"
)

_CHALLENGE = [("WWW-Authenticate", "Token")]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Principal:
    """A token's user as the download path knows it: enough to ask the permission policy."""

    pk: int
    username: str
    is_active: bool
    is_superuser: bool
    permissions: frozenset[str]
    is_authenticated = True
    is_anonymous = False

    def has_perm(self, perm: str, obj=None) -> bool:
        return self.is_active and (self.is_superuser or perm in self.permissions)

    @classmethod
    def of(cls, user) -> "Principal":
        return cls(
            pk=user.pk,
            username=user.get_username(),
            is_active=user.is_active,
            is_superuser=user.is_superuser,
            permissions=frozenset(user.get_all_permissions()),
        )


# A token's principal by its key, and a signed URL's by the id of the user it was issued to (None: no such user).
_principals: BoundedCache[Principal | None] = BoundedCache(size=20_000, ttl=conf.auth_cache_seconds)
# The policy's answer for (user, file): a record-level rule may cost queries, and a page asks for many files.
_decisions: BoundedCache[bool] = BoundedCache(size=100_000, ttl=conf.auth_cache_seconds)


def download_reply(environ: Mapping[str, str], *, path: str, user=None) -> Reply:
    """The whole answer to a request for the file at ``path`` (after the download prefix), audited.

    ``user`` is the session's user when Django's middleware ran; the fast
    path passes none and leaves requests with a session cookie to Django.
    """
    if environ.get("REQUEST_METHOD") not in {"GET", "HEAD"}:
        return error_reply(405, f'Method "{environ.get("REQUEST_METHOD")}" not allowed.', [("Allow", "GET, HEAD")])
    signed = "signature=" in environ.get("QUERY_STRING", "")
    attempt = Attempt(Action.DOWNLOAD, context=context_of(environ, signed=signed))
    try:
        answer = _answer(environ, path, user, attempt, signed=signed)
    except (StorageUnavailable, OperationalError, InterfaceError) as error:
        answer = unavailable_reply(error)
    if answer.status in limits.COUNTED_STATUSES:
        answer, attempt = _throttled(answer, attempt)
    attempt.record_soon(status=answer.status, detail=_detail(answer) or ("" if attempt.file_id else path))
    return answer


def _throttled(answer: Reply, attempt: Attempt) -> tuple[Reply, Attempt]:
    """A refusal, or 429 when its client is over ``FILES_REFUSAL_RATE``; allowed downloads never come here."""
    wait = limits.refusal_throttle(address=attempt.context.address)
    if wait is None:
        return answer, attempt
    return error_reply(429, str(Throttled(wait).detail), [("Retry-After", str(wait))]), attempt.throttled()


def _answer(environ: Mapping[str, str], path: str, user, attempt: Attempt, *, signed: bool) -> Reply:
    match = FILE_PATH.fullmatch(path)
    if match is None:
        return error_reply(404, FILE_NOT_FOUND)
    attempt.file_id, attempt.record_id = match["file_id"], match["entity_id"]
    if signed:
        return _signed_reply(environ, match, _query_values(environ["QUERY_STRING"]), attempt)
    principal = _token_principal(environ) if "HTTP_AUTHORIZATION" in environ else None
    if isinstance(principal, Reply):
        return principal
    principal = principal or (user if user is not None and user.is_authenticated else None)
    if principal is None:
        return error_reply(401, "Not authenticated", _CHALLENGE)
    attempt.by(principal)
    return _authorised_reply(environ, match, principal, attempt)


def unavailable_reply(error: Exception) -> Reply | None:
    """The 503 for an outage of storage or the database (logged), or None for any other error."""
    if isinstance(error, StorageUnavailable):
        detail = error.detail
    elif isinstance(error, OperationalError | InterfaceError):
        detail = DATABASE_UNAVAILABLE
    else:
        return None
    logger.warning("download unavailable: %s", error, exc_info=error)
    return error_reply(503, detail, [("Retry-After", str(RETRY_AFTER_SECONDS))])


def _detail(answer: Reply) -> str:
    """The ``detail`` of an error reply, for the audit trail."""
    if answer.status < 400 or not isinstance(answer.body, list):
        return ""
    if answer.status == 429:
        return limits.THROTTLED
    return json.loads(b"".join(answer.body)).get("detail", "")


def _query_values(query: str) -> dict[str, str]:
    """The first value of each parameter. A signed URL's parameters are plain ASCII, never encoded."""
    values: dict[str, str] = {}
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        values.setdefault(name, value)
    return values


def _signed_reply(environ, match: re.Match, query: dict[str, str], attempt: Attempt) -> Reply:
    issued_to = query.get("issued_to", "")
    try:
        expiry = signing.verify(
            file_id=match["file_id"],
            entity_id=match["entity_id"],
            extension=match["extension"],
            expires=query.get("expires", ""),
            issued_to=issued_to,
            signature=query.get("signature", ""),
        )
    except signing.InvalidSignature as error:
        # Anyone can write any id in a URL: only a verified signature says whom it was issued to.
        attempt.claimed_issued_to = issued_to
        return error_reply(403, str(error))
    attempt.issued_to = issued_to
    principal = _principals.get_or_set(("user", issued_to), lambda: _load_user(issued_to))
    if principal is None:
        return error_reply(403, "Permission denied")
    # The URL's user may have been deactivated, or lost their role or their reach to the record, since.
    return _authorised_reply(environ, match, principal, attempt, max_age=int(expiry - time.time()))


def _load_user(pk: str) -> Principal | None:
    """The principal of the user with id ``pk`` (from a verified signature, so a well-formed id), or None."""
    user = get_user_model()._default_manager.filter(pk=pk).first()
    return Principal.of(user) if user is not None else None


def _authorised_reply(environ, match: re.Match, principal, attempt: Attempt, *, max_age: int | None = None) -> Reply:
    policy = config.current().policy
    if not policy.user_has_permission(principal, VIEW):
        return error_reply(403, "Permission denied")
    meta = _meta(match)
    if meta is None:
        return error_reply(404, FILE_NOT_FOUND)
    attempt.on(meta)
    allowed = _decisions.get_or_set(
        (principal.pk, meta.id), lambda: policy.user_has_permission_for_file(principal, VIEW, meta)
    )
    if not allowed:
        return error_reply(403, "Permission denied")
    if not scan_allows_read(user=principal, file=meta):
        return error_reply(403, NOT_SCANNED)
    return reply(meta, environ, max_age=max_age) or error_reply(404, FILE_NOT_FOUND)


def _meta(match: re.Match):
    # A version's ending and a derivative's have two dots: ".v2.pdf", ".thumbnail.webp".
    ending = match["extension"]
    if ending.count(".") == 2:
        meta_of = version_meta if VERSION_ENDING.match(ending) else derivative_meta
    else:
        meta_of = file_meta
    try:
        return meta_of(file_id=match["file_id"], entity_id=match["entity_id"], extension=match["extension"])
    except File.DoesNotExist:
        return None


def _token_principal(environ) -> Principal | Reply | None:
    """The principal of an ``Authorization: Token <key>`` header, a 401 reply, or None for another scheme."""
    scheme, _, key = environ["HTTP_AUTHORIZATION"].partition(" ")
    if scheme.lower() != "token":
        return None
    key = key.strip()
    if not key or " " in key:
        return error_reply(401, "Invalid token header.", _CHALLENGE)
    try:
        return _principals.get_or_set(key, lambda: _load_principal(key))
    except AuthenticationFailed as error:
        return error_reply(401, str(error.detail), _CHALLENGE)


def _load_principal(key: str) -> Principal:
    user, _ = TokenAuthentication().authenticate_credentials(key)
    return Principal.of(user)


def forget_token(key: str) -> None:
    """Stop trusting a token at once in this process (other processes: within the cache time)."""
    _principals.discard(key)
