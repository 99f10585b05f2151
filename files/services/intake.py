"""New content in: files attached to a record (:func:`files_attach`) and new versions of a file (:func:`file_replace`).

Every upload path (API, admin, tus, direct uploads) runs the same checks
(:func:`upload_check`) before anything is written. The bytes are written
before the rows that point at them, and removed again if the rows are not
saved; the file's name is the client's made safe (:func:`clean_file_name`).
"""

import hashlib
import logging
import unicodedata

from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import UploadedFile
from django.db import models, transaction

from files import conf
from files.audit import Action, Attempt
from files.backends import storage_errors
from files.content.detection import Kind, detect_kind, extension_for
from files.content.metadata import upload_without_metadata
from files.derivatives import derivative_names, files_stored
from files.exceptions import FileChanged, FileTooLarge, ReplaceNotPermitted
from files.models import Derivative, File, FileVersion
from files.policy import DELETE
from files.selectors import file_owner
from files.services.holds import legal_hold_check
from files.services.storage import _delete_bytes_after_failure, _erase_after_commit, _move, storage_transaction

logger = logging.getLogger(__name__)

_NAME_LIMIT = 255
_EXTENSION_LIMIT = 8  # the longest ending taken for an extension, to be replaced by the detected one


def file_attach(*, owner: models.Model, upload: UploadedFile, category: str, uploaded_by=None) -> File:
    """Store ``upload`` as a file of ``owner`` and return it."""
    return files_attach(owner=owner, uploads=[upload], category=category, uploaded_by=uploaded_by)[0]


def files_attach(*, owner: models.Model, uploads: list[UploadedFile], category: str, uploaded_by=None) -> list[File]:
    """Store ``uploads`` as files of ``owner``: all of them or, on any error, none.

    Every upload is checked against ``category``'s size limit and allowed
    kinds, and by its bytes, before anything is written (raising
    :class:`~files.exceptions.FileRejected`). The bytes are written first and
    the rows inserted after, so a row never points at missing bytes; if the
    insert fails, the bytes just written are removed.

    An upload whose bytes are already in storage (a
    :class:`~files.uploads.StoredUpload`: a direct upload's object) and that
    the checks keep as it is, is moved to the file's name instead, in the
    rows' :func:`~files.services.storage.storage_transaction`, last: a refused move rolls the rows
    back, and a transaction that fails after it moves the bytes back where
    they were, never deleting them.
    """
    if category not in conf.categories():
        raise ValueError(f"Unknown file category {category!r}")
    entity_type = ContentType.objects.get_for_model(owner)
    checked = [_new_file(entity_type, owner.pk, upload, category, uploaded_by) for upload in uploads]
    files = [file for file, _ in checked]
    storage = conf.storage()
    # A photo's bytes rewritten without their metadata are a new upload (no stored_as): written like any other.
    in_place = [(file, content.stored_as) for file, content in checked if getattr(content, "stored_as", None)]
    # Names that may hold bytes of this call: a save that fails half-way can leave a partial file behind.
    touched: list[str] = []
    try:
        with storage_errors():
            for file, content in checked:
                if getattr(content, "stored_as", None):
                    file.storage_name = file.path
                    continue
                content.seek(0)
                touched.append(file.path)
                file.storage_name = storage.save(file.path, content)
                touched[-1] = file.storage_name
        with storage_transaction():
            File.objects.bulk_create(files)
            FileVersion.objects.bulk_create(_first_version(file) for file in files)
            for file in files:
                Attempt(Action.UPLOAD).by(uploaded_by).on(file).record()
            for file, stored_as in in_place:
                _move(stored_as, file.storage_name)
            # Thumbnails and previews are made by jobs, which must find the rows: after commit. A
            # broker that is down loses no upload (robust); files_derivatives makes what is missing.
            # (Named callables, not partials: Django's robust on_commit logs the callable's __qualname__.)
            transaction.on_commit(lambda: files_stored.send(sender=File, files=files), robust=True)
    except BaseException:
        for name in touched:
            _delete_bytes_after_failure(name)
        raise
    return files


def _first_version(file: File) -> FileVersion:
    return FileVersion(
        file=file,
        number=1,
        storage_name=file.storage_name,
        size=file.size,
        sha256=file.sha256,
        media_type=file.media_type,
        extension=file.extension,
        created_by=file.uploaded_by,
        created_at=file.created_at,
    )


def file_replace(*, file: File, upload: UploadedFile, replaced_by) -> File:
    """Make ``upload`` the content of ``file`` as its next version, keeping every earlier one; return the file.

    Who may replace a file is who may delete it (the policy's ``delete``;
    otherwise :class:`ReplaceNotPermitted`); a file or record on legal hold
    is never replaced (:class:`FileOnHold`). The upload gets the checks of
    the file's category (:func:`upload_check`). Its bytes are written under
    a name of their own before the rows change, and the earlier versions'
    bytes are never touched. The file's derivatives, pictures of the old
    content, are removed and made again from the new one after the commit.
    A concurrent replacement, deletion or hold wins: :class:`FileChanged`,
    and the bytes just written are removed.
    """
    if not conf.permission_policy().user_has_permission_for_file(replaced_by, DELETE, file):
        raise ReplaceNotPermitted("You may not replace this file")
    legal_hold_check(records=[file_owner(file)], files=[file], deleting="file")
    kind, extension, content = upload_check(upload=upload, category=file.category)
    number = file.version + 1
    version = FileVersion(
        file=file,
        number=number,
        size=content.size,
        sha256=getattr(content, "sha256", None) or _sha256(content),
        media_type=kind.media_type,
        extension=extension,
        created_by=replaced_by,
    )
    name = f"{file.entity_id}/{file.pk}{version.url_suffix}"
    try:
        with storage_errors():
            content.seek(0)
            version.storage_name = conf.storage().save(name, content)
        name = version.storage_name
        with transaction.atomic():
            _publish_version(file, version)
            Attempt(Action.REPLACE).by(replaced_by).on(file).record(detail=f"version {number}")
            transaction.on_commit(lambda: files_stored.send(sender=File, files=[file], replaced=True), robust=True)
    except BaseException:
        _delete_bytes_after_failure(name)
        raise
    file.refresh_from_db()
    logger.info("file replaced", extra={"file_id": str(file.pk), "version": number})
    return file


def _publish_version(file: File, version: FileVersion) -> None:
    """Make ``version`` the file's current one, unless the file changed since it was read (:class:`FileChanged`)."""
    changed = File.objects.filter(pk=file.pk, version=version.number - 1, legal_hold=False).update(
        version=version.number,
        extension=version.extension,
        media_type=version.media_type,
        size=version.size,
        sha256=version.sha256,
        storage_name=version.storage_name,
        width=None,
        height=None,
        pages=None,
        # New content, not scanned yet: held back as a new upload is, until the scan finds it clean.
        scan_status=File.ScanStatus.PENDING,
        scan_detail="",
        scanned_at=None,
    )
    if not changed:
        raise FileChanged("The file was replaced, deleted or put on hold meanwhile: read it again")
    version.save()
    # Pictures of the old content: their rows go now (made again after commit), their bytes once it commits.
    for name in derivative_names(file=file):
        _erase_after_commit(name)
    Derivative.objects.filter(file=file).delete()


def upload_check(*, upload: UploadedFile, category: str) -> tuple[Kind, str, UploadedFile]:
    """The kind, stored extension and bytes to store of ``upload`` as a ``category`` file, or :class:`FileRejected`.

    The one set of checks every upload path runs (API, admin): the
    category's size limit, then its allowed kinds, read from the bytes; the
    bytes to store are a photo's without its identifying metadata (rewriting
    them can refuse a file too, so a form shows that before saving).
    """
    limit = conf.max_upload_size_for(category)
    if upload.size > limit:
        raise FileTooLarge(limit, category=category)
    kind = detect_kind(upload, category)
    return kind, extension_for(kind, upload.name or ""), upload_without_metadata(upload, kind)


def _new_file(
    entity_type: ContentType, entity_id, upload: UploadedFile, category: str, uploaded_by
) -> tuple[File, UploadedFile]:
    """The row for ``upload`` and the bytes to store."""
    kind, extension, content = upload_check(upload=upload, category=category)
    client_name = upload.name or ""
    return File(
        entity_type=entity_type,
        entity_id=entity_id,
        category=category,
        extension=extension,
        media_type=kind.media_type,
        name=clean_file_name(client_name, extension),
        size=content.size,
        sha256=getattr(content, "sha256", None) or _sha256(content),
        uploaded_by=uploaded_by,
    ), content


def clean_file_name(name: str, extension: str) -> str:
    """The client's file name made safe to keep and show, ending in ``extension``, the detected kind's.

    Path parts, control and format characters (bidi overrides among them) are
    dropped, white space is folded and the length capped. A name ending in
    another extension has it replaced (a PDF sent as ``x.exe`` is kept and
    served as ``x.pdf``), one with none gets it (``blob`` becomes
    ``blob.pdf``), and one left empty becomes ``file`` with it.
    """
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(char for char in name if unicodedata.category(char)[0] not in {"C", "Z"} or char == " ")
    name = " ".join(name.split()).strip(". ")
    if name.lower().endswith(extension):
        stem, ending = name[: -len(extension)], name[-len(extension) :]  # the client's spelling: ".JPG"
    else:
        stem, dot, suffix = name.rpartition(".")
        if not (dot and stem and suffix.isalnum() and len(suffix) <= _EXTENSION_LIMIT):
            stem = name  # no extension to replace: "Dr. Smith letter" does not end in ". Smith letter"
        ending = extension
    return (stem[: _NAME_LIMIT - len(ending)] or "file") + ending


def _sha256(upload: UploadedFile) -> str:
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()
