"""Who may view, add and delete files.

One policy object answers every question; the API, the download path, the
admin and the services ask it, never ``user.has_perm`` directly. A host project swaps in
its own rules with ``FILES_PERMISSION_POLICY`` (see ``files.conf``): a
subclass of :class:`ModelPermissionPolicy` that narrows which records a user
reaches (``records_visible_to``) and which files they may act on.
"""

from django.contrib.contenttypes.models import ContentType
from django.db.models import QuerySet

from files.models import File, owner_models

VIEW, ADD, DELETE = "view", "add", "delete"

#: Who places and releases legal holds, on files and on records (``files/migrations/0005_...``).
HOLD_PERMISSION = "files.hold_file"
#: Who may download files the malware scanner has not found clean (``files.scanning``).
UNSCANNED_PERMISSION = "files.read_unscanned_file"


class ModelPermissionPolicy:
    """Django model permissions: ``files.<action>_file`` plus view permission on the owner's model.

    A receptionist with ``files.view_file`` but without ``patients.view_patient``
    sees no patient's files.
    """

    def user_has_permission(self, user, action: str) -> bool:
        """May ``user`` do ``action`` to files at all?"""
        return bool(user and user.is_active and user.has_perm(f"files.{action}_file"))

    def user_has_permission_for_owner_type(self, user, action: str, owner_type: ContentType) -> bool:
        """May ``user`` do ``action`` to files of records of ``owner_type``?"""
        return self.user_has_permission(user, action) and user.has_perm(
            f"{owner_type.app_label}.view_{owner_type.model}"
        )

    def user_has_permission_for_owner(self, user, action: str, owner) -> bool:
        """May ``user`` do ``action`` to the files of the record ``owner``?"""
        return self.user_has_permission_for_owner_type(user, action, ContentType.objects.get_for_model(owner))

    def user_has_permission_for_file(self, user, action: str, file: File) -> bool:
        """May ``user`` do ``action`` to ``file``?"""
        owner_type = ContentType.objects.get_for_id(file.entity_type_id)
        return self.user_has_permission_for_owner_type(user, action, owner_type)

    def records_visible_to(self, user, records: QuerySet) -> QuerySet:
        """Narrow ``records`` (of one owner model) to those ``user`` may see, and so list.

        Here every record: the record endpoints check the model's own view
        permission. A host policy narrows it (a doctor's own patients).
        """
        return records

    def user_may_see_record(self, user, record) -> bool:
        """May ``user`` see the record ``record`` (and so be told it exists)?"""
        return self.records_visible_to(user, type(record)._default_manager.filter(pk=record.pk)).exists()

    def user_reaches_every_record(self, user) -> bool:
        """Does ``user`` reach every record, so that telling them an id does not exist tells them nothing?"""
        return True  # records_visible_to narrows nothing here

    def user_may_link(self, user, *, record, field: str, target) -> bool:
        """May ``user`` make the relation ``field`` of ``record`` (None: a record being created) point at ``target``?

        By default when they reach ``target``: linking a record to another
        (an appointment to a patient) must not make what the user may not
        see reachable to them. A host policy may narrow it further.
        """
        return self.user_may_see_record(user, target)

    def user_may_hold(self, user, target=None) -> bool:
        """May ``user`` place ``target`` (a file or a record; None: anything at all) on legal hold, or release it?

        A hold decides what may never be deleted: only for users granted
        ``files.hold_file``, and only on what they may see.
        """
        if not (user and user.is_active and user.has_perm(HOLD_PERMISSION)):
            return False
        if target is None:
            return True
        if isinstance(target, File):
            return self.user_has_permission_for_file(user, VIEW, target)
        return self.user_may_see_record(user, target)

    def user_may_read_unscanned(self, user, file) -> bool:
        """May ``user``, already allowed to view ``file``, read it while the malware scanner has not found it clean?

        Its uploader (who had the bytes anyway) and users granted
        ``files.read_unscanned_file`` (admins, who decide about a failed scan).
        ``file`` is a ``File`` or the download path's ``FileMeta``.
        """
        if not (user and user.is_active):
            return False
        return user.pk == file.uploaded_by_id or user.has_perm(UNSCANNED_PERMISSION)

    def user_may_link_accounts(self, user) -> bool:
        """May ``user`` link a record to a user account, or unlink it (a doctor's or patient's own account)?

        A host policy that lets a linked account reach its record makes this
        a grant of access: here, superusers only.
        """
        return bool(user and user.is_active and user.is_superuser)

    def user_may_reconcile(self, user) -> bool:
        """May ``user`` run the reconciliation with storage, which sees, trashes and purges any file?"""
        return (
            self.user_has_permission(user, VIEW)
            and self.user_has_permission(user, DELETE)
            and self.user_reaches_every_record(user)
        )

    def files_visible_to(self, user, files: QuerySet[File]) -> QuerySet[File]:
        """Narrow ``files`` to those ``user`` may view."""
        if not self.user_has_permission(user, VIEW):
            return files.none()
        owner_types = ContentType.objects.get_for_models(*owner_models()).values()
        visible = [ct.pk for ct in owner_types if self.user_has_permission_for_owner_type(user, VIEW, ct)]
        return files.filter(entity_type__in=visible)
