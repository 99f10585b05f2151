"""A real clamd (Debian's ``clamav-daemon``) for the tests, with the suite's own signatures (tests/clamav/).

Started on a unix socket in a temporary folder, waited for (bounded) and
stopped. Where it cannot start the tests skip, except in CI (``CI=true``),
where that fails them: scanning is never silently untested.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

SIGNATURES = Path(__file__).parent / "clamav"
CLAMD = shutil.which("clamd") or "/usr/sbin/clamd"
START_SECONDS = 30

#: The EICAR anti-virus test file (tests/clamav/clinic.ndb knows it as Clinic.Test.Eicar-1).
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
#: The suite's own "malware" (Clinic.Test.Marker-1).
MARKER = b"CLINIC-FILES-TEST-MALWARE-MARKER"


class Clamd:
    """One clamd process; :meth:`stop` and :meth:`start` it again to test an outage."""

    def __init__(self, *, stream_max: str = "200M") -> None:
        # A short path of its own: a unix socket's path is limited to 107 bytes, a test's tmp_path is not.
        folder = self.folder = Path(tempfile.mkdtemp(prefix="clamd-"))
        self.socket = str(folder / "clamd.sock")
        self.process: subprocess.Popen | None = None
        config = folder / "clamd.conf"
        config.write_text(
            f"LocalSocket {self.socket}\n"
            f"DatabaseDirectory {SIGNATURES}\n"
            f"TemporaryDirectory {folder}\n"
            f"LogFile {folder / 'clamd.log'}\n"
            "Foreground true\n"
            # Above the largest upload (FILES_MAX_UPLOAD_SIZE), and saying so when a file is over a limit.
            f"StreamMaxLength {stream_max}\nMaxFileSize 200M\nMaxScanSize 400M\nAlertExceedsMax true\n"
        )
        self.config = config

    def start(self) -> None:
        self.process = subprocess.Popen([CLAMD, "-c", str(self.config)], stdout=subprocess.DEVNULL)  # noqa: S603
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"clamd exited with {self.process.returncode}: {self.log()}")
            if self._answers():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"clamd did not answer within {START_SECONDS} s: {self.log()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None
        Path(self.socket).unlink(missing_ok=True)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def log(self) -> str:
        log = self.folder / "clamd.log"
        return log.read_text()[-2000:] if log.exists() else ""

    def _answers(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX) as probe:
                probe.settimeout(1)
                probe.connect(self.socket)
                probe.sendall(b"nPING\n")
                return probe.recv(16).strip() == b"PONG"
        except OSError:
            return False


def started_clamd(**options) -> Clamd:
    """A running clamd (``Clamd(**options)``), or a skip (a failure in CI) when this machine cannot run one."""
    clamd = Clamd(**options)
    try:
        if not os.path.exists(CLAMD):
            raise RuntimeError("clamd is not installed: apt-get install clamav-daemon")
        clamd.start()
    except RuntimeError as error:
        clamd.close()
        if os.environ.get("CI") == "true":
            pytest.fail(f"clamd must run in CI: {error}")
        pytest.skip(str(error))
    return clamd
