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
from files.download.serving import FileMeta, Reply, derivative_meta, error_reply, file_meta, reply
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


@dataclass(frozen=True, slots=True)
class Grant:
    """A download every rule allowed: what to serve, and whom the audit trail names.

    Remembered by credential and path (see :func:`_grant_key`) while the
    answers it was decided from are (``files.caching``): a page's second
    request for the same thumbnail repeats none of the checks' work, and is
    refused as soon as any of them would be. Only the URL's expiry and the
    bytes' presence are asked again on every download.
    """

    meta: FileMeta
    user_id: str
    username: str
    issued_to: str
    record_type: str
    #: A signed URL's expiry (Unix time); None for a token or a session, which are revalidated every time.
    expiry: int | None

    def named_in(self, attempt: Attempt) -> "Grant":
        """Have ``attempt`` name this grant's user, file and record; the grant itself."""
        attempt.user_id, attempt.username, attempt.issued_to = self.user_id, self.username, self.issued_to
        attempt.file_id, attempt.record_type, attempt.record_id = self.meta.id, self.record_type, self.meta.entity_id
        return self


class _Refused(Exception):
    """The rules said no: ``reply`` is the answer."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply


# Keyed by the request's own credential (a signed URL's query, a token header) and path: a credential that changes
# (another user's token, a URL signed again) is another key, and its grant is decided anew.
_grants: BoundedCache[Grant] = BoundedCache(size=20_000, ttl=conf.auth_cache_seconds)


def download_reply(environ: Mapping[str, str], *, path: str, user=None) -> Reply:
    """The whole answer to a request for the file at ``path`` (after the download prefix), audited.

    ``user`` is the session's user when Django's middleware ran; the fast
    path passes none and leaves requests with a session cookie to Django.
    """
    if environ.get("REQUEST_METHOD") not in {"GET", "HEAD"}:
        return error_reply(405, f'Method "{environ.get("REQUEST_METHOD")}" not allowed.', [("Allow", "GET, HEAD")])
    signed = "signature=" in environ.get("QUERY_STRING", "")
    attempt = Attempt(_DOWNLOAD, context=context_of(environ, signed=signed))
    try:
        answer = _served(_grant(environ, path, user, attempt, signed=signed), environ)
    except _Refused as refusal:
        answer = refusal.reply
    except (StorageUnavailable, OperationalError, InterfaceError) as error:
        answer = unavailable_reply(error)
    if answer.status in limits.COUNTED_STATUSES:
        answer, attempt = throttle_refusal(answer, attempt)
    detail = reply_detail(answer) if answer.status >= 400 else ""
    attempt.record_soon(status=answer.status, detail=detail or ("" if attempt.file_id else path))
    return answer


_DOWNLOAD = Action.DOWNLOAD  # a module's name is found faster than an enum's member, on every download


def _served(grant: Grant, environ: Mapping[str, str]) -> Reply:
    """The file's bytes as the serving mode sends them; 403 once a signed URL has expired, 404 once they are gone."""
    max_age = None
    if grant.expiry is not None:
        left = signing.seconds_left(grant.expiry)
        if left <= 0:
            raise _Refused(error_reply(403, signing.EXPIRED))
        max_age = int(left)
    return reply(grant.meta, environ, max_age=max_age) or error_reply(404, FILE_NOT_FOUND)


def _grant(environ: Mapping[str, str], path: str, user, attempt: Attempt, *, signed: bool) -> Grant:
    """What the request may download, remembered (a session's is decided every time); raises :class:`_Refused`."""
    key = _grant_key(environ, path, signed=signed)
    if key is None:
        return _decide(environ, path, user, attempt, signed=signed)
    grant = _grants.get(key) or _decided_and_remembered(key, environ, path, user, attempt, signed=signed)
    return grant.named_in(attempt)


def _decided_and_remembered(key: tuple, environ, path: str, user, attempt: Attempt, *, signed: bool) -> Grant:
    """Decide and remember. A function of its own: the closure's cells are made on a miss, not on every download."""
    return _grants.get_or_set(key, lambda: _decide(environ, path, user, attempt, signed=signed))


def _grant_key(environ: Mapping[str, str], path: str, *, signed: bool) -> tuple | None:
    """A signed URL's path and query, or a token header's path and header; None for anything else (a session).

    A credential is remembered only as long as a real one is: one user's
    padded or junk-laden variants of their own URL or header would otherwise
    each take a cache entry of the request line's size.
    """
    if signed:
        query = environ["QUERY_STRING"]
        return (path, query) if len(query) <= _LONGEST_REMEMBERED else None
    header = environ.get("HTTP_AUTHORIZATION", "")
    if header[:6].lower() == "token " and len(header) <= _LONGEST_REMEMBERED:
        return (path, None, header)
    return None


# A signed URL's query is about 110 characters (with download=1, 121), a token header 46.
_LONGEST_REMEMBERED = 256


def throttle_refusal(answer: Reply, attempt: Attempt) -> tuple[Reply, Attempt]:
    """A refusal, or 429 when its client is over ``FILES_REFUSAL_RATE``; allowed downloads never come here."""
    wait = limits.refusal_throttle(address=attempt.context.address)
    if wait is None:
        return answer, attempt
    return error_reply(429, str(Throttled(wait).detail), [("Retry-After", str(wait))]), attempt.throttled()


def _decide(environ: Mapping[str, str], path: str, user, attempt: Attempt, *, signed: bool) -> Grant:
    """Every rule, in order: a well-formed path, a credential, the user's role, the file, its policy, its scan."""
    match = FILE_PATH.fullmatch(path)
    if match is None:
        raise _Refused(error_reply(404, FILE_NOT_FOUND))
    attempt.file_id, attempt.record_id = match["file_id"], match["entity_id"]
    if signed:
        return _signed_grant(match, _query_values(environ["QUERY_STRING"]), attempt)
    principal = _token_principal(environ) if "HTTP_AUTHORIZATION" in environ else None
    principal = principal or (user if user is not None and user.is_authenticated else None)
    if principal is None:
        raise _Refused(error_reply(401, "Not authenticated", _CHALLENGE))
    attempt.by(principal)
    return _authorised_grant(match, principal, attempt)


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


def reply_detail(answer: Reply) -> str:
    """The ``detail`` of an error reply, for the audit trail."""
    if not isinstance(answer.body, list):
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


def _signed_grant(match: re.Match, query: dict[str, str], attempt: Attempt) -> Grant:
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
        raise _Refused(error_reply(403, str(error))) from None
    attempt.issued_to = issued_to
    principal = _principals.get_or_set(("user", issued_to), lambda: _load_user(issued_to))
    if principal is None:
        raise _Refused(error_reply(403, "Permission denied"))
    # The URL's user may have been deactivated, or lost their role or their reach to the record, since.
    return _authorised_grant(match, principal, attempt, expiry=expiry)


def _load_user(pk: str) -> Principal | None:
    """The principal of the user with id ``pk`` (from a verified signature, so a well-formed id), or None."""
    user = get_user_model()._default_manager.filter(pk=pk).first()
    return Principal.of(user) if user is not None else None


def _authorised_grant(match: re.Match, principal, attempt: Attempt, *, expiry: int | None = None) -> Grant:
    policy = config.current().policy
    if not policy.user_has_permission(principal, VIEW):
        raise _Refused(error_reply(403, "Permission denied"))
    meta = _meta(match)
    if meta is None:
        raise _Refused(error_reply(404, FILE_NOT_FOUND))
    attempt.on(meta)
    allowed = _decisions.get_or_set(
        (principal.pk, meta.id), lambda: policy.user_has_permission_for_file(principal, VIEW, meta)
    )
    if not allowed:
        raise _Refused(error_reply(403, "Permission denied"))
    if not scan_allows_read(user=principal, file=meta):
        raise _Refused(error_reply(403, NOT_SCANNED))
    return Grant(meta, attempt.user_id, attempt.username, attempt.issued_to, attempt.record_type, expiry)


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


def _token_principal(environ) -> Principal | None:
    """The principal of a ``Token <key>`` header, or None for another scheme; raises :class:`_Refused` (401)."""
    scheme, _, key = environ["HTTP_AUTHORIZATION"].partition(" ")
    if scheme.lower() != "token":
        return None
    key = key.strip()
    if not key or " " in key:
        raise _Refused(error_reply(401, "Invalid token header.", _CHALLENGE))
    try:
        return _principals.get_or_set(key, lambda: _load_principal(key))
    except AuthenticationFailed as error:
        raise _Refused(error_reply(401, str(error.detail), _CHALLENGE)) from None


def _load_principal(key: str) -> Principal:
    user, _ = TokenAuthentication().authenticate_credentials(key)
    return Principal.of(user)


def forget_token(key: str) -> None:
    """Stop trusting a token at once in this process (other processes: within the cache time)."""
    _principals.discard(key)
    _grants.clear()  # they are keyed by the header that carried the token; a deleted token is rare
