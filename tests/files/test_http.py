"""HTTP semantics of downloads (files.download.http): ranges, preconditions, If-Range, disposition, multipart."""

import re
import unicodedata
from itertools import pairwise
from urllib.parse import unquote

import pytest
from django.utils.http import http_date
from hypothesis import given
from hypothesis import strategies as st

from files.download import http
from files.download.http import MAX_RANGES, RangeNotSatisfiable

ETAG = '"abc"'
# A fraction of a second: HTTP dates only have whole seconds.
MODIFIED = 1_700_000_000.25
SAME_SECOND = http_date(MODIFIED)
SECOND_BEFORE = http_date(MODIFIED - 1)
SECOND_AFTER = http_date(MODIFIED + 1)


# --- parse_range: examples --------------------------------------------------


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        pytest.param("bytes=0-499", 1000, [(0, 499)], id="first-last"),
        pytest.param("bytes=0-0", 1000, [(0, 0)], id="one-byte"),
        pytest.param("bytes=999-999", 1000, [(999, 999)], id="last-byte"),
        pytest.param("bytes=500-", 1000, [(500, 999)], id="open-ended"),
        pytest.param("bytes=0-", 1000, [(0, 999)], id="open-from-zero-is-still-a-range"),
        pytest.param("bytes=0-999", 1000, [(0, 999)], id="whole-file-is-still-a-range"),
        pytest.param("bytes=-500", 1000, [(500, 999)], id="suffix"),
        pytest.param("bytes=-1", 1000, [(999, 999)], id="suffix-one-byte"),
        pytest.param("bytes=500-5000", 1000, [(500, 999)], id="overlong-last-clamped"),
        pytest.param("bytes=0007-0010", 1000, [(7, 10)], id="leading-zeros"),
        pytest.param("Bytes=0-1", 1000, [(0, 1)], id="unit-capitalised"),
        pytest.param("BYTES=0-1", 1000, [(0, 1)], id="unit-upper-case"),
        pytest.param("  bytes=0-1\t", 1000, [(0, 1)], id="ows-around-the-value"),
        pytest.param("bytes= 0-1 ,\t3-4 ", 1000, [(0, 1), (3, 4)], id="ows-around-ranges"),
        pytest.param("bytes=0-1,,3-4", 1000, [(0, 1), (3, 4)], id="empty-element"),
        pytest.param("bytes=,0-1, ,3-4,", 1000, [(0, 1), (3, 4)], id="empty-elements-at-both-ends"),
    ],
)
def test_parse_range_valid_headers(header, size, expected):
    assert http.parse_range(header, size) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("bytes=-5000", [(0, 999)], id="suffix-longer"),
        pytest.param("bytes=-1000", [(0, 999)], id="suffix-exactly-the-size"),
        pytest.param("bytes=-1001", [(0, 999)], id="suffix-one-longer"),
    ],
)
def test_parse_range_suffix_longer_than_file_is_clamped(header, expected):
    assert http.parse_range(header, 1000) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("bytes=500-599,0-99", [(0, 99), (500, 599)], id="sorted"),
        pytest.param("bytes=0-100,50-150", [(0, 150)], id="overlapping"),
        pytest.param("bytes=0-99,100-199", [(0, 199)], id="adjacent"),
        pytest.param("bytes=0-99,101-199", [(0, 99), (101, 199)], id="one-byte-gap-kept"),
        pytest.param("bytes=10-20,12-15", [(10, 20)], id="contained"),
        pytest.param("bytes=0-0,0-0,0-0", [(0, 0)], id="duplicates"),
        pytest.param("bytes=-100,0-", [(0, 999)], id="suffix-and-open-cover-all"),
        pytest.param("bytes=900-,-50", [(900, 999)], id="suffix-inside-open"),
        pytest.param("bytes=0-9,20-29,10-19", [(0, 29)], id="chain-joined-by-a-later-range"),
        pytest.param("bytes=0-9,900-,20-29", [(0, 9), (20, 29), (900, 999)], id="three-disjoint"),
    ],
)
def test_parse_range_merges_and_sorts(header, expected):
    assert http.parse_range(header, 1000) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("bytes=0-1,5000-6000", [(0, 1)], id="unsatisfiable-range-dropped"),
        pytest.param("bytes=1000-,-10", [(990, 999)], id="open-past-end-dropped"),
        pytest.param("bytes=-0,0-0", [(0, 0)], id="zero-suffix-dropped"),
    ],
)
def test_parse_range_keeps_only_satisfiable_ranges(header, expected):
    assert http.parse_range(header, 1000) == expected


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(None, id="no-header"),
        pytest.param("", id="empty"),
        pytest.param("bytes", id="no-equals"),
        pytest.param("bytes=", id="no-ranges"),
        pytest.param("bytes=,", id="only-empty-elements"),
        pytest.param("bytes= , ", id="only-blank-elements"),
        pytest.param("items=0-1", id="other-unit"),
        pytest.param("bytes =0-1", id="space-before-equals"),
        pytest.param("byte=0-1", id="unit-misspelt"),
        pytest.param("0-1", id="no-unit"),
        pytest.param("bytes=1", id="no-dash"),
        pytest.param("bytes=-", id="dash-only"),
        pytest.param("bytes=5-4", id="first-after-last"),
        pytest.param("bytes=0-1,5-4", id="one-bad-range-spoils-the-header"),
        pytest.param("bytes=0-1,x", id="garbage-element"),
        pytest.param("bytes=+1-2", id="plus-sign"),
        pytest.param("bytes=1-+2", id="plus-sign-on-last"),
        pytest.param("bytes=--1", id="negative-suffix"),
        pytest.param("bytes=1--2", id="negative-last"),
        pytest.param("bytes=0 -1", id="space-before-dash"),
        pytest.param("bytes=0- 1", id="space-after-dash"),
        pytest.param("bytes=1 0-20", id="space-inside-number"),
        pytest.param("bytes=1_0-20", id="underscore-inside-number"),
        pytest.param("bytes=0x1-2", id="hex"),
        pytest.param("bytes=1.5-2", id="decimal-point"),
        pytest.param("bytes=\u0661-\u0662", id="arabic-indic-digits"),
        pytest.param("bytes=\uff11-\uff12", id="fullwidth-digits"),
        pytest.param("bytes=0-\u00b2", id="superscript-digit"),
        pytest.param("bytes=0-1-2", id="two-dashes"),
        pytest.param("bytes=0-1;3-4", id="semicolon-separator"),
        pytest.param("bytes=0-1 3-4", id="space-separator"),
        pytest.param("bytes=bytes=0-1", id="unit-twice"),
    ],
)
def test_parse_range_malformed_header_is_ignored(header):
    assert http.parse_range(header, 1000) is None


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("bytes=1000-", id="open-at-size"),
        pytest.param("bytes=1000-2000", id="first-at-size"),
        pytest.param("bytes=5000-6000", id="first-past-size"),
        pytest.param("bytes=-0", id="zero-suffix"),
        pytest.param("bytes=-000", id="zero-suffix-padded"),
        pytest.param("bytes=1000-,2000-3000,-0", id="all-unsatisfiable"),
    ],
)
def test_parse_range_unsatisfiable_raises(header):
    with pytest.raises(RangeNotSatisfiable):
        http.parse_range(header, 1000)


@pytest.mark.parametrize("header", ["bytes=0-", "bytes=0-0", "bytes=-1", "bytes=-100", "bytes=0-,-5"])
def test_parse_range_zero_length_representation_is_unsatisfiable(header):
    with pytest.raises(RangeNotSatisfiable):
        http.parse_range(header, 0)


@pytest.mark.parametrize("header", [None, "bytes=5-4", "bytes=x", "items=0-"])
def test_parse_range_zero_length_malformed_is_still_ignored(header):
    assert http.parse_range(header, 0) is None


def test_parse_range_exactly_max_ranges_are_honoured():
    header = "bytes=" + ",".join(f"{2 * i}-{2 * i}" for i in range(MAX_RANGES))

    assert http.parse_range(header, 1000) == [(2 * i, 2 * i) for i in range(MAX_RANGES)]


def test_parse_range_more_than_max_ranges_is_ignored():
    header = "bytes=" + ",".join(f"{2 * i}-{2 * i}" for i in range(MAX_RANGES + 1))

    assert http.parse_range(header, 1000) is None


def test_parse_range_empty_elements_do_not_count_towards_max_ranges():
    header = "bytes=" + ",,".join(f"{2 * i}-{2 * i}" for i in range(MAX_RANGES)) + "," * 100

    assert http.parse_range(header, 1000) == [(2 * i, 2 * i) for i in range(MAX_RANGES)]


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("bytes=" + ",".join(f"{i}-{i}" for i in range(10_000)), id="distinct"),
        pytest.param("bytes=" + ",".join(["0-"] * 10_000), id="identical"),
        pytest.param("bytes=" + ",".join(f"{i}-" for i in range(10_000, 0, -1)), id="nested"),
    ],
)
def test_parse_range_thousands_of_ranges_are_ignored(header):
    assert http.parse_range(header, 10**6) is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("bytes=0-" + "9" * 100_000, [(0, 999)], id="huge-last-clamped"),
        pytest.param("bytes=-" + "9" * 100_000, [(0, 999)], id="huge-suffix-is-whole-file"),
        pytest.param("bytes=" + "0" * 100_000 + "5-6", [(5, 6)], id="huge-run-of-leading-zeros"),
        pytest.param("bytes=10-" + "0" * 100_000 + "12", [(10, 12)], id="leading-zeros-on-last"),
        pytest.param("bytes=" + "9" * 5000 + "-" + "9" * 4999, None, id="huge-first-after-huge-last"),
        pytest.param("bytes=" + "9" * 5000 + "-999", None, id="huge-first-after-last"),
        pytest.param("bytes=5000-" + "0" * 10 + "4999", None, id="padded-last-before-first"),
    ],
)
def test_parse_range_absurdly_long_numbers(header, expected):
    assert http.parse_range(header, 1000) == expected


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("bytes=" + "9" * 5000 + "-", id="huge-open"),
        pytest.param("bytes=" + "9" * 5000 + "-" + "9" * 5000, id="huge-first-equals-huge-last"),
        pytest.param("bytes=" + "1" + "0" * 5000 + "-" + "2" + "0" * 5000, id="huge-first-before-huge-last"),
    ],
)
def test_parse_range_absurdly_long_first_is_unsatisfiable(header):
    with pytest.raises(RangeNotSatisfiable):
        http.parse_range(header, 1000)


def test_parse_range_very_large_file():
    size = 10**15

    assert http.parse_range("bytes=-1", size) == [(size - 1, size - 1)]
    assert http.parse_range(f"bytes={size - 2}-{size * 10}", size) == [(size - 2, size - 1)]


# --- parse_range: properties -------------------------------------------------

positions = st.one_of(st.integers(0, 250), st.integers(0, 10**40))
range_specs = st.one_of(
    st.tuples(st.just("int"), positions, positions),
    st.tuples(st.just("int"), positions, positions).map(lambda spec: ("int", *sorted(spec[1:]))),
    st.tuples(st.just("open"), positions, st.none()),
    st.tuples(st.just("suffix"), positions, st.none()),
)


@st.composite
def range_headers(draw):
    """A Range header rendered from specs with random spelling, and the specs themselves."""
    specs = draw(st.lists(range_specs, min_size=1, max_size=MAX_RANGES + 4))

    def numeral(value):
        return "0" * draw(st.integers(0, 2)) + str(value)

    rendered = []
    for kind, first, last in specs:
        if kind == "int":
            rendered.append(f"{numeral(first)}-{numeral(last)}")
        elif kind == "open":
            rendered.append(f"{numeral(first)}-")
        else:
            rendered.append(f"-{numeral(first)}")
    separators = st.sampled_from([",", ", ", " ,", ",\t", ",,", ", ,", " , , "])
    text = rendered[0]
    for element in rendered[1:]:
        text += draw(separators) + element
    unit = draw(st.sampled_from(["bytes", "Bytes", "BYTES"]))
    return f"{unit}={text}", specs


def requested_offsets(specs, size):
    """Every satisfiable byte offset the specs ask for, or None when the header must be ignored."""
    if len(specs) > MAX_RANGES or any(kind == "int" and first > last for kind, first, last in specs):
        return None
    offsets = set()
    for kind, first, last in specs:
        if kind == "int":
            offsets.update(range(first, min(last, size - 1) + 1))
        elif kind == "open":
            offsets.update(range(first, size))
        else:
            offsets.update(range(max(size - first, 0), size))
    return offsets


def assert_normalised(ranges, size):
    """Sorted, within the representation, and neither overlapping nor adjacent."""
    assert ranges
    for first, last in ranges:
        assert 0 <= first <= last <= size - 1
    for (_, previous_last), (next_first, _) in pairwise(ranges):
        assert next_first > previous_last + 1


@given(range_headers(), st.integers(0, 200))
def test_parse_range_property_matches_the_requested_bytes(header_and_specs, size):
    header, specs = header_and_specs
    expected = requested_offsets(specs, size)

    if expected is None:
        assert http.parse_range(header, size) is None
    elif not expected:
        with pytest.raises(RangeNotSatisfiable):
            http.parse_range(header, size)
    else:
        ranges = http.parse_range(header, size)
        assert_normalised(ranges, size)
        assert set().union(*(range(first, last + 1) for first, last in ranges)) == expected


@given(st.one_of(st.text(), st.text(alphabet=" \t,-0123456789").map("bytes=".__add__)), st.integers(0, 10**6))
def test_parse_range_property_arbitrary_text_is_parsed_or_rejected(header, size):
    try:
        ranges = http.parse_range(header, size)
    except RangeNotSatisfiable:
        return
    if ranges is not None:
        assert_normalised(ranges, size)


# --- check_preconditions ------------------------------------------------------


def preconditions(method="GET", *, if_match=None, if_none_match=None, ims=None, ius=None, etag=ETAG):
    return http.check_preconditions(
        method=method,
        if_match=if_match,
        if_none_match=if_none_match,
        if_modified_since=ims,
        if_unmodified_since=ius,
        etag=etag,
        last_modified=MODIFIED,
    )


def test_check_preconditions_without_conditions_proceeds():
    assert preconditions() is None


@pytest.mark.parametrize(
    ("if_match", "expected"),
    [
        pytest.param("*", None, id="star"),
        pytest.param(" * ", None, id="star-with-ows"),
        pytest.param('"abc"', None, id="same-tag"),
        pytest.param('"x", "abc"', None, id="in-list"),
        pytest.param('"x",\t"abc" ,"y"', None, id="in-list-with-ows"),
        pytest.param('junk, "abc"', None, id="malformed-entry-skipped"),
        pytest.param('"a b", "abc"', None, id="tag-with-space-skipped"),
        pytest.param('"x"y, "abc"', None, id="trailing-garbage-skipped"),
        pytest.param(',, "abc",', None, id="empty-elements"),
        pytest.param('W/"abc"', 412, id="weak-never-matches-strongly"),
        pytest.param('W/"abc", "x"', 412, id="weak-in-list"),
        pytest.param('"xyz"', 412, id="other-tag"),
        pytest.param("abc", 412, id="unquoted"),
        pytest.param('"ABC"', 412, id="case-sensitive"),
        pytest.param("", 412, id="empty-list"),
        pytest.param('*, "x"', 412, id="star-inside-a-list-is-malformed"),
        pytest.param('"abc', 412, id="unterminated"),
    ],
)
def test_check_preconditions_if_match(if_match, expected):
    assert preconditions(if_match=if_match) == expected
    assert preconditions("PUT", if_match=if_match) == expected


@pytest.mark.parametrize(
    ("if_match", "etag", "expected"),
    [
        pytest.param('"a,b"', '"a,b"', None, id="comma-inside-tag"),
        pytest.param('"x", "a,b"', '"a,b"', None, id="comma-inside-listed-tag"),
        pytest.param('"a,b"', '"b"', 412, id="comma-inside-tag-not-a-separator"),
        pytest.param('"a, "b"', '"b"', 412, id="naive-split-would-match"),
    ],
)
def test_check_preconditions_if_match_parses_quoted_tags(if_match, etag, expected):
    assert preconditions(if_match=if_match, etag=etag) == expected


@pytest.mark.parametrize(
    ("ius", "expected"),
    [
        pytest.param(SECOND_BEFORE, 412, id="modified-since"),
        pytest.param(SAME_SECOND, None, id="same-second"),
        pytest.param(SECOND_AFTER, None, id="later"),
        pytest.param(f" {SECOND_BEFORE} ", 412, id="ows"),
        pytest.param("not a date", None, id="invalid-ignored"),
        pytest.param("", None, id="empty-ignored"),
        pytest.param("Tuesday, 14-Nov-23 22:13:19 GMT", 412, id="rfc850-date"),
        pytest.param("Tue Nov 14 22:13:19 2023", 412, id="asctime-date"),
    ],
)
def test_check_preconditions_if_unmodified_since(ius, expected):
    assert preconditions(ius=ius) == expected


def test_check_preconditions_if_match_overrides_if_unmodified_since():
    assert preconditions(if_match=ETAG, ius=SECOND_BEFORE) is None
    assert preconditions(if_match='"x"', ius=SECOND_AFTER) == 412


@pytest.mark.parametrize(
    ("if_none_match", "matches"),
    [
        pytest.param('"abc"', True, id="same-tag"),
        pytest.param('W/"abc"', True, id="weak-matches-weakly"),
        pytest.param("*", True, id="star"),
        pytest.param('"x", W/"abc"', True, id="in-list"),
        pytest.param('bad, "abc"', True, id="malformed-entry-skipped"),
        pytest.param('"xyz"', False, id="other-tag"),
        pytest.param('"x", "y"', False, id="not-in-list"),
        pytest.param("abc", False, id="unquoted"),
        pytest.param('w/"abc"', False, id="lowercase-weak-prefix-is-malformed"),
        pytest.param('"a,"abc"', False, id="naive-split-would-match"),
        pytest.param("", False, id="empty-list"),
    ],
)
@pytest.mark.parametrize(("method", "status"), [("GET", 304), ("HEAD", 304), ("POST", 412), ("DELETE", 412)])
def test_check_preconditions_if_none_match(if_none_match, matches, method, status):
    assert preconditions(method, if_none_match=if_none_match) == (status if matches else None)


@pytest.mark.parametrize(
    ("ims", "expected"),
    [
        pytest.param(SAME_SECOND, 304, id="same-second"),
        pytest.param(SECOND_AFTER, 304, id="later"),
        pytest.param(SECOND_BEFORE, None, id="modified-since"),
        pytest.param("garbage", None, id="invalid-ignored"),
        pytest.param("", None, id="empty-ignored"),
    ],
)
def test_check_preconditions_if_modified_since(ims, expected):
    assert preconditions("GET", ims=ims) == expected
    assert preconditions("HEAD", ims=ims) == expected


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "get"])
def test_check_preconditions_if_modified_since_only_for_get_and_head(method):
    assert preconditions(method, ims=SECOND_AFTER) is None


def test_check_preconditions_if_none_match_overrides_if_modified_since():
    assert preconditions(if_none_match='"x"', ims=SECOND_AFTER) is None
    assert preconditions(if_none_match=ETAG, ims=SECOND_BEFORE) == 304


def test_check_preconditions_failed_if_match_wins_over_if_none_match():
    assert preconditions(if_match='"x"', if_none_match=ETAG) == 412


def test_check_preconditions_failed_if_unmodified_since_wins_over_if_none_match():
    assert preconditions(ius=SECOND_BEFORE, if_none_match=ETAG) == 412
    assert preconditions(ius=SECOND_BEFORE, ims=SECOND_AFTER) == 412


def test_check_preconditions_passing_if_match_then_if_none_match():
    assert preconditions(if_match=ETAG, if_none_match=ETAG) == 304
    assert preconditions("PUT", if_match=ETAG, if_none_match=ETAG) == 412


# http_date() shows ...0.9999998 as the next second (it rounds to microseconds first).
@pytest.mark.parametrize("modified", [1_700_000_000.0, 1_700_000_000.5, 1_700_000_000.9999998])
def test_check_preconditions_compares_the_second_last_modified_shows(modified):
    shown = http_date(modified)

    status = http.check_preconditions(
        method="GET",
        if_match=None,
        if_none_match=None,
        if_modified_since=shown,
        if_unmodified_since=shown,
        etag=ETAG,
        last_modified=modified,
    )

    assert status == 304


# --- if_range_allows_partial --------------------------------------------------


@pytest.mark.parametrize(
    ("if_range", "allowed"),
    [
        pytest.param(None, True, id="absent"),
        pytest.param('"abc"', True, id="current-etag"),
        pytest.param(' "abc"\t', True, id="current-etag-with-ows"),
        pytest.param(SAME_SECOND, True, id="same-date"),
        pytest.param('W/"abc"', False, id="weak-etag"),
        pytest.param('"xyz"', False, id="other-etag"),
        pytest.param('"abc", "xyz"', False, id="a-list-is-not-an-entity-tag"),
        pytest.param('"ABC"', False, id="case-sensitive"),
        pytest.param("abc", False, id="unquoted"),
        pytest.param(SECOND_BEFORE, False, id="earlier-date"),
        pytest.param(SECOND_AFTER, False, id="later-date"),
        pytest.param("yesterday", False, id="invalid-date"),
        pytest.param("", False, id="empty"),
    ],
)
def test_if_range_allows_partial(if_range, allowed):
    assert http.if_range_allows_partial(if_range, etag=ETAG, last_modified=MODIFIED) is allowed


@pytest.mark.parametrize("modified", [1_700_000_000.0, 1_700_000_000.5, 1_700_000_000.9999998])
def test_if_range_date_matches_the_second_last_modified_shows(modified):
    assert http.if_range_allows_partial(http_date(modified), etag=ETAG, last_modified=modified)


# --- content_range --------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "last", "size", "expected"),
    [(0, 499, 1234, "bytes 0-499/1234"), (1233, 1233, 1234, "bytes 1233-1233/1234"), (0, 0, 1, "bytes 0-0/1")],
)
def test_content_range(first, last, size, expected):
    assert http.content_range(first, last, size) == expected


# --- content_disposition ----------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "attachment", "expected"),
    [
        pytest.param("report.pdf", False, 'inline; filename="report.pdf"', id="plain-inline"),
        pytest.param("report.pdf", True, 'attachment; filename="report.pdf"', id="plain-attachment"),
        pytest.param("my report (1).pdf", False, 'inline; filename="my report (1).pdf"', id="spaces-kept"),
        pytest.param(
            "Röntgen.png", False, "inline; filename=\"Rontgen.png\"; filename*=UTF-8''R%C3%B6ntgen.png", id="umlaut"
        ),
        pytest.param(
            "Ro\u0308ntgen.png",
            False,
            "inline; filename=\"Rontgen.png\"; filename*=UTF-8''Ro%CC%88ntgen.png",
            id="decomposed-umlaut",
        ),
        pytest.param(
            "日本.pdf", True, "attachment; filename=\"__.pdf\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.pdf", id="cjk"
        ),
        pytest.param(
            "\ufb01le.txt", False, "inline; filename=\"file.txt\"; filename*=UTF-8''%EF%AC%81le.txt", id="ligature"
        ),
        pytest.param(
            'say "hi".txt', False, "inline; filename=\"say _hi_.txt\"; filename*=UTF-8''say%20%22hi%22.txt", id="quotes"
        ),
        pytest.param(
            "a;b,c.txt", False, "inline; filename=\"a_b_c.txt\"; filename*=UTF-8''a%3Bb%2Cc.txt", id="separators"
        ),
        pytest.param(
            "C:\\temp\\x.txt",
            False,
            "inline; filename=\"C:_temp_x.txt\"; filename*=UTF-8''C%3A%5Ctemp%5Cx.txt",
            id="backslashes",
        ),
        pytest.param(
            "100%25.txt", False, "inline; filename=\"100_25.txt\"; filename*=UTF-8''100%2525.txt", id="percent"
        ),
        pytest.param(
            'x.pdf"; filename="evil.exe',
            True,
            'attachment; filename="x.pdf__ filename=_evil.exe"; '
            "filename*=UTF-8''x.pdf%22%3B%20filename%3D%22evil.exe",
            id="parameter-injection",
        ),
        pytest.param(
            "x.pdf\r\nSet-Cookie: a=b", False, 'inline; filename="x.pdfSet-Cookie: a=b"', id="header-injection"
        ),
        pytest.param("tab\there\x00\x7f\x85.txt", False, 'inline; filename="tabhere.txt"', id="controls-dropped"),
        pytest.param("", False, 'inline; filename="file"', id="empty"),
        pytest.param("\r\n", True, 'attachment; filename="file"', id="only-controls"),
        pytest.param("\u0301", False, "inline; filename=\"file\"; filename*=UTF-8''%CC%81", id="only-combining-mark"),
        pytest.param("a!#$&+^`|~-._b", False, 'inline; filename="a!#$&+^`|~-._b"', id="attr-char-punctuation-is-plain"),
        pytest.param(
            "a!#$&+^`|~-._b\u00e9",
            False,
            "inline; filename=\"a!#$&+^`|~-._be\"; filename*=UTF-8''a!#$&+^`|~-._b%C3%A9",
            id="attr-char-not-encoded",
        ),
        pytest.param(
            "(a)=b'c/d.txt",
            False,
            'inline; filename="(a)=b\'c/d.txt"',
            id="other-ascii-plain",
        ),
        pytest.param(
            "(a)=b'c/d\u00e9.txt",
            False,
            "inline; filename=\"(a)=b'c/de.txt\"; filename*=UTF-8''%28a%29%3Db%27c%2Fd%C3%A9.txt",
            id="non-attr-char-encoded",
        ),
        pytest.param("\udc80.bin", False, "inline; filename=\"_.bin\"; filename*=UTF-8''%3F.bin", id="lone-surrogate"),
    ],
)
def test_content_disposition(filename, attachment, expected):
    assert http.content_disposition(filename, attachment=attachment) == expected


FALLBACK_UNSAFE = set('"\\;,%')


@given(st.text(), st.booleans())
def test_content_disposition_property_cannot_break_the_header(filename, attachment):
    value = http.content_disposition(filename, attachment=attachment)

    # Only visible ASCII and spaces: no CR, LF or other control, nothing a header can't carry.
    assert all(" " <= char <= "~" for char in value)
    disposition, *parameters = value.split("; ")
    assert disposition == ("attachment" if attachment else "inline")
    fallback = re.fullmatch(r'filename="([^"\\]*)"', parameters[0])
    assert fallback is not None
    assert not FALLBACK_UNSAFE & set(fallback[1])
    assert fallback[1]
    name = "".join(char for char in filename if unicodedata.category(char) != "Cc") or "file"
    plain = all(" " <= char <= "~" and char not in FALLBACK_UNSAFE for char in name)
    if plain:
        assert parameters == [f'filename="{name}"']
    else:
        assert len(parameters) == 2
        assert parameters[1].startswith("filename*=UTF-8''")
        encoded = parameters[1].removeprefix("filename*=UTF-8''")
        assert re.fullmatch(r"(?:[A-Za-z0-9!#$&+\-.^_`|~]|%[0-9A-F]{2})*", encoded)
        assert unquote(encoded, errors="strict") == name


# --- MultipartByteranges -----------------------------------------------------------


def assemble(plan, data):
    return b"".join(header + data[first : last + 1] for header, first, last in plan.parts()) + plan.closing


def test_multipart_byteranges_exact_body():
    plan = http.MultipartByteranges([(0, 1), (5, 7)], 10, "text/plain", boundary="XYZ")

    body = assemble(plan, b"0123456789")

    assert plan.content_type == "multipart/byteranges; boundary=XYZ"
    assert body == (
        b"\r\n--XYZ\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/10\r\n\r\n01"
        b"\r\n--XYZ\r\nContent-Type: text/plain\r\nContent-Range: bytes 5-7/10\r\n\r\n567"
        b"\r\n--XYZ--\r\n"
    )
    assert plan.closing == b"\r\n--XYZ--\r\n"
    assert plan.content_length == len(body)


def test_multipart_byteranges_default_boundary_is_random():
    first = http.MultipartByteranges([(0, 0), (2, 2)], 3, "image/png")
    second = http.MultipartByteranges([(0, 0), (2, 2)], 3, "image/png")

    boundary = first.content_type.removeprefix("multipart/byteranges; boundary=")
    assert re.fullmatch(r"[0-9a-f]{32}", boundary)
    assert first.content_type != second.content_type
    assert first.closing == f"\r\n--{boundary}--\r\n".encode()


@st.composite
def files_and_ranges(draw):
    data = draw(st.binary(min_size=1, max_size=300))
    offsets = st.integers(0, len(data) - 1)
    ranges = draw(st.lists(st.tuples(offsets, offsets).map(sorted).map(tuple), min_size=1, max_size=MAX_RANGES))
    return data, ranges


@given(files_and_ranges(), st.sampled_from(["application/pdf", "image/png", "text/plain; charset=utf-8"]))
def test_multipart_byteranges_property_body_parses_back(file_and_ranges, content_type):
    data, ranges = file_and_ranges
    plan = http.MultipartByteranges(ranges, len(data), content_type)
    boundary = plan.content_type.removeprefix("multipart/byteranges; boundary=").encode()

    body = assemble(plan, data)

    assert plan.content_length == len(body)
    preamble, *parts, epilogue = body.split(b"\r\n--" + boundary)
    assert preamble == b""
    assert epilogue == b"--\r\n"
    assert len(parts) == len(ranges)
    for part, (first, last) in zip(parts, ranges, strict=True):
        head, blank, payload = part.partition(b"\r\n\r\n")
        assert blank
        assert head.split(b"\r\n") == [
            b"",
            b"Content-Type: " + content_type.encode(),
            f"Content-Range: bytes {first}-{last}/{len(data)}".encode(),
        ]
        assert payload == data[first : last + 1]
