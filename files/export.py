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

import html
import json
import re
from collections.abc import Iterable, Iterator
from datetime import datetime

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import QuerySet
from django.utils import timezone
from stream_zip import ZIP_64, stream_zip

from files import conf
from files.audit import Action, Attempt
from files.backends import storage_errors
from files.models import File, FileVersion
from files.scanning import scan_allows_read

CHUNK = 64 * 1024
_UNSAFE = re.compile(r"[^\w.\- ]+")
_MODE = 0o600


def export_files(*, record: models.Model, user) -> QuerySet[File]:
    """The live files of ``record`` (and of its ``export_records``) that ``user`` may view, by category and id."""
    owners = record.export_records()
    files = File.objects.none()
    for owner in owners:
        entity_type = ContentType.objects.get_for_model(owner)
        files = files | File.objects.filter(entity_type=entity_type, entity_id=owner.pk)
    visible = conf.permission_policy().files_visible_to(user, files)
    return visible.prefetch_related("versions").order_by("category", "id")


def export_stream(*, record: models.Model, user) -> Iterator[bytes]:
    """The ZIP of :func:`export_files`, as chunks of bytes; each file audited as it goes out."""
    # The scanner's rule, as on every read path: nothing infected; nothing unscanned but to its uploader or admins.
    files = [file for file in export_files(record=record, user=user) if scan_allows_read(user=user, file=file)]
    now = timezone.now()
    members = [
        _member("manifest.json", now, [json.dumps(_manifest(record, files), indent=2).encode()]),
        _member("index.html", now, [_index(record, files).encode()]),
        *(_member(member_name(file), file.created_at, _audited_bytes(file, user)) for file in files),
    ]
    return stream_zip(members, chunk_size=CHUNK)


def member_name(file: File) -> str:
    """Where ``file`` is in the ZIP: ``{category}/{id}-{name}``, the name stripped of anything a path could mean."""
    safe = _UNSAFE.sub("_", file.name).strip(". ") or "file"
    return f"{file.category}/{file.pk}-{safe}"


def _member(name: str, modified: datetime, chunks: Iterable[bytes]):
    # Deflated Zip64 with a data descriptor: written as read, whatever the size. (Stored members would need
    # each file's CRC-32 before its bytes, so stream-zip would hold the whole file in memory.)
    return name, modified, _MODE, ZIP_64, chunks


def _audited_bytes(file: File, user) -> Iterator[bytes]:
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
                return
            yield chunk
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
