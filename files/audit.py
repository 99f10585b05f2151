"""The audit trail: who uploaded, downloaded or deleted which file, or tried to, from where, and how it ended.

Uploads and deletions are recorded in their own transaction by
``files.services``: the event commits with the change or not at all.
Downloads are many and on the hot path, so their events are written in
batches, every ``FILES_AUDIT_FLUSH_SECONDS`` (1 s; 0 writes each one at once)
by a background thread; if the process is killed outright, at most that much
of download history is lost, never an upload's or a deletion's.

Requests carry their context (client address, how the user came in) in a
context variable set by :class:`AuditContextMiddleware`, so services record
it without taking a request; the download path, which may run before
Django, reads it from the request itself (:func:`context_of`).
"""

import atexit
import collections
import contextvars
import functools
import ipaddress
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import DataError, IntegrityError, close_old_connections, connection, models, transaction
from django.utils import timezone

from files import conf
from files.caching import BoundedCache
from files.models import AuditEvent

logger = logging.getLogger(__name__)

Action, Outcome = AuditEvent.Action, AuditEvent.Outcome
# Asked on every download: a module's name is found faster than an enum's member.
_ALLOWED, _REFUSED = Outcome.ALLOWED, Outcome.REFUSED

TOKEN, SESSION, SIGNED_URL, ADMIN, SYSTEM = "token", "session", "signed URL", "admin", "system"


class RequestContext(NamedTuple):
    """Where a request came from and how its user came in (a tuple: made on every download, and never changed)."""

    address: str | None = None
    via: str = SYSTEM


_context: contextvars.ContextVar[RequestContext] = contextvars.ContextVar("files_audit_context")


def request_context() -> RequestContext:
    """The current request's context; management commands and jobs are ``system``."""
    return _context.get(RequestContext())


def context_of(environ: Mapping[str, str], *, signed: bool = False) -> RequestContext:
    """The context of a WSGI request (Django's ``request.META`` is one too); ``signed``: by a signed URL."""
    if signed:
        via = SIGNED_URL
    elif environ.get("PATH_INFO", "").startswith("/admin/"):
        via = ADMIN
    elif environ.get("HTTP_AUTHORIZATION", "").lower().startswith("token "):
        via = TOKEN
    else:
        via = SESSION
    header = conf.client_address_header()
    return _context_from(via, environ.get(header) if header else None, environ.get("REMOTE_ADDR"))


@functools.lru_cache(maxsize=1024)
def _context_from(via: str, forwarded: str | None, peer: str | None) -> RequestContext:
    """Remembered: every download has one, mostly from the same few clients."""
    return RequestContext(address=_address(forwarded, peer), via=via)


def client_address(environ: Mapping[str, str]) -> str | None:
    """The client's IP address: ``FILES_CLIENT_ADDRESS_HEADER`` behind a proxy that sets it, else the peer's.

    A header that holds no IP address (a request that reached the WSGI
    server without the proxy, whose client wrote it) counts as absent.
    """
    header = conf.client_address_header()
    return _address(environ.get(header) if header else None, environ.get("REMOTE_ADDR"))


def _address(forwarded: str | None, peer: str | None) -> str | None:
    return (forwarded and ip_address(forwarded)) or ip_address(peer)


@functools.lru_cache(maxsize=1024)
def ip_address(value: str | None) -> str | None:
    """The IP address ``value`` starts with (the first of a comma-separated list), normalised; None if it is none.

    Remembered: it is asked on every download, mostly for the same few addresses.
    """
    text = (value or "").split(",", 1)[0].strip().removeprefix("[").removesuffix("]").partition("%")[0]
    if not text or len(text) > _LONGEST_ADDRESS:
        return None
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


# "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255": anything longer is no address, and is not parsed.
_LONGEST_ADDRESS = 45


class AuditContextMiddleware:
    """Puts each request's :class:`RequestContext` where ``files.services`` records it."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        token = _context.set(context_of(request.META))
        try:
            return self.get_response(request)
        finally:
            _context.reset(token)


@dataclass(slots=True)
class Attempt:
    """One access as the audit trail will record it, filled in while the request is decided."""

    action: str
    context: RequestContext = field(default_factory=request_context)
    user_id: str = ""
    username: str = ""
    issued_to: str = ""
    #: The user a refused signed URL names: whatever the client wrote, so kept apart from ``issued_to``.
    claimed_issued_to: str = ""
    file_id: str | None = None
    record_type: str = ""
    record_id: str | None = None

    def by(self, user) -> "Attempt":
        """The user who made the attempt (a user, the download path's principal, or anonymous)."""
        if user is not None and user.is_authenticated:
            self.user_id, self.username = str(user.pk), getattr(user, "username", "")
        return self

    def on(self, file) -> "Attempt":
        """The file it was for (a ``File`` or the download path's ``FileMeta``) and its record."""
        self.file_id, self.record_id = str(file.id), str(file.entity_id)
        self.record_type = _labels.get_or_set(
            file.entity_type_id, lambda: _label(ContentType.objects.get_for_id(file.entity_type_id))
        )
        return self

    def on_record(self, record) -> "Attempt":
        """The record it was for (an upload)."""
        self.record_id, self.record_type = str(record.pk), _label(ContentType.objects.get_for_model(record))
        return self

    def throttled(self) -> "Attempt":
        """The attempt as a throttled one is recorded: who and from where, not what it named.

        A throttled client's attempts are so counted together, whatever they named.
        """
        return Attempt(self.action, context=self.context, user_id=self.user_id, username=self.username)

    def row(self, *, status: int | None, detail: str = "") -> tuple:
        """The event's values, in the order of :data:`COLUMNS`."""
        outcome = _ALLOWED if status is None or status < 400 else _REFUSED
        if self.claimed_issued_to:
            # JSON-escaped: control characters (NUL, which PostgreSQL refuses) and all non-ASCII.
            detail = f"{detail} (claimed issued_to={json.dumps(self.claimed_issued_to[:64])})"
        context = self.context
        return (
            _now(),
            self.action,
            outcome,
            status,
            self.user_id,
            self.username,
            context.via,
            self.issued_to,
            self.file_id,
            self.record_type,
            self.record_id,
            context.address,
            detail,
            1,
        )

    def record(self, *, status: int | None = None, detail: str = "") -> None:
        """Write the event now, in the caller's transaction (uploads, deletions, refusals).

        A refusal that repeats one recorded this minute is counted instead (see :class:`_Batch`).
        """
        event = self.row(status=status, detail=detail)
        if not _repeated(event):
            _insert([event])

    def record_soon(self, *, status: int, detail: str = "") -> None:
        """Write the event with the next batch (downloads); a repeated refusal is counted instead."""
        event = self.row(status=status, detail=detail)
        if not _repeated(event):
            _batch.add(event)


#: The columns an event's row fills, in order.
COLUMNS = (
    "at",
    "action",
    "outcome",
    "status",
    "user_id",
    "username",
    "via",
    "issued_to",
    "file_id",
    "record_type",
    "record_id",
    "address",
    "detail",
    "count",
)


def _insert(rows: list[tuple]) -> None:
    """Insert events, each value made valid first; one the database still refuses is dropped, never the batch.

    A database that is down raises, and the caller keeps the events.
    """
    _insert_valid([(row[0], _valid(row[1:])) for row in rows])


def _insert_valid(rows: list[tuple[float, tuple]]) -> None:
    try:
        _write(rows)
    except (DataError, IntegrityError):
        if len(rows) == 1:
            logger.exception("audit trail: an event the database refused was dropped: %.500r", rows[0])
            return
        for row in rows:  # each alone, in its own transaction: only the one refused is dropped
            _insert_valid([row])


def _write(rows: list[tuple[float, tuple]]) -> None:
    """Insert events (each its time and its valid values) in one transaction.

    On PostgreSQL one ``COPY``, its lines written as text (:func:`_copy_line`);
    elsewhere one ``INSERT`` run per row. Not the ORM's ``bulk_create``:
    building model instances and one long statement cost more per download
    than the download itself.
    """
    fields = _fields()
    quote = connection.ops.quote_name
    table = quote(AuditEvent._meta.db_table)
    columns = ", ".join(quote(field.column) for field in fields)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with connection.wrap_database_errors, cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for start in range(0, len(rows), _COPY_LINES):
                    copy.write("".join([_copy_line(at, values) for at, values in rows[start : start + _COPY_LINES]]))
        else:
            values = [
                [
                    field.get_db_prep_save(value, connection)
                    for field, value in zip(fields, (_dated(at), *row), strict=True)
                ]
                for at, row in rows
            ]
            placeholders = ", ".join(["%s"] * len(fields))
            # Identifiers from the model, quoted; every value is a parameter.
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", values)  # noqa: S608


#: How many events' lines one write to ``COPY`` takes: a batch held up by an outage may be a hundred thousand.
_COPY_LINES = 1000

# PostgreSQL's COPY text format: a tab before each column but the first, \N for none, and a backslash, tab,
# newline or carriage return within a value escaped with a backslash.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_line(at: float, values: tuple) -> str:
    """An event's line in ``COPY``'s text format: its time, then its other values (valid, :func:`_valid`)."""
    return _dated(at).isoformat() + _copy_columns(values)


@functools.lru_cache(maxsize=1024)
def _copy_columns(values: tuple) -> str:
    """An event's values but its time, each after a tab, and the line's end, in ``COPY``'s text format.

    Remembered, as :func:`_valid` remembers its answers: a batch is mostly
    the same few events at other times. Letting psycopg adapt each of the
    fourteen values of every row (``Copy.write_row``) cost the serving
    process about 10 µs of CPU a download event, measured alone; written
    this way, about 4 (dating the time, finding the columns, the COPY).
    """
    return "".join("\t\\N" if value is None else "\t" + str(value).translate(_COPY_ESCAPES) for value in values) + "\n"


@functools.cache
def _fields() -> list[models.Field]:
    return [AuditEvent._meta.get_field(name) for name in COLUMNS]


def _dated(at: float) -> datetime:
    """An event's time (seconds since the epoch, cheap to take on every download) as its column takes it.

    Aware (UTC), or naive in the project's time zone without ``USE_TZ``.
    """
    moment = datetime.fromtimestamp(at, UTC)
    return moment if settings.USE_TZ else timezone.make_naive(moment)


@functools.lru_cache(maxsize=1024)
def _valid(values: tuple) -> tuple:
    """An event's values but its time (``COLUMNS[1:]``), made what their columns take.

    An address or an id that is none is left empty (and logged); text loses
    its NULs (which PostgreSQL refuses) and what its column cannot hold.
    Every download's event comes through here, in the serving process: each
    column's check is chosen once (:func:`_checks`), and the answer is
    remembered, since one user's downloads of one file (a PDF viewer's
    ranges, a page opened again) differ only in their time. An invalid
    value is so logged once while its event is remembered, not each time.
    """
    return tuple(None if value is None else check(value) for check, value in zip(_checks(), values, strict=True))


@functools.cache
def _checks() -> tuple[Callable[[object], object], ...]:
    return tuple(_check(field) for field in _fields()[1:])


def _check(field: models.Field) -> Callable[[object], object]:
    """The function that makes a value valid for ``field``: itself, a shortened or cleaned one, or None (logged)."""
    if isinstance(field, models.GenericIPAddressField):
        return _logged(field, lambda value: ip_address(str(value)))
    if isinstance(field, models.UUIDField):
        return _logged(field, _uuid)
    if isinstance(field, models.CharField):
        length = field.max_length
        return lambda value: str(value).replace("\x00", "")[:length]
    if isinstance(field, models.PositiveSmallIntegerField):
        return _logged(
            field, lambda value: value if type(value) is int and 0 <= value <= _LARGEST_SMALL_INTEGER else None
        )
    return lambda value: value


def _logged(field: models.Field, check: Callable[[object], object]) -> Callable[[object], object]:
    def checked(value):
        valid = check(value)
        if valid is None:
            logger.warning("audit trail: %s %.80r is not valid; the event is recorded without it", field.name, value)
        return valid

    return checked


_LARGEST_SMALL_INTEGER = 32767

# The form every id takes on the download path (files.download.access checks the path with it): no need to parse it.
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _uuid(value) -> str | None:
    if type(value) is str and _CANONICAL_UUID.fullmatch(value):
        return value
    try:
        return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
    except ValueError:
        return None


def _repeated(event: tuple) -> bool:
    return event[2] == _REFUSED and _batch.repeats(event)


def _label(content_type: ContentType) -> str:
    return f"{content_type.app_label}.{content_type.model}"


# A record type's label by its content type id: asked on every download, and it never changes.
_labels: BoundedCache[str] = BoundedCache(size=1000)


class _Batch:
    """Events waiting to be written, the refusals recorded this minute, and the thread writing them.

    A refusal identical to one already recorded this minute (same action,
    status, message, user, file, record and address) is only counted; when
    the minute ends, one more event records how many came, ``count``, the last
    at ``at``. A client refused thousands of times a minute (and throttled,
    see ``files.limits``) so leaves a few events a minute, not thousands.
    """

    #: Beyond this many unwritten events (the database is down), the oldest are dropped, and logged.
    LIMIT = 100_000
    #: Beyond this many different refusals in a minute, the minute's counts are written early.
    REPEATS_LIMIT = 10_000

    def __init__(self) -> None:
        # Appended to without the lock (a deque's append and popleft are atomic): a download never waits for it.
        self._events: collections.deque[tuple] = collections.deque()
        self._minute: int | None = None
        # A refusal (its row without time and count) -> [repeats since it was recorded, the last repeat's row].
        self._repeats: dict[tuple, list] = {}
        self._lock = threading.Lock()
        self._writer: threading.Thread | None = None
        self._stopping = threading.Event()

    def add(self, event: tuple) -> None:
        self._events.append(event)
        self._soon()

    def repeats(self, event: tuple) -> bool:
        """Whether refused ``event`` repeats one recorded this minute: if so it is counted, not to be recorded."""
        minute, key = _minute(event[0]), event[1:-1]
        with self._lock:
            if minute != self._minute or (len(self._repeats) >= self.REPEATS_LIMIT and key not in self._repeats):
                self._close_minute(minute)
            seen = self._repeats.get(key)
            if seen is None:
                self._repeats[key] = [0, event]
                return False
            seen[0] += 1
            seen[1] = event
        self._soon()
        return True

    def flush(self) -> int:
        """Write every waiting event, and the counts of a minute that has ended, now; return how many rows."""
        with self._lock:
            if self._minute is not None and self._minute != _minute(_now()):
                self._close_minute(None)
            events = self._take()
        if not events:
            return 0
        try:
            _insert(events)
        except Exception:
            with self._lock:
                self._events.extendleft(reversed(events))
                dropped = len(self._events) - self.LIMIT
                if dropped > 0:
                    for _ in range(dropped):
                        self._events.popleft()
                    logger.error("audit trail: %d download events dropped, the database refused them", dropped)
            raise
        return len(events)

    def stop(self) -> None:
        """End the writer thread, then write what waits and this minute's counts.

        At exit; in tests, in the test's transaction.
        """
        self._stop_writer()
        with self._lock:
            self._close_minute(None)
        self.flush()

    def discard(self) -> None:
        """End the writer thread and drop what waits (tests start from a known state)."""
        self._stop_writer()
        with self._lock:
            self._events, self._repeats, self._minute = collections.deque(), {}, None

    def _take(self) -> list[tuple]:
        """The waiting events, taken one by one: one added meanwhile is taken too, or left for the next flush."""
        events = []
        while True:
            try:
                events.append(self._events.popleft())
            except IndexError:
                return events

    def _close_minute(self, minute: int | None) -> None:
        """Queue one event for each refusal repeated in the minute that ends; start counting ``minute``'s."""
        self._events.extend((*last[:-1], repeats) for repeats, last in self._repeats.values() if repeats)
        self._repeats, self._minute = {}, minute

    def _soon(self) -> None:
        """Have what waits written: now when ``FILES_AUDIT_FLUSH_SECONDS`` is 0, else by the writer thread."""
        if self._writer is not None:
            return  # running (it reads FILES_AUDIT_FLUSH_SECONDS each time round): the common case, asking nothing
        if conf.audit_flush_seconds() <= 0:
            self.flush()
            return
        with self._lock:
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_until_stopped, name="files-audit", daemon=True)
                self._writer.start()

    def _stop_writer(self) -> None:
        with self._lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            self._stopping.set()
            writer.join()
            self._stopping.clear()

    def _write_until_stopped(self) -> None:
        while not self._stopping.wait(max(conf.audit_flush_seconds(), 0.01)):
            close_old_connections()  # this thread's own connection: reused, unless broken or too old
            try:
                self.flush()
            except Exception:
                logger.exception("audit trail: download events not written yet; retrying")
        connection.close()  # what still waits, stop() writes in the caller's thread


def _now() -> float:
    """The time of an event, in seconds since the epoch: made into a date when it is written (:func:`_check`)."""
    return time.time()


def _minute(at: float) -> int:
    return int(at) // 60


def _stop_at_exit() -> None:
    try:
        _batch.stop()
    except Exception:
        logger.exception("audit trail: download events lost at exit, the database refused them")


_batch = _Batch()
flush = _batch.flush
stop_writer = _batch.stop
discard_waiting = _batch.discard
atexit.register(_stop_at_exit)
