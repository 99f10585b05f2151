"""Reading stored bytes by range, on any storage.

Django's Storage API has no ranged read; this module adds one. Local disk
(anything with ``path()``) hands out a real file seeked to the range start, so
a WSGI server can ``sendfile`` it; a storage with ``open_range`` (the S3 one in
``files.storages``) passes the range to the store, so only the bytes asked for
travel. Other storages read through ``open()`` and ``seek()``.
"""

import contextlib
import ctypes
import functools
import os
import platform
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from urllib.parse import quote

from botocore.exceptions import BotoCoreError, ClientError
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import Storage

from files import conf
from files.exceptions import StorageUnavailable

CHUNK = 64 * 1024


class storage_errors(contextlib.ContextDecorator):  # named like contextlib.suppress: used the same way
    """Storage failing inside the block raises :class:`StorageUnavailable`; a missing file stays ``FileNotFoundError``.

    A failure is any ``OSError`` of local disk (a folder it cannot write, a
    full disk, a hung network mount's timeout) or any error of the S3 client
    (unreachable, timed out, access denied, no such bucket). A class, not a
    generator: it wraps every download.
    """

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, traceback) -> bool:
        if error is None or isinstance(error, FileNotFoundError):
            return False
        if isinstance(error, OSError | BotoCoreError | ClientError):
            raise StorageUnavailable(f"storage failed: {error!r}") from error
        return False


class StorageSlot(storage_errors):
    """One of a process's places for requests waiting on storage, taken for a ``with`` block.

    A request finding every place taken waits for one, ``wait`` seconds at a
    time. It gives up (:class:`StorageUnavailable`) only when the store is the
    cause: no place has been given back for :data:`STALLED_SECONDS`. A stalled
    store then holds that many threads, never all of them; a busy process,
    whose places are held longer only for want of the CPU but keep coming
    back, has its requests wait on instead of answering 503. As in
    :class:`storage_errors`, storage failing inside the block raises
    :class:`StorageUnavailable` too. Holds no state of its own, so one
    instance serves every thread.
    """

    def __init__(self, places: "Places", wait: float) -> None:
        self._places, self._wait = places, wait

    def __enter__(self) -> None:
        while True:
            try:
                self._places.tokens.get(timeout=self._wait)
                return
            except queue.Empty:
                if time.monotonic() - self._places.given_back >= STALLED_SECONDS:
                    raise StorageUnavailable(
                        "every place for requests waiting on storage is taken: the store is stalled"
                    ) from None

    def __exit__(self, kind, error, traceback) -> bool:
        self._places.given_back = time.monotonic()
        self._places.tokens.put(None)
        return error is not None and super().__exit__(kind, error, traceback)


#: No place given back for this long: the store does not answer (a local file opens, and S3 answers, far sooner).
STALLED_SECONDS = 1.0


class Places:
    """A process's places toward storage: tokens in a ``SimpleQueue``, and when one was last given back.

    Taking and giving back a token are two calls in C, where a semaphore
    costs a lock and a condition on every download.
    """

    def __init__(self, limit: int) -> None:
        self.tokens: queue.SimpleQueue = queue.SimpleQueue()
        for _ in range(limit):
            self.tokens.put(None)
        self.given_back = time.monotonic()


def storage_slot() -> StorageSlot:
    """The process's ``FILES_STORAGE_CONCURRENCY`` places, waited on ``FILES_STORAGE_WAIT`` seconds at a time."""
    return StorageSlot(storage_places(conf.storage_concurrency()), conf.storage_wait())


@functools.lru_cache(maxsize=4)
def storage_places(limit: int) -> Places:
    """The process's one set of ``limit`` places (shared by every :class:`StorageSlot` of that limit)."""
    return Places(limit)


class FileSlice:
    """``length`` bytes of an open binary file from its current position.

    It has ``fileno()`` when the file has, so ``wsgi.file_wrapper`` can send
    it with ``sendfile``; ``read()`` never goes past the slice. Closing it
    closes the file.
    """

    def __init__(self, handle, length: int) -> None:
        self._handle = handle
        self._left = length
        if hasattr(handle, "fileno"):
            self.fileno = handle.fileno

    def read(self, size: int = -1) -> bytes:
        size = self._left if size is None or size < 0 else min(size, self._left)
        data = self._handle.read(size) if size else b""
        self._left -= len(data)
        return data

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(CHUNK):
            yield chunk

    def close(self) -> None:
        self._handle.close()


class Blob:
    """A stored file, known to exist, from which slices are read."""

    def slice(self, first: int, last: int) -> FileSlice:
        """Bytes ``first`` to ``last`` (inclusive)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the blob; a slice being sent keeps what it needs."""


class _OpenFile(Blob):
    def __init__(self, handle) -> None:
        self._handle = handle

    def slice(self, first: int, last: int) -> FileSlice:
        if first:
            self._handle.seek(first, os.SEEK_SET)
        return FileSlice(self._handle, last - first + 1)

    def close(self) -> None:
        self._handle.close()


class _Descriptor(Blob):
    """A file open for reading as a bare descriptor: what sendfile needs, without a Python file object.

    ``open()``'s buffered file costs more than the system call that opens
    the file, and a download that goes out through sendfile never uses it.
    It is its slices' handle too; closing twice closes once (the blob and its
    slice both may).
    """

    __slots__ = ("_fd",)

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def slice(self, first: int, last: int) -> FileSlice:
        if first:
            os.lseek(self._fd, first, os.SEEK_SET)
        return FileSlice(self, last - first + 1)

    def fileno(self) -> int:
        return self._fd

    def read(self, size: int) -> bytes:
        return os.read(self._fd, size)

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)


class _RangedObject(Blob):
    """A stored object read by ranged requests to its store (``storage.open_range``)."""

    def __init__(self, storage: Storage, name: str) -> None:
        self._storage, self._name = storage, name

    def slice(self, first: int, last: int) -> FileSlice:
        return FileSlice(self._storage.open_range(self._name, first, last), last - first + 1)


def open_blob(storage: Storage, name: str) -> Blob:
    """The stored file ``name``; raises FileNotFoundError when its bytes are gone.

    A storage with ``open_range`` (``files.storages.S3FileStorage``) reads
    ranges from the store. On local disk the existence check and the handle
    that will be sent are the same open, of a path that must lie inside the
    storage root (see :class:`_Root`).
    """
    return blob_opener(storage)(name)


@functools.lru_cache(maxsize=16)
def blob_opener(storage: Storage) -> Callable[[str], Blob]:
    """:func:`open_blob` for one storage, its kind found once (a download asks for it every time)."""
    if hasattr(storage, "open_range"):

        def open_ranged(name: str) -> Blob:
            if not storage.exists(name):
                raise FileNotFoundError(name)
            return _RangedObject(storage, name)

        return open_ranged
    root = _local_root(storage)
    if root is None:
        return lambda name: _OpenFile(storage.open(name, "rb"))
    return lambda name: _Descriptor(root.open(name))


class _Root:
    """A storage folder on local disk, held open; files are opened relative to it and never through a link.

    A link planted in the storage folder (by hand, a restore gone wrong) must
    never serve bytes from elsewhere. Where the kernel has ``openat2``
    (Linux 5.6), one system call opens the file with ``RESOLVE_BENEATH |
    RESOLVE_NO_SYMLINKS``: no link is followed, not even one swapped in
    while the file is being opened, and nothing outside the folder is
    reached. Elsewhere each folder below the root and the file itself are
    opened relative to the one above with ``O_NOFOLLOW``, the same guarantee
    in one call per level. The folder itself is configuration, opened once,
    at the first download that finds it (a new service has none until its
    first upload; till then every file is missing), its own links resolved;
    its descriptor closes when the last download using it ends.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self.fd: int | None = None
        self._opening = threading.Lock()

    def __del__(self, close=os.close) -> None:  # ``os`` may be gone when the interpreter exits
        if self.fd is not None:
            close(self.fd)

    def open(self, name: str) -> int:
        """A descriptor of the file ``name`` (``/``-separated) for reading; FileNotFoundError if missing or a link."""
        if self.fd is None:
            self._open_folder()
        parts = name.split("/")
        if "" in parts or os.curdir in parts or os.pardir in parts:
            raise FileNotFoundError(name)
        try:
            return _openat2(self.fd, name) if _HAS_OPENAT2 else self._open_by_level(parts)
        except OSError as error:
            raise FileNotFoundError(name) from error  # missing, or a link (ELOOP, EXDEV, ENOTDIR)

    def _open_folder(self) -> None:
        """Open the folder once, whichever thread gets here first; FileNotFoundError while it does not exist."""
        with self._opening:
            if self.fd is None:
                self.fd = os.open(self._path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def _open_by_level(self, parts: list[str]) -> int:
        folders: list[int] = []
        try:
            for folder in parts[:-1]:
                folders.append(
                    os.open(folder, _READ | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=folders[-1] if folders else self.fd)
                )
            return os.open(parts[-1], _READ | os.O_NOFOLLOW, dir_fd=folders[-1] if folders else self.fd)
        finally:
            for folder in folders:
                os.close(folder)


_READ = os.O_RDONLY | os.O_CLOEXEC


def _local_root(storage: Storage) -> _Root | None:
    """The folder of a storage on local disk, held open; None for a storage without paths.

    Asked once per storage, by :func:`blob_opener` (the root is configuration), not on every download.
    """
    try:
        path = storage.path("")
    except NotImplementedError:
        return None
    return _Root(os.path.realpath(path))


class _OpenHow(ctypes.Structure):
    _fields_ = (("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64))


_SYS_OPENAT2 = {"x86_64": 437, "aarch64": 437}.get(platform.machine())
_RESOLVE_NO_MAGICLINKS, _RESOLVE_NO_SYMLINKS, _RESOLVE_BENEATH = 0x02, 0x04, 0x08
_HOW = _OpenHow(_READ, 0, _RESOLVE_BENEATH | _RESOLVE_NO_SYMLINKS | _RESOLVE_NO_MAGICLINKS)
_HOW_REF, _HOW_SIZE = ctypes.byref(_HOW), ctypes.sizeof(_HOW)
_libc = ctypes.CDLL(None, use_errno=True)


def _openat2(directory: int, name: str) -> int:
    """``openat2(directory, name, _HOW)``: a descriptor, or OSError with the kernel's errno."""
    descriptor = _libc.syscall(_SYS_OPENAT2, directory, name.encode(), _HOW_REF, _HOW_SIZE)
    if descriptor < 0:
        number = ctypes.get_errno()
        raise OSError(number, os.strerror(number), name)
    return descriptor


def _has_openat2() -> bool:
    """Whether this kernel (and its seccomp filter, in a container) lets ``openat2`` through."""
    if _SYS_OPENAT2 is None or sys.platform != "linux":
        return False
    root = os.open("/", _READ | os.O_DIRECTORY)
    try:
        os.close(_openat2(root, "."))
    except OSError:
        return False  # ENOSYS (kernel before 5.6) or EPERM (a seccomp filter that does not know it)
    finally:
        os.close(root)
    return True


_HAS_OPENAT2 = _has_openat2()


@storage_errors()
def move_blob(storage: Storage, old: str, new: str) -> None:
    """Move stored bytes to another name in the same storage (into the trash and back).

    The storage's own ``move`` where it has one (a server-side copy on S3); a
    rename on local disk; otherwise a copy and a delete through the Storage API.
    Raises ``FileNotFoundError`` when there is nothing at ``old``,
    :class:`StorageUnavailable` when storage fails.
    """
    if hasattr(storage, "move"):
        storage.move(old, new)
        return
    try:
        source, target = storage.path(old), storage.path(new)
    except NotImplementedError:
        with storage.open(old, "rb") as content:
            storage.save(new, content)
        storage.delete(old)
        return
    os.makedirs(
        os.path.dirname(target), mode=getattr(storage, "directory_permissions_mode", None) or 0o700, exist_ok=True
    )
    os.replace(source, target)


@storage_errors()
def delete_blob(storage: Storage, name: str) -> None:
    """Remove stored bytes (nothing there is no error); :class:`StorageUnavailable` when storage fails."""
    storage.delete(name)


def accel_location(storage: Storage, name: str, *, prefix: str, lifetime: int) -> str:
    """The X-Accel-Redirect target that has nginx send ``name``.

    On local disk, the name under nginx's internal location of the storage
    root. A storage with ``accel_path`` (S3) gives the path of a short-lived
    presigned URL, under an internal location that proxies to the store
    (``deploy/nginx.s3.conf``); nginx sends the service's headers, so the URL
    asks the store for none (and names no file).
    """
    if not hasattr(storage, "accel_path"):
        return prefix + quote(name)
    return prefix.rstrip("/") + storage.accel_path(name, lifetime=lifetime)


def presigned_url(
    storage: Storage, name: str, *, lifetime: int, content_type: str, disposition: str, cache_control: str
) -> str:
    """A URL of the store that serves ``name`` for ``lifetime`` seconds with these headers (``redirect`` mode)."""
    if not hasattr(storage, "presigned_url"):
        raise ImproperlyConfigured("FILES_SERVE_MODE=redirect needs a storage that presigns URLs (S3)")
    return storage.presigned_url(
        name, lifetime=lifetime, content_type=content_type, disposition=disposition, cache_control=cache_control
    )
