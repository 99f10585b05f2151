"""The Django admin for files. Every change goes through :mod:`files.services`, the same as the API."""

from files.admin.audit import AuditEventAdmin
from files.admin.files import FileAdmin
from files.admin.owners import FileInline, FileOwnerAdmin, FileUploadInline

__all__ = ["AuditEventAdmin", "FileAdmin", "FileInline", "FileOwnerAdmin", "FileUploadInline"]
