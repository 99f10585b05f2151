"""What the download path builds from its settings, once per process instead of on every download.

Each value still comes from its one function in ``files.conf`` (or Django's
setting), which remembers the raw values itself; what this snapshot keeps is
what is made from them: the URL prefixes reversed, the storage and its
open-file function, the serving mode and the policy instances, the storage
places. Settings do not change while a process runs, except in tests, whose
changes (``setting_changed``) drop the snapshot: the next download makes it again.
"""

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.signals import setting_changed
from django.http.request import split_domain_port, validate_host

from files import backends, conf
from files.routes import delete_prefix, download_prefix

# Hosts are the client's to write: beyond this many different ones, the answers stop being remembered.
_HOSTS_REMEMBERED = 256


@dataclass
class DownloadConfig:
    download_prefix: str
    delete_prefix: str
    session_cookie: str
    forwarded_host: bool
    storage: object
    #: ``files.backends.open_blob`` for ``storage``, its kind found once.
    open_blob: Callable[[str], backends.Blob]
    server: object
    policy: object
    address_header: str | None
    storage_slot: backends.StorageSlot
    _hosts: dict[str, bool] = field(default_factory=dict)

    def host_allowed(self, host: str) -> bool:
        """Whether Django would accept ``host`` (``HttpRequest.get_host()``'s check), remembered per host."""
        allowed = self._hosts.get(host)
        if allowed is None:
            allowed = _host_allowed(host)
            if len(self._hosts) < _HOSTS_REMEMBERED:
                self._hosts[host] = allowed
        return allowed


@functools.cache
def current() -> DownloadConfig:
    """The snapshot, made at the first download (Django set up by then)."""
    return DownloadConfig(
        download_prefix=download_prefix(),
        delete_prefix=delete_prefix(),
        session_cookie=settings.SESSION_COOKIE_NAME + "=",
        forwarded_host=settings.USE_X_FORWARDED_HOST,
        storage=conf.storage(),
        open_blob=backends.blob_opener(conf.storage()),
        server=conf.server(),
        policy=conf.permission_policy(),
        address_header=conf.client_address_header(),
        storage_slot=backends.storage_slot(),
    )


def _host_allowed(host: str) -> bool:
    """Only the domain is checked, as Django does, so the port of the ``SERVER_NAME`` fallback does not matter."""
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    domain, _ = split_domain_port(host)
    return bool(domain) and validate_host(domain, allowed)


def _forget(**kwargs) -> None:
    current.cache_clear()


setting_changed.connect(_forget, dispatch_uid="files.download.config")
