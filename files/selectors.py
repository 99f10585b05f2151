"""Every read of files that the views, the admin and the serializers share."""

import uuid

from django.db import models
from django.db.models import Count, F, Prefetch, Q, QuerySet, Sum, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from files import conf
from files.models import Derivative, File, FileVersion


def file_get(*, file_id: uuid.UUID) -> File:
    """The file with this id; raises ``File.DoesNotExist``."""
    return File.objects.get(pk=file_id)


def file_owner(file: File) -> models.Model | None:
    """The record that owns ``file``, or None when it no longer exists."""
    model = file.entity_type.model_class()
    if model is None:
        return None
    return model._base_manager.filter(pk=file.entity_id).first()


def file_list(*, entity_id: uuid.UUID | None = None, category: str | None = None) -> QuerySet[File]:
    """Files, oldest first, narrowed to one owner and/or category, with their ready derivatives."""
    files = File.objects.prefetch_related(ready_derivatives(), file_versions())
    if entity_id is not None:
        files = files.filter(entity_id=entity_id)
    if category is not None:
        files = files.filter(category=category)
    return files


def files_first_per_owner(*, files: QuerySet[File], limit: int) -> QuerySet[File]:
    """At most ``limit`` of each record's ``files`` (the first by id, as the file list pages them), in one query.

    Each file carries ``owner_files_count``: how many of ``files`` its record
    has in all. The database numbers and counts each record's files (window
    functions) and returns only the first ``limit``, so a record with 20,000
    files costs the service ``limit`` rows, not 20,000.
    """
    owner = [F("entity_type"), F("entity_id")]
    return (
        files.annotate(
            owner_rank=Window(RowNumber(), partition_by=owner, order_by=[F("id").asc()]),
            owner_files_count=Window(Count("id"), partition_by=owner),
        )
        .filter(owner_rank__lte=limit)
        .order_by("id")
    )


def files_storage_report(*, files: QuerySet[File]) -> dict:
    """Counts and bytes of ``files`` (live and trashed: those a user may see) by category and owner type, and trash."""

    def rows(queryset, *fields):
        grouped = queryset.values(*fields).annotate(count=Count("id"), bytes=Sum("size")).order_by(*fields)
        return [{"name": " ".join(str(row[f]) for f in fields), **row} for row in grouped]

    return {
        "sections": [
            ("By category", {"label": "Category", "items": rows(files.live(), "category")}),
            (
                "By owner type",
                {"label": "Owner", "items": rows(files.live(), "entity_type__app_label", "entity_type__model")},
            ),
            ("In the trash", {"label": "Category", "items": rows(files.trashed(), "category")}),
        ]
    }


def files_expired_trash(*, now=None) -> QuerySet[File]:
    """Trashed files past ``FILES_TRASH_RETENTION_DAYS`` and not on hold: what the purge removes."""
    cutoff = (now or timezone.now()) - conf.trash_retention()
    return File.all_objects.trashed().filter(deleted_at__lte=cutoff, legal_hold=False)


def ready_derivatives() -> Prefetch:
    """Prefetch each file's ready derivatives: one query for a whole page of files, whatever their number."""
    return Prefetch("derivatives", queryset=Derivative.objects.filter(state=Derivative.State.READY))


def file_versions() -> Prefetch:
    """Prefetch each file's versions and who made them: one query for a whole page of files."""
    return Prefetch("versions", queryset=FileVersion.objects.select_related("created_by"))


def files_as_stored(*, files: list[File]) -> list[File]:
    """``files`` read again, in the same order, with their ready derivatives.

    What committing them did is then in the answer: without a broker their
    derivatives were made as they committed, and with them their width,
    height and pages, which the instances in hand do not have.
    """
    stored = File.objects.prefetch_related(ready_derivatives(), file_versions()).in_bulk([file.pk for file in files])
    return [stored.get(file.pk, file) for file in files]  # one deleted meanwhile is answered as it was stored


def files_needing_derivatives(*, media_types, include_failed: bool = False, everything: bool = False) -> QuerySet[File]:
    """Live files of ``media_types`` lacking a derivative of some variant, by id.

    A failed derivative counts as made unless ``include_failed``;
    ``everything`` takes every such file.
    """
    files = File.objects.filter(media_type__in=media_types).order_by("pk")
    if everything:
        return files
    final = [Derivative.State.READY] if include_failed else [Derivative.State.READY, Derivative.State.FAILED]
    made = Count("derivatives", filter=Q(derivatives__state__in=final))
    return files.annotate(made=made).filter(made__lt=len(conf.derivative_variants()))


def files_awaiting_scan(*, failed: bool = False, everything: bool = False) -> QuerySet[File]:
    """Live files the malware scanner has yet to decide (with ``failed``: and those it could not), oldest first.

    With ``everything``: every live file not already found infected, for a rescan with new signatures.
    """
    files = File.objects.exclude(scan_status=File.ScanStatus.INFECTED).order_by("id")
    if everything:
        return files
    statuses = [File.ScanStatus.PENDING, *([File.ScanStatus.FAILED] if failed else [])]
    return files.filter(scan_status__in=statuses)
