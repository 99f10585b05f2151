"""A record's export: one ZIP of every live file the user may view, streamed with flat memory.

The ZIP holds the files in folders by category (``report/``, ``scan/``...),
each named ``{id}-{name}`` (names repeat, ids never), a ``manifest.json``
(each file's id, name, category, media type, size, SHA-256, creation time and
versions) and ``index.html``, the same for a person, every value escaped.
The files are the record's and those of the records it lists in
``FileOwner.export_records`` (a patient's appointments), narrowed by the
policy's ``files_visible_to``: a patient's own portal account, which reaches
only the patient record, gets exactly that record's files. Files the
malware scanner holds back from the user (``files.scanning.scan_allows_read``)
are left out. It holds each file's current content; earlier versions are
listed in the manifest.

Memory stays flat whatever the size: the ZIP is written as it is read
(``stream-zip``, Zip64 for every member, so sets over 4 GiB work), each
file read from storage in chunks of :data:`CHUNK` bytes, nothing copied
whole. Every exported file is on the audit trail (``export``), written as
its bytes start to go out.
"""

import hashlib
import html
import json
import logging
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from django.contrib.contenttypes.models import ContentType
from django.core.files import File as DjangoFile
from django.db import models, transaction
from django.db.models import QuerySet
from django.dispatch import Signal
from django.utils import timezone
from stream_zip import ZIP_64, stream_zip

from files import conf
from files.audit import Action, Attempt
from files.backends import storage_errors
from files.content.kinds import EXPORT_EXTENSION
from files.exceptions import ExportNotPermitted
from files.models import EXPORTS_PREFIX, Export, File, FileVersion
from files.policy import VIEW
from files.scanning import scan_allows_read

logger = logging.getLogger(__name__)

CHUNK = 64 * 1024
_UNSAFE = re.compile(r"[^\w.\- ]+")
_MODE = 0o600

#: Told ``(files done, files in all)`` while an export is written.
Progress = Callable[[int, int], None]


def export_files(*, record: models.Model, user) -> QuerySet[File]:
    """The live files of ``record`` (and of its ``export_records``) that ``user`` may view, by category and id."""
    owners = record.export_records()
    files = File.objects.none()
    for owner in owners:
        entity_type = ContentType.objects.get_for_model(owner)
        files = files | File.objects.filter(entity_type=entity_type, entity_id=owner.pk)
    visible = conf.permission_policy().files_visible_to(user, files)
    return visible.prefetch_related("versions").order_by("category", "id")


def export_stream(*, record: models.Model, user, progress: Progress | None = None) -> Iterator[bytes]:
    """The ZIP of :func:`export_files`, as chunks of bytes; each file audited as it goes out.

    ``progress(done, total)`` is told the number of files once known, then after each file's bytes.
    """
    # The scanner's rule, as on every read path: nothing infected; nothing unscanned but to its uploader or admins.
    files = [file for file in export_files(record=record, user=user) if scan_allows_read(user=user, file=file)]
    if progress:
        progress(0, len(files))
    now = timezone.now()
    members = [
        _member("manifest.json", now, [json.dumps(_manifest(record, files), indent=2).encode()]),
        _member("index.html", now, [_index(record, files).encode()]),
        *(
            _member(member_name(file), file.created_at, _audited_bytes(file, user, _counted(progress, n, len(files))))
            for n, file in enumerate(files, start=1)
        ),
    ]
    return stream_zip(members, chunk_size=CHUNK)


def _counted(progress: Progress | None, done: int, total: int) -> Callable[[], None] | None:
    return (lambda: progress(done, total)) if progress else None


def member_name(file: File) -> str:
    """Where ``file`` is in the ZIP: ``{category}/{id}-{name}``, the name stripped of anything a path could mean."""
    safe = _UNSAFE.sub("_", file.name).strip(". ") or "file"
    return f"{file.category}/{file.pk}-{safe}"


def _member(name: str, modified: datetime, chunks: Iterable[bytes]):
    # Deflated Zip64 with a data descriptor: written as read, whatever the size. (Stored members would need
    # each file's CRC-32 before its bytes, so stream-zip would hold the whole file in memory.)
    return name, modified, _MODE, ZIP_64, chunks


def _audited_bytes(file: File, user, finished: Callable[[], None] | None = None) -> Iterator[bytes]:
    """``file``'s bytes from storage, chunk by chunk, recorded on the audit trail when they start."""
    Attempt(Action.EXPORT).by(user).on(file).record(detail="in a record export")
    storage = conf.storage()
    with storage_errors():
        stored = storage.open(file.storage_name, "rb")
    try:
        while True:
            with storage_errors():
                chunk = stored.read(CHUNK)
            if not chunk:
                break
            yield chunk
        if finished:
            finished()
    finally:
        stored.close()


def _manifest(record: models.Model, files: list[File]) -> dict:
    return {
        "record": {"type": record._meta.label_lower, "id": str(record.pk)},
        "exported_at": timezone.now().isoformat(),
        "files": [
            {
                "id": str(file.pk),
                "path": member_name(file),
                "name": file.name,
                "category": file.category,
                "media_type": file.media_type,
                "size": file.size,
                "sha256": file.sha256,
                "created_at": file.created_at.isoformat(),
                "record": {
                    "type": ContentType.objects.get_for_id(file.entity_type_id).model,
                    "id": str(file.entity_id),
                },
                "version": file.version,
                "versions": [_version(version) for version in file.versions.all()],
            }
            for file in files
        ],
    }


def _model_name(entity_type_id: int) -> str:
    return ContentType.objects.get_for_id(entity_type_id).model


def _version(version: FileVersion) -> dict:
    return {
        "number": version.number,
        "size": version.size,
        "sha256": version.sha256,
        "created_at": version.created_at.isoformat(),
    }


def _index(record: models.Model, files: list[File]) -> str:
    rows = "".join(
        '<tr><td>{}</td><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>'.format(
            *(
                html.escape(str(value))
                for value in (
                    file.category,
                    member_name(file),
                    file.name,
                    file.created_at.strftime("%Y-%m-%d %H:%M"),
                    file.size,
                    file.sha256,
                )
            )
        )
        for file in files
    )
    title = html.escape(f"Files of {record._meta.verbose_name} {record}")
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head><body><h1>{title}</h1>'
        "<table><tr><th>Category</th><th>Name</th><th>Created</th><th>Bytes</th><th>SHA-256</th></tr>"
        f"{rows}</table><p>Checksums and versions: manifest.json.</p></body></html>"
    )


# Exports built in the background: asked for now, built by a job, handed out by a signed link until they expire.

#: Sent once the transaction that asked for an export has committed; ``files.tasks`` sends its job.
export_requested = Signal()

#: Seconds between two writes of a running export's progress (a record of thousands of files writes it a few times).
PROGRESS_SECONDS = 1.0


def export_request(*, record: models.Model, requested_by) -> Export:
    """Ask for ``record``'s export to be built in the background for ``requested_by``; its job is sent on commit.

    Who may ask is who may stream it: who may view the record's files
    (:class:`~files.exceptions.ExportNotPermitted` otherwise).
    """
    export_check(record=record, user=requested_by)
    export = Export.objects.create(
        record_type=ContentType.objects.get_for_model(record),
        record_id=record.pk,
        requested_by=requested_by,
        expires_at=timezone.now() + conf.export_lifetime(),
    )
    transaction.on_commit(lambda: export_requested.send(sender=Export, export=export), robust=True)
    return export


def export_check(*, record: models.Model | None, user) -> None:
    """Raise :class:`ExportNotPermitted` unless ``user`` (active) may view the files of ``record`` (None: gone)."""
    policy = conf.permission_policy()
    if record is None or not policy.user_has_permission_for_owner(user, VIEW, record):
        raise ExportNotPermitted("You may not export this record")


def export_build(*, export_id) -> None:
    """Write the export's ZIP to storage, then mark it ready; any failure marks it failed with the reason.

    Idempotent: only a pending export is built (a second job for it does
    nothing). The ZIP goes through a temporary file, so memory stays flat;
    its bytes are stored before the row says ``ready``.
    """
    if not Export.objects.filter(pk=export_id, state=Export.State.PENDING).update(state=Export.State.RUNNING):
        return
    export = Export.objects.select_related("requested_by").get(pk=export_id)
    try:
        _build(export)
    except Exception as error:  # whatever went wrong, the export must not stay running for ever
        logger.exception("export %s failed", export_id)
        Export.objects.filter(pk=export_id).update(state=Export.State.FAILED, error=str(error)[:255] or repr(error))


def _build(export: Export) -> None:
    record = export.record
    export_check(record=record, user=export.requested_by)
    digest, size = hashlib.sha256(), 0
    with tempfile.TemporaryFile() as temporary:
        for chunk in export_stream(record=record, user=export.requested_by, progress=_progress_writer(export)):
            temporary.write(chunk)
            digest.update(chunk)
            size += len(chunk)
        temporary.seek(0)
        with storage_errors():
            name = conf.storage().save(f"{EXPORTS_PREFIX}{export.pk}{EXPORT_EXTENSION}", DjangoFile(temporary))
    ready = {"state": Export.State.READY, "storage_name": name, "size": size, "sha256": digest.hexdigest()}
    if not Export.objects.filter(pk=export.pk).update(**ready):
        conf.storage().delete(name)  # swept meanwhile: its bytes go too


def _progress_writer(export: Export) -> Progress:
    last = 0.0

    def write(done: int, total: int) -> None:
        nonlocal last
        if done in (0, total) or time.monotonic() - last >= PROGRESS_SECONDS:
            Export.objects.filter(pk=export.pk).update(files_done=done, files_total=total)
            last = time.monotonic()

    return write


def export_for(*, export_id, user) -> Export:
    """The export ``export_id`` for ``user``, who must be the one who asked for it (else ExportNotPermitted)."""
    export = Export.objects.select_related("requested_by").get(pk=export_id)
    if export.requested_by_id != getattr(user, "pk", None):
        raise ExportNotPermitted("This export is another user's")
    return export


def exports_sweep_expired(*, dry_run: bool = False) -> list[str]:
    """Delete the exports past their expiry, bytes then row; the ids of those swept (to be swept with ``dry_run``)."""
    swept = []
    for export in Export.objects.filter(expires_at__lte=timezone.now()):
        swept.append(str(export.pk))
        if not dry_run:
            if export.storage_name:
                with storage_errors():
                    conf.storage().delete(export.storage_name)
            export.delete()
    return swept
