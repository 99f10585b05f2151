"""Malware scanning: every new file is scanned by ClamAV's daemon (clamd) in a background job.

A file is born ``pending``; the job (``files.tasks.scan_file``, which runs
:func:`files.services.file_scan`) streams its bytes to clamd (``INSTREAM``)
and records the verdict:

- ``clean``: it is served as any file, and its thumbnails are made;
- ``infected``: its bytes (and any derivative's) move to ``quarantine/``,
  where no read path looks (:func:`files.services.file_quarantine`); the
  audit trail gets an ``infected`` event and the log a warning;
- ``failed``: clamd answered, but could not decide (the file is over its
  limits, or it reported an error). It stays held back like a pending file,
  for an admin to look at or scan again (``files_scan --failed``).

A scanner that is down or slow raises :class:`ScannerUnavailable`: the file
stays ``pending`` and the job is retried with backoff; a scan never marks a
file clean without clamd's ``OK``.

Who may read a file that is not clean is one rule, :func:`scan_allows_read`,
asked by every read path (the download path, derivatives' jobs).
"""

import logging
from dataclasses import dataclass
from typing import BinaryIO

from clamav_client.clamd import BufferTooLongError, ClamdError, ClamdNetworkSocket, ClamdUnixSocket, ResponseError

from files import conf
from files.exceptions import ScannerUnavailable
from files.models import File

logger = logging.getLogger(__name__)

Status = File.ScanStatus
#: What clamd reports (with ``AlertExceedsMax yes``) for a file over its size limits: it did not read it all.
_LIMITS_EXCEEDED = "Heuristics.Limits.Exceeded"


@dataclass(frozen=True)
class Verdict:
    status: str  # one of File.ScanStatus but pending
    detail: str = ""


def clamd_client() -> ClamdNetworkSocket:
    """A client of the clamd at ``FILES_CLAMD``, with ``FILES_CLAMD_TIMEOUT``.

    ``clamav-client`` (a maintained, typed fork of ``clamd``) speaks the
    protocol; this only picks the socket.
    """
    address, timeout = conf.clamd_address(), conf.clamd_timeout()
    if address.startswith("tcp://"):
        host, _, port = address.removeprefix("tcp://").rpartition(":")
        return ClamdNetworkSocket(host=host, port=int(port), timeout=timeout)
    return ClamdUnixSocket(path=address, timeout=timeout)


def stream_scan(stream: BinaryIO) -> Verdict:
    """clamd's verdict on the bytes of ``stream``; raises :class:`ScannerUnavailable` when it gives none."""
    try:
        answer = clamd_client().instream(stream)
    except BufferTooLongError as error:
        return Verdict(Status.FAILED, f"Larger than clamd's StreamMaxLength: {error}")
    except ResponseError as error:
        return Verdict(Status.FAILED, f"clamd could not scan it: {error}")
    except (ClamdError, OSError) as error:
        if isinstance(error, BrokenPipeError) and _clamd_answers():
            # clamd hangs up, before answering, on a stream over its StreamMaxLength (clamd restarting
            # mid-stream looks alike: failed, never clean, and scanned again on request).
            return Verdict(Status.FAILED, "clamd stopped reading it: larger than clamd's StreamMaxLength")
        # Refused, reset, timed out (socket.timeout is an OSError): clamd is down or overloaded. Nothing was decided.
        raise ScannerUnavailable(f"clamd at {conf.clamd_address()} did not answer: {error}") from error
    status, signature = answer.get("stream", ("", None))
    if status == "OK":
        return Verdict(Status.CLEAN)
    if status == "FOUND" and not (signature or "").startswith(_LIMITS_EXCEEDED):
        return Verdict(Status.INFECTED, signature or "")
    return Verdict(Status.FAILED, f"clamd answered {status} {signature or ''}".strip())


def _clamd_answers() -> bool:
    try:
        return clamd_client().ping() == "PONG"
    except (ClamdError, OSError):
        return False


def scanning_enabled() -> bool:
    """Whether files are scanned (``FILES_CLAMD`` is set)."""
    return conf.clamd_address() is not None


def scan_allows_read(*, user, file) -> bool:
    """May ``user`` read the bytes of ``file`` (a ``File`` or the download path's ``FileMeta``), scanning-wise?

    The one rule every read path asks, after the permission policy: an
    infected file is read by no one; a clean one by whoever the policy
    allows; a pending or failed one only by its uploader and those the
    policy lets read unscanned files (admins), or by no one when
    ``FILES_PENDING_DOWNLOADS`` is ``nobody``. With scanning off
    (``FILES_CLAMD`` unset) nothing is held back but what was found infected.
    """
    if file.scan_status == Status.INFECTED:
        return False
    if file.scan_status == Status.CLEAN or not scanning_enabled():
        return True
    if conf.pending_downloads() == "nobody":
        return False
    return conf.permission_policy().user_may_read_unscanned(user, file)


def scan_allows_processing(file: File) -> bool:
    """May the server itself decode ``file`` (make its thumbnails)? Only once found clean, when scanning is on."""
    if file.scan_status == Status.INFECTED:
        return False
    return file.scan_status == Status.CLEAN or not scanning_enabled()
