"""Word 2007+ documents (.docx) read as what they are: a ZIP package of parts.

What a document does is declared in its package, not in its part names:
``[Content_Types].xml`` gives each part's type (a VBA project, an ActiveX
control) and the ``.rels`` files its relationships (a macro project, a
template, an embedded program, a link fetched from the network when the
document opens). Every member is inflated, in bounded chunks, under limits
of size, ratio and count, so a ZIP bomb is refused before it costs much.
"""

import io
import zipfile
import zlib
from dataclasses import dataclass
from typing import IO
from xml.etree import ElementTree

from files import conf
from files.exceptions import FileRejected

_CONTENT_TYPES = "[content_types].xml"  # lower-cased, as every part name is compared
_CHUNK = 64 * 1024
#: A member is held to the compression ratio only past this size: short XML parts compress
#: well beyond any sensible ratio and cost nothing.
_RATIO_FLOOR = 1024 * 1024
#: Content types and relationship types (their last path segment) that run code.
_MACRO_CONTENT_TYPES = ("macroenabled", "vbaproject", "vbadata")
_ACTIVE_CONTENT_TYPES = ("activex", "oleobject")
_MACRO_RELATIONSHIPS = frozenset({"vbaproject", "wordvbadata", "keymapcustomizations"})
_ACTIVE_RELATIONSHIPS = frozenset({"oleobject", "activex", "activexcontrolbinary", "control"})
#: Embedded packages (a chart's workbook) are checked as packages themselves, this deep at the most.
_MAX_NESTING = 2
_ZIP_SIGNATURE = b"PK\x03\x04"
#: The one relationship Word follows only when the reader clicks it, never on opening.
_CLICKED_RELATIONSHIPS = frozenset({"hyperlink"})


class NotAWordDocument(Exception):
    """A valid ZIP archive that is no Word document."""


def docx_check(upload: IO[bytes], *, invalid: FileRejected) -> None:
    """Refuse a .docx that bombs, runs code or reaches out; raise :class:`NotAWordDocument` for another ZIP.

    ``invalid`` is raised for an archive that cannot be read.
    """
    package = _open_package(upload, invalid)
    if _CONTENT_TYPES not in package.names or "word/document.xml" not in package.names:
        raise NotAWordDocument
    _check_package(package, invalid, depth=0)


@dataclass
class _Package:
    """A package's member names (lower-cased: OPC part names are case-insensitive), its content types and
    relationships by name, and the packages embedded in it (a chart's workbook in a letter)."""

    names: set[str]
    parts: dict[str, bytes]
    embedded: list[bytes]


def _open_package(upload: IO[bytes], invalid: FileRejected) -> _Package:
    try:
        with zipfile.ZipFile(upload) as archive:
            return _read_package(archive)
    except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError, ValueError, OSError):
        raise invalid from None  # corrupt, encrypted (RuntimeError) or an unknown compression method


def _check_package(package: _Package, invalid: FileRejected, *, depth: int) -> None:
    """What runs or reaches out is declared in the package, and in every package embedded in it."""
    if any(name.endswith("vbaproject.bin") for name in package.names):
        raise _macros()
    for name, content in package.parts.items():
        root = _parse(content, invalid)
        if name == _CONTENT_TYPES:
            _check_content_types(root)
        else:
            _check_relationships(root)
    for content in package.embedded:
        if depth >= _MAX_NESTING:
            raise _active()  # a package in a package in a package: nothing a clinic's letter needs
        _check_package(_open_package(io.BytesIO(content), invalid), invalid, depth=depth + 1)


def _read_package(archive: zipfile.ZipFile) -> _Package:
    """The package's names, content types, relationships and embedded packages, every member inflated
    under the limits.

    The sizes in the archive's headers are checked first, then the bytes
    actually inflated: a header may lie (zipfile then stops at the declared
    size and the CRC check fails).
    """
    members = archive.infolist()
    if len(members) > conf.max_archive_members():
        raise _bomb(f"more than {conf.max_archive_members()} parts")
    left, ratio = conf.max_archive_size(), conf.max_compression_ratio()
    if sum(member.file_size for member in members) > left:
        raise _bomb(f"more than {left} bytes uncompressed")
    package = _Package(names={member.filename.lower() for member in members}, parts={}, embedded=[])
    for member in members:
        name = member.filename.lower()
        declares = name == _CONTENT_TYPES or name.endswith(".rels")
        chunks, size = [], 0
        with archive.open(member) as stream:
            while chunk := stream.read(_CHUNK):
                kept = declares or (chunks[0] if chunks else chunk).startswith(_ZIP_SIGNATURE)
                size, left = size + len(chunk), left - len(chunk)
                if left < 0:
                    raise _bomb(f"more than {conf.max_archive_size()} bytes uncompressed")
                if size > _RATIO_FLOOR and size > ratio * member.compress_size:
                    raise _bomb(f"a part compressed more than {ratio} times")
                if kept:
                    chunks.append(chunk)
        if declares:
            package.parts[name] = b"".join(chunks)
        elif chunks:
            package.embedded.append(b"".join(chunks))  # a ZIP inside: a package of its own
    return package


def _parse(content: bytes, invalid: FileRejected) -> ElementTree.Element:
    # Office Open XML forbids DTDs (ECMA-376 Part 2), so none is parsed: no entity expansion.
    if b"<!DOCTYPE" in content.upper():
        raise invalid
    try:
        return ElementTree.fromstring(content)  # noqa: S314 (no DTD, so no entities to expand)
    except ElementTree.ParseError:
        raise invalid from None


def _check_content_types(root: ElementTree.Element) -> None:
    for element in root:
        content_type = element.get("ContentType", "").lower()
        if any(marker in content_type for marker in _MACRO_CONTENT_TYPES):
            raise _macros()
        if any(marker in content_type for marker in _ACTIVE_CONTENT_TYPES):
            raise _active()


def _check_relationships(root: ElementTree.Element) -> None:
    for relationship in root:
        kind = relationship.get("Type", "").rstrip("/").rsplit("/", 1)[-1].lower()
        target = relationship.get("Target", "").lower()
        if kind in _MACRO_RELATIONSHIPS or (kind == "attachedtemplate" and target.endswith((".dotm", ".docm"))):
            raise _macros()
        if kind in _ACTIVE_RELATIONSHIPS:
            raise _active()
        if relationship.get("TargetMode", "").lower() == "external" and kind not in _CLICKED_RELATIONSHIPS:
            raise FileRejected(
                "Documents that fetch content from the network when opened are not accepted",
                code="external_reference",
            )


def _macros() -> FileRejected:
    return FileRejected("Documents with macros are not accepted", code="macro_document")


def _active() -> FileRejected:
    return FileRejected("Documents with embedded programs or controls are not accepted", code="active_content")


def _bomb(what: str) -> FileRejected:
    return FileRejected(f"Archive is too large once unpacked: {what}", code="archive_bomb")
