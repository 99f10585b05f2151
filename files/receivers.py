"""Signal receivers: a record's deletion takes its files with it."""

from functools import partial

from django.db import transaction
from django.db.models.signals import post_delete, pre_delete

from files.download.access import forget_token
from files.models import owner_models
from files.services import owner_files_delete_with


def delete_owner_files(sender, instance, **kwargs) -> None:
    """Delete the files of a record that is being deleted, as the user :func:`owner_delete` names.

    It runs inside the deletion's transaction, so the bytes go only if the
    record's deletion commits; a deletion outside ``owner_delete`` of a
    record with files is refused (see :func:`owner_files_delete_with`).
    """
    owner_files_delete_with(owner=instance)


def forget_deleted_token(sender, instance, using, **kwargs) -> None:
    """A deleted token stops opening files at once in this process (others: within the auth cache time).

    Forgotten now, for this thread, and again once the deletion commits: until then other requests still
    read the token from the database, and would remember it (and its downloads) for the auth cache time.
    """
    forget_token(instance.key)
    transaction.on_commit(partial(forget_token, instance.key), using=using)


def connect_owner_receivers() -> None:
    """Connect :func:`delete_owner_files` for every model that owns files."""
    for model in owner_models():
        pre_delete.connect(delete_owner_files, sender=model, dispatch_uid=f"files.owner.{model._meta.label}")


def connect_token_receiver() -> None:
    """Connect :func:`forget_deleted_token` to DRF's token model."""
    from rest_framework.authtoken.models import Token

    post_delete.connect(forget_deleted_token, sender=Token, dispatch_uid="files.forget_deleted_token")
