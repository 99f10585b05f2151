"""Matching the signed ``url`` of a File object in assertions."""

import datetime as dt
from urllib.parse import parse_qs, urlsplit

from files import signing


class SignedFileURL:
    """Equal to ``{base}/static/{entity_id}/{id}{ext}?expires=…&issued_to=…&signature=…`` that verifies.

    With ``issued_to`` (a user), the URL must have been issued to that user.
    """

    def __init__(self, file, base: str = "http://testserver", issued_to=None) -> None:
        self.file = file
        self.issued_to = issued_to
        self.expected = f"{base}/static/{file.entity_id}/{file.id}{file.extension}"

    def __eq__(self, url: object) -> bool:
        if not isinstance(url, str):
            return NotImplemented
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        if url.split("?")[0] != self.expected or set(query) != {"expires", "issued_to", "signature"}:
            return False
        if self.issued_to is not None and query["issued_to"][0] != str(self.issued_to.pk):
            return False
        try:
            signing.verify(
                file_id=str(self.file.id),
                entity_id=str(self.file.entity_id),
                extension=self.file.extension,
                expires=query["expires"][0],
                issued_to=query["issued_to"][0],
                signature=query["signature"][0],
            )
        except signing.InvalidSignature:
            return False
        return True

    def __repr__(self) -> str:
        return f"<signed {self.expected}?…>"


def version_json(file, base: str = "http://testserver") -> dict:
    """The one version (1) of a file never replaced, as the File object lists it: its upload, at the file's url."""
    return {
        "number": 1,
        "size": file.size,
        "sha256": file.sha256,
        "media_type": file.media_type,
        "extension": file.extension,
        "created_by": file.uploaded_by.username if file.uploaded_by else None,
        "created_at": file.created_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "url": SignedFileURL(file, base),
    }
