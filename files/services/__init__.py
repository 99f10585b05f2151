"""Every write to files: attach, replace, delete (to the trash), restore, purge, hold, scan.

Views, the admin, commands and the record cascade all come through here, so
the rules (bytes before row, legal holds, who deleted, whole or nothing)
hold on every path. A record with files is deleted through
:func:`owner_delete`.

One module per concept, their public names imported here:

- :mod:`~files.services.intake`: new files and new versions, and the checks every upload gets;
- :mod:`~files.services.trash`: deleting a file to the trash, restoring it, purging it;
- :mod:`~files.services.owners`: deleting a record, and its files with it;
- :mod:`~files.services.holds`: legal holds, and the rule that nothing on hold goes;
- :mod:`~files.services.scans`: virus scans and the quarantine;
- :mod:`~files.services.storage`: the storage transaction that keeps bytes and rows whole or nothing.
"""

from files.services.holds import legal_hold_check, legal_hold_set
from files.services.intake import clean_file_name, file_attach, file_replace, files_attach, upload_check
from files.services.owners import owner_delete, owner_files_delete_with
from files.services.scans import file_quarantine, file_scan
from files.services.storage import storage_transaction
from files.services.trash import file_delete, file_purge, file_restore, files_purge_expired

__all__ = [
    "clean_file_name",
    "file_attach",
    "file_delete",
    "file_purge",
    "file_quarantine",
    "file_replace",
    "file_restore",
    "file_scan",
    "files_attach",
    "files_purge_expired",
    "legal_hold_check",
    "legal_hold_set",
    "owner_delete",
    "owner_files_delete_with",
    "storage_transaction",
    "upload_check",
]
