"""HTTP semantics of a download: conditional requests, byte ranges and Content-Disposition.

Pure functions over header values, so the views never parse HTTP themselves.
They follow RFC 9110 (conditional requests, ranges, multipart/byteranges) and
RFC 6266 / RFC 8187 (Content-Disposition), the way a careful static file
server does; unlike Django's static serving they honour Range, and unlike
WhiteNoise they honour If-Range.
"""

import re
import secrets
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import quote

from django.utils.http import parse_http_date_safe

# More ranges than this in one header and the header is ignored (200, whole
# file). A client has no use for more; Starlette's CVE-2025-62727 was
# quadratic work on headers with thousands of ranges.
MAX_RANGES = 16

# HTTP's optional whitespace (OWS).
_OWS = " \t"

# A byte-range-spec: int-range "first-[last]" or suffix-range "-length".
# [0-9], not \d: the grammar is ASCII DIGIT (int() would also take '٣', '+', '_').
_RANGE_SPEC = re.compile(r"([0-9]+)-([0-9]*)|-([0-9]+)")

# One element of a comma-separated list: everything up to the next comma that
# is outside double quotes (an unterminated quote runs to the end). etagc
# excludes DQUOTE but includes ',', so a list of entity tags can't be split on
# commas. Linear: the alternatives start differently, so nothing backtracks.
_LIST_ELEMENT = re.compile(r'(?:[^",]|"[^"]*"?)*')

# A whole list element that is an entity tag: OWS, [W/], "opaque-tag", OWS.
_ENTITY_TAG = re.compile(r'[ \t]*(W/)?("[\x21\x23-\x7e\x80-\xff]*")[ \t]*')

# Characters removed from file names: C0 and C1 controls (category Cc). They
# are never part of a meaningful name, and CR/LF would break the header.
_CONTROLS = dict.fromkeys([*range(0x20), *range(0x7F, 0xA0)])

# ASCII characters replaced in the filename= fallback: '"' and '\' would end or
# escape the quoted-string, ';' and ',' confuse lax header parsers, and some
# browsers percent-decode filename=, so '%' could smuggle in another name.
_FALLBACK_UNSAFE = str.maketrans(dict.fromkeys('"\\;,%', "_"))

# RFC 8187 attr-char besides letters, digits and "-._~" (which quote() never encodes).
_ATTR_CHAR_PUNCTUATION = "!#$&+^`|"


class RangeNotSatisfiable(Exception):
    """The Range header is valid but no range overlaps the representation.

    Answer 416 with ``Content-Range: bytes */{size}``.
    """


def parse_range(header: str | None, size: int) -> list[tuple[int, int]] | None:
    """The byte ranges a Range header asks of a ``size``-byte representation (RFC 9110 §14.1.2).

    Returns sorted, merged, inclusive ``(first, last)`` pairs, or None to ignore
    the header and send the whole representation: no header, malformed syntax
    (anywhere in it), a unit other than bytes, or more than MAX_RANGES ranges.
    Raises RangeNotSatisfiable when the header is valid but no range is
    satisfiable, which is always the case for a zero-length representation.
    """
    if header is None:
        return None
    unit, equals, range_set = header.strip(_OWS).partition("=")
    if not equals or unit.lower() != "bytes":
        return None
    # RFC 9110 §5.6.1.2: a list tolerates OWS around elements and empty elements.
    specs = [spec for spec in (element.strip(_OWS) for element in range_set.split(",")) if spec]
    if not specs or len(specs) > MAX_RANGES:
        return None
    width = len(str(size))
    wanted = []
    for spec in specs:
        spec_match = _RANGE_SPEC.fullmatch(spec)
        if spec_match is None:
            return None
        first_text, last_text, suffix_text = spec_match.groups()
        if suffix_text is not None:
            # The last N bytes; the whole representation if it is shorter.
            length = _position(suffix_text, size, width)
            if length and size:
                wanted.append((max(size - length, 0), size - 1))
            continue
        if not last_text:
            last = size - 1
        elif _numeral_greater(first_text, last_text):
            return None
        else:
            last = min(_position(last_text, size, width), size - 1)
        first = _position(first_text, size, width)
        if first < size:
            wanted.append((first, last))
    if not wanted:
        raise RangeNotSatisfiable
    # Overlapping or adjacent ranges are sent once: no byte twice, no amplification.
    wanted.sort()
    merged = [wanted[0]]
    for first, last in wanted[1:]:
        previous_first, previous_last = merged[-1]
        if first <= previous_last + 1:
            merged[-1] = (previous_first, max(previous_last, last))
        else:
            merged.append((first, last))
    return merged


def _position(numeral: str, size: int, width: int) -> int:
    """A numeral's value, or ``size`` when it has more digits than ``size`` (``width`` = ``len(str(size))``).

    Every value from the size up means the same (no such first byte, last byte
    clamped, whole file), and this spares absurdly long numerals a big-int
    conversion: CPython's is quadratic and refuses more than 4300 digits.
    """
    significant = numeral.lstrip("0")
    return size if len(significant) > width else int(significant or "0")


def _numeral_greater(left: str, right: str) -> bool:
    # Compared as text, so numerals of any length compare exactly without conversion.
    left, right = left.lstrip("0"), right.lstrip("0")
    return (len(left), left) > (len(right), right)


def check_preconditions(
    *,
    method: str,
    if_match: str | None,
    if_none_match: str | None,
    if_modified_since: str | None,
    if_unmodified_since: str | None,
    etag: str,
    last_modified: float,
) -> int | None:
    """The outcome of a request's conditional headers (RFC 9110 §13.2.2): 412, 304, or None to proceed.

    ``etag`` is the representation's strong entity tag, quotes included;
    ``last_modified`` a Unix timestamp. Headers are absent when None.
    """
    if if_match is not None:
        if not _etag_matches(if_match, etag, weak=False):
            return 412
    elif if_unmodified_since is not None:
        date = _http_date(if_unmodified_since)
        if date is not None and _seconds(last_modified) > date:
            return 412
    safe = method in ("GET", "HEAD")
    if if_none_match is not None:
        if _etag_matches(if_none_match, etag, weak=True):
            return 304 if safe else 412
    elif if_modified_since is not None and safe:
        date = _http_date(if_modified_since)
        if date is not None and _seconds(last_modified) <= date:
            return 304
    return None


def if_range_allows_partial(if_range: str | None, *, etag: str, last_modified: float) -> bool:
    """Whether a Range header may be honoured (RFC 9110 §13.1.5), else the whole representation is sent.

    True without If-Range, or when it is exactly the current strong ``etag``
    or an HTTP date equal to ``last_modified`` (whole seconds); a weak or
    different tag, or a different or invalid date, is False.
    """
    if if_range is None:
        return True
    value = if_range.strip(_OWS)
    if value.startswith(('"', "W/")):
        # If-Range needs strong comparison: "W/..." never equals a strong tag.
        return value == etag
    date = _http_date(value)
    return date is not None and date == _seconds(last_modified)


def _etag_matches(field: str, etag: str, *, weak: bool) -> bool:
    """Whether an If-Match / If-None-Match value matches ``etag`` (RFC 9110 §8.8.3.2).

    Weak comparison ignores a listed tag's W/; strong comparison needs it
    absent. Malformed list elements are skipped.
    """
    if field.strip(_OWS) == "*":
        return True
    position = 0
    while position <= len(field):
        element = _LIST_ELEMENT.match(field, position)
        tag = _ENTITY_TAG.fullmatch(field, position, element.end())
        if tag is not None and tag[2] == etag and (weak or tag[1] is None):
            return True
        position = element.end() + 1  # past the comma
    return False


def _http_date(value: str) -> int | None:
    return parse_http_date_safe(value.strip(_OWS))


def _seconds(timestamp: float) -> int:
    # The second Last-Modified shows: http_date() rounds to microseconds before
    # dropping them, so X.9999996 is shown (and sent back) as X+1, not floor(X).
    return int(datetime.fromtimestamp(timestamp, UTC).replace(microsecond=0).timestamp())


def content_range(first: int, last: int, size: int) -> str:
    """The Content-Range value of a 206 part: bytes ``first``..``last`` (inclusive) of ``size``."""
    return f"bytes {first}-{last}/{size}"


def content_disposition(filename: str, *, attachment: bool) -> str:
    """The Content-Disposition value for a file called ``filename`` (RFC 6266, RFC 8187).

    Always a filename= quoted-string that every client understands: ASCII,
    non-ASCII letters transliterated (NFKD, accents dropped) or replaced by
    '_', and nothing that can end the string or inject into the header. When
    that fallback is not the name itself, filename*=UTF-8'' carries the exact
    name, percent-encoded, for clients that read it (all current browsers).
    Control characters are dropped from both; an empty name becomes "file".
    """
    name = filename.translate(_CONTROLS) or "file"
    fallback = name
    if not name.isascii():
        decomposed = unicodedata.normalize("NFKD", name)
        fallback = "".join(char if char.isascii() else "_" for char in decomposed if not unicodedata.combining(char))
    fallback = fallback.translate(_FALLBACK_UNSAFE) or "file"
    value = f'{"attachment" if attachment else "inline"}; filename="{fallback}"'
    if fallback != name:
        # errors="replace": a lone surrogate (undecodable bytes) must not raise.
        value += f"; filename*=UTF-8''{quote(name, safe=_ATTR_CHAR_PUNCTUATION, errors='replace')}"
    return value


class MultipartByteranges:
    """Plans a multipart/byteranges body (RFC 9110 §14.6) for several ranges without reading the file.

    The caller writes, for each of ``parts()``, its header bytes then the
    file's bytes ``first``..``last`` (inclusive), and after the last part
    ``closing``. ``content_length`` is the exact length of that body, known
    before any byte is read.
    """

    def __init__(self, ranges: list[tuple[int, int]], size: int, content_type: str, boundary: str | None = None):
        # Random, so an uploader can't plant the boundary in the file's bytes.
        boundary = boundary or secrets.token_hex(16)
        self.content_type = f"multipart/byteranges; boundary={boundary}"
        # Every part starts with CRLF: the first one's is preamble, the others' belong to the delimiter.
        self._parts = [
            (
                f"\r\n--{boundary}\r\nContent-Type: {content_type}\r\n"
                f"Content-Range: {content_range(first, last, size)}\r\n\r\n".encode("latin-1"),
                first,
                last,
            )
            for first, last in ranges
        ]
        self.closing = f"\r\n--{boundary}--\r\n".encode("latin-1")
        parts_length = sum(len(header) + last - first + 1 for header, first, last in self._parts)
        self.content_length = parts_length + len(self.closing)

    def parts(self) -> Iterator[tuple[bytes, int, int]]:
        """``(header_bytes, first, last)`` of each part, in order."""
        return iter(self._parts)
