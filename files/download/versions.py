"""What serving needs of a file's version ``n`` at ``{entity_id}/{file_id}.v{n}{ext}``.

A version's bytes never change (``files.models.FileVersion``), so its path
always serves the same bytes, with its own ETag (its SHA-256): an old link
keeps showing what it showed. It is served as its file is: same policy
(whoever may view the file may view each of its versions), same audit,
same headers; a file in the trash has none to serve.
"""

import re

from files import conf
from files.caching import BoundedCache
from files.download.serving import FileMeta
from files.models import File, FileVersion

#: A version's ending: ``.v{n}`` then the version's own extension.
VERSION_ENDING = re.compile(r"\.v(?P<number>[1-9][0-9]{0,8})(?P<extension>\.[a-z0-9]{1,15})")

# Keyed by file and ending: the row never changes, and the file's trashing moves the bytes away at once.
_version_cache: BoundedCache[FileMeta] = BoundedCache(size=20_000, ttl=conf.auth_cache_seconds)


def version_meta(*, file_id: str, entity_id: str, extension: str) -> FileMeta:
    """The metadata of a live file's version named by ``extension`` (``.v2.pdf``); raises ``File.DoesNotExist``."""
    meta = _version_cache.get_or_set((file_id, extension), lambda: _version_meta(file_id, extension))
    if meta.entity_id != entity_id:
        raise File.DoesNotExist(file_id)
    return meta


def _version_meta(file_id: str, extension: str) -> FileMeta:
    ending = VERSION_ENDING.fullmatch(extension)
    version = (
        FileVersion.objects.select_related("file")
        .filter(file_id=file_id, file__deleted_at__isnull=True, number=int(ending["number"]) if ending else 0)
        .first()
    )
    if version is None or f".v{version.number}{version.extension}" != extension:
        raise File.DoesNotExist(file_id)
    return FileMeta.of_version(version.file, version)
