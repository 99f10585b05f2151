"""The download path's Django view: requests the WSGI fast path leaves to Django get the very same answer."""

from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from files.backends import FileSlice
from files.download.access import download_reply
from files.download.serving import Reply
from files.download.tcp import corked


@csrf_exempt  # it changes nothing: every method but GET and HEAD is answered 405
def serve(request, file_path: str) -> HttpResponseBase:
    """``GET /static/{entity_id}/{file_id}{ext}``: the file's bytes.

    Requests the WSGI fast path left to Django (a session cookie; or no fast
    path, as under ``runserver``) get the very same answer here.
    """
    return as_django_response(download_reply(request.META, path=file_path, user=request.user), request.META)


def as_django_response(reply: Reply, environ) -> HttpResponseBase:
    """A :class:`files.download.serving.Reply` as a Django response (a FileResponse keeps sendfile, corked)."""
    if isinstance(reply.body, FileSlice):
        response = FileResponse(corked(reply.body, environ), status=reply.status)
    elif isinstance(reply.body, list):
        response = HttpResponse(b"".join(reply.body), status=reply.status)
    else:
        response = StreamingHttpResponse(reply.body, status=reply.status)
    headers = dict(reply.headers)
    if "Content-Type" not in headers:
        del response["Content-Type"]  # a 304 carries none
    for name, value in headers.items():
        response[name] = value
    # Files are shown in the clinic's own pages (a PDF in a frame); the CSP sandbox protects them.
    response.xframe_options_exempt = True
    return response
