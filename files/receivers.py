"""Signal receivers: a record's deletion takes its files with it."""

from django.db.models.signals import pre_delete

from files.models import owner_models
from files.services import files_delete_for_owner


def delete_owner_files(sender, instance, **kwargs) -> None:
    """Delete the files of a record that is being deleted, through the delete service.

    It runs inside the deletion's transaction, so the bytes go only if the
    record's deletion commits.
    """
    files_delete_for_owner(owner=instance)


def connect_owner_receivers() -> None:
    """Connect :func:`delete_owner_files` for every model that owns files."""
    for model in owner_models():
        pre_delete.connect(delete_owner_files, sender=model, dispatch_uid=f"files.owner.{model._meta.label}")
