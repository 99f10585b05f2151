"""The upload endpoint's multipart parser: a body is taken whole or not at all."""

from django.utils.http import parse_header_parameters
from rest_framework.exceptions import ParseError
from rest_framework.parsers import DataAndFiles, MultiPartParser


class WholeMultiPartParser(MultiPartParser):
    """DRF's multipart parser, refusing a body that ended early.

    Django's parser keeps the parts read before a body stops: a body cut in
    a form field or in a later part's headers (the client went away, or
    announced more bytes than it sent) would have the files before the cut
    stored. Here such a body is a parse error, and its files are removed.
    """

    def parse(self, stream, media_type=None, parser_context=None) -> DataAndFiles:
        _, params = parse_header_parameters(media_type or "")
        watched = _WatchedBody(stream, params.get("boundary", ""))
        parsed = super().parse(watched, media_type, parser_context)
        declared = int(parser_context["request"].META.get("CONTENT_LENGTH") or 0)
        if watched.size and (not watched.closed or watched.size < declared):
            for _, files in parsed.files.lists():
                for file in files:
                    file.close()  # a temporary file: closing removes it
            raise ParseError("Multipart form parse error - The body ended before its closing boundary")
        return parsed


class _WatchedBody:
    """A request body as the parser reads it, noting its size and whether its closing delimiter went by."""

    def __init__(self, stream, boundary: str) -> None:
        self._stream = stream
        self._closing = f"\r\n--{boundary}--".encode()
        self._tail = b"\r\n"  # the body may open with the closing delimiter (no part at all)
        self.size = 0
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.size += len(data)
        if not self.closed and data:
            window = self._tail + data
            self.closed = self._closing in window
            self._tail = window[-len(self._closing) :]
        return data
