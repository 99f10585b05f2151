"""The download fast path: a WSGI layer in front of Django for ``GET /static/...``.

A clinic's screens load dozens of thumbnails at once, so the download path
skips Django's request and middleware machinery whenever it can decide
alone: a signed URL, a token, or no credentials at all (401). Requests with
a session cookie, and everything else, go on to Django, whose view runs the
very same code (``files.download.access``). A request for a host outside
``ALLOWED_HOSTS`` goes on to Django too, which refuses it (400) as it
refuses any other.

Wrap the project's WSGI application with it::

    application = FilesFastPath(get_wsgi_application())
"""

import logging
from http import HTTPStatus

from django.core.signals import request_finished

from files.backends import CHUNK, FileSlice
from files.caching import take_load_count
from files.download import config
from files.download.access import download_reply, unavailable_reply
from files.download.serving import Reply, error_reply
from files.download.tcp import corked

logger = logging.getLogger(__name__)


class FilesFastPath:
    def __init__(self, application) -> None:
        self.application = application

    def __call__(self, environ, start_response):
        settings = config.current()
        if not self._decides(environ, settings):
            return self.application(environ, start_response)
        try:
            answer = download_reply(environ, path=environ["PATH_INFO"][len(settings.download_prefix) :])
        except Exception as error:
            # An audit event that cannot be written (FILES_AUDIT_FLUSH_SECONDS=0, database down) is an outage too.
            answer = unavailable_reply(error)
            if answer is None:
                logger.exception("download failed: %s", environ.get("PATH_INFO"))
                answer = error_reply(500, "Internal server error")
        finally:
            if take_load_count():
                # The request used the database: end it as Django ends a request, which closes a
                # broken or expired connection and has the next use health-check it. Requests
                # answered from the caches skip this (it is a quarter of their time).
                request_finished.send(sender=self.__class__)
        return send(answer, environ, start_response)

    @staticmethod
    def _decides(environ, settings: config.DownloadConfig) -> bool:
        path = environ.get("PATH_INFO", "")
        if not path.startswith(settings.download_prefix) or path.startswith(settings.delete_prefix):
            return False
        if environ.get("REQUEST_METHOD") not in {"GET", "HEAD"}:
            return False
        has_session = settings.session_cookie in environ.get("HTTP_COOKIE", "")
        credentials = (
            not has_session or "HTTP_AUTHORIZATION" in environ or "signature=" in environ.get("QUERY_STRING", "")
        )
        if not credentials:
            return False
        # The host Django's HttpRequest.get_host() would check.
        if settings.forwarded_host and "HTTP_X_FORWARDED_HOST" in environ:
            host = environ["HTTP_X_FORWARDED_HOST"]
        else:
            host = environ["HTTP_HOST"] if "HTTP_HOST" in environ else environ.get("SERVER_NAME", "")
        return settings.host_allowed(host)


_STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}


def send(answer: Reply, environ, start_response):
    """Hand a reply to the WSGI server; a file slice goes through its ``wsgi.file_wrapper`` (sendfile), corked."""
    start_response(_STATUS_LINES[answer.status], answer.headers)
    if isinstance(answer.body, FileSlice) and "wsgi.file_wrapper" in environ:
        return environ["wsgi.file_wrapper"](corked(answer.body, environ), CHUNK)
    return answer.body
