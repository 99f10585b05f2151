"""Derivatives: thumbnails and previews of files, made off the request thread and tracked as rows.

Whether a derivative exists is a database fact (a :class:`~files.models.Derivative`
row in state ``ready``), never a probe of storage. Making one is race-free:

- one row per file and variant (a unique constraint), so two workers share it;
- the bytes are written under a name no one else uses, *then* a single
  ``UPDATE ... WHERE state != 'ready'`` publishes them; the worker whose
  update changed nothing lost the race and deletes its own bytes.

Images (PNG, JPEG) are decoded under ``FILES_MAX_IMAGE_PIXELS``, turned
upright (EXIF orientation) and re-encoded without any metadata; PDFs show
page 1 (pypdfium2), rendered straight at the size needed; Word files get an
icon. A file that cannot be pictured (undecodable, too big) has its
derivatives marked ``failed`` with the reason; anything else (storage or
database down) is raised for the job engine to retry.

Jobs start from :data:`files_stored`, sent once an upload's transaction
commits (``files.tasks`` enqueues them).
"""

import functools
import hashlib
import io
import logging
import uuid
from typing import IO

from django.core.files.base import ContentFile
from django.db.models import F
from django.dispatch import Signal
from PIL import Image, ImageDraw, ImageOps

from files import conf
from files.content.kinds import DERIVATIVE_EXTENSIONS
from files.exceptions import DerivativeNotMade
from files.models import Derivative, File
from files.scanning import scan_allows_processing

logger = logging.getLogger(__name__)

#: Sent (``files=[File, ...]``) once the transaction that stored new files commits; ``replaced=True``
#: when it stored a new version of their content (``files.services.file_replace``).
files_stored = Signal()

#: Where derivatives' bytes live, beside (never among) the originals.
DERIVATIVES_PREFIX = "derivatives/"

_IMAGES = frozenset({"image/png", "image/jpeg"})
_PDF = "application/pdf"
_WORD = frozenset({"application/msword", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"})
PICTURED_TYPES = _IMAGES | {_PDF} | _WORD
_PDF_POINTS_PER_INCH = 72
_ORIENTATION = 0x0112
_SWAPPED_ORIENTATIONS = {5, 6, 7, 8}  # turned a quarter: the upright picture's width is the stored height


def derivatives_apply_to(file: File) -> bool:
    """Whether ``file`` has derivatives: images, PDFs and Word files do."""
    return file.media_type in PICTURED_TYPES


def file_derivatives_make(*, file_id, force: bool = False) -> None:
    """Make ``file_id``'s missing derivatives (all of them with ``force``); idempotent.

    A file gone (deleted, purged) meanwhile has nothing to make, nor one
    the malware scanner has not found clean (its scan job asks again once it
    is). Raises what is worth retrying (``OSError`` from storage, database errors).
    """
    file = File.objects.filter(pk=file_id).first()
    if file is None or not derivatives_apply_to(file) or not scan_allows_processing(file):
        return
    rows = [_row(file, variant) for variant in conf.derivative_variants()]
    todo = [row for row in rows if force or row.state != Derivative.State.READY]
    if not todo:
        return
    Derivative.objects.filter(pk__in=[row.pk for row in todo]).update(attempts=F("attempts") + 1)
    try:
        picture, known = _picture(file)
    except DerivativeNotMade as refusal:
        derivatives_fail(file_id=file.pk, reason=str(refusal))
        return
    File.all_objects.filter(pk=file.pk).update(**known)
    for row in todo:
        _publish(file, row, picture, force=force)


def derivatives_fail(*, file_id, reason: str) -> int:
    """Mark ``file_id``'s derivatives that are not ready ``failed`` with ``reason``; return how many."""
    return (
        Derivative.objects.filter(file_id=file_id)
        .exclude(state=Derivative.State.READY)
        .update(state=Derivative.State.FAILED, reason=reason[:255])
    )


def derivative_names(*, file: File) -> list[str]:
    """The storage names of ``file``'s ready derivatives (their live names: the trash adds its prefix)."""
    return list(
        Derivative.objects.filter(file=file, state=Derivative.State.READY)
        .exclude(storage_name="")
        .values_list("storage_name", flat=True)
    )


def _row(file: File, variant: str) -> Derivative:
    row, _ = Derivative.objects.get_or_create(file=file, variant=variant)  # concurrent creators share one row
    return row


def _picture(file: File) -> tuple[Image.Image, dict]:
    """The picture derivatives are made from, at most the largest variant's size, and what it told of the file."""
    box = _largest_box()
    if file.media_type in _WORD:
        return _word_icon(box), {}
    if file.media_type == _PDF:
        # pypdfium2 reads only the parts page 1 needs, from the stored file: a large PDF is never all in memory
        # (on local disk; django-storages' S3 file holds an object's bytes once read).
        with conf.storage().open(file.blob_name, "rb") as stored:
            return _pdf_page_one(stored, box)
    return _image(_read_original(file), box)


def _read_original(file: File) -> bytes:
    with conf.storage().open(file.blob_name, "rb") as stored:
        return stored.read()


def _largest_box() -> tuple[int, int]:
    boxes = conf.derivative_variants().values()
    return max(width for width, _ in boxes), max(height for _, height in boxes)


def _image(data: bytes, box: tuple[int, int]) -> tuple[Image.Image, dict]:
    try:
        image = Image.open(io.BytesIO(data))
        width, height = image.size
        if width * height > conf.max_image_pixels():
            raise DerivativeNotMade(f"The image has more than {conf.max_image_pixels()} pixels")
        if image.getexif().get(_ORIENTATION) in _SWAPPED_ORIENTATIONS:
            width, height = height, width
        image.draft("RGB", box)  # a JPEG decodes straight at 1/2, 1/4 or 1/8 of its size: faster, less memory
        upright = ImageOps.exif_transpose(image)
        upright.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise DerivativeNotMade(f"The image cannot be decoded: {error}") from error
    return upright, {"width": width, "height": height}


def _pdf_page_one(stored: IO[bytes], box: tuple[int, int]) -> tuple[Image.Image, dict]:
    import pypdfium2

    try:
        document = pypdfium2.PdfDocument(stored)
        try:
            pages = len(document)
            if not pages:
                raise DerivativeNotMade("The PDF has no page")
            page = document[0]
            width, height = page.get_size()
            # Rendered straight at the size the largest variant needs: the pixel count is bounded by it.
            scale = min(box[0] / width, box[1] / height) if width > 0 and height > 0 else 0
            if not 0 < scale * width * scale * height <= conf.max_image_pixels():
                raise DerivativeNotMade("The PDF's first page has no usable size")
            picture = page.render(scale=scale).to_pil()
        finally:
            document.close()
    except pypdfium2.PdfiumError as error:
        raise DerivativeNotMade(f"The PDF cannot be rendered: {error}") from error
    return picture, {"pages": pages}


@functools.lru_cache(maxsize=4)
def _word_icon(box: tuple[int, int]) -> Image.Image:
    """A sheet of paper with a folded corner, a blue band and lines of text: what a Word file looks like."""
    side = min(box)
    icon = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    draw = ImageDraw.Draw(icon)
    unit = side / 16
    left, top, right, bottom, fold = 3 * unit, unit, 13 * unit, 15 * unit, 3 * unit
    sheet = [(left, top), (right - fold, top), (right, top + fold), (right, bottom), (left, bottom)]
    draw.polygon(sheet, fill=(255, 255, 255, 255), outline=(120, 120, 120, 255), width=max(1, round(unit / 4)))
    draw.polygon([(right - fold, top), (right - fold, top + fold), (right, top + fold)], fill=(210, 210, 210, 255))
    draw.rectangle([left + unit, 4 * unit, right - unit, 6 * unit], fill=(43, 87, 154, 255))
    for line in range(5):
        y = 8 * unit + line * 1.3 * unit
        draw.rectangle([left + unit, y, right - unit * (1 + (line % 2) * 2), y + unit / 2], fill=(160, 160, 160, 255))
    return icon


def _encoded(picture: Image.Image, box: tuple[int, int]) -> tuple[bytes, int, int]:
    """``picture`` fitted in ``box`` and encoded, with no metadata at all."""
    fitted = picture.copy()
    fitted.thumbnail(box, Image.Resampling.LANCZOS, reducing_gap=3.0)
    media_type = conf.derivative_format()
    transparent = fitted.mode in {"RGBA", "LA", "PA"} or "transparency" in fitted.info
    fitted = fitted.convert("RGBA" if transparent and media_type == "image/webp" else "RGB")
    fitted.info = {}  # nothing of the original's EXIF, ICC profile, XMP or comments goes along
    out = io.BytesIO()
    if media_type == "image/webp":
        fitted.save(out, "WEBP", quality=80, method=4)
    else:
        fitted.save(out, "JPEG", quality=82, optimize=True)
    return out.getvalue(), fitted.width, fitted.height


def _publish(file: File, row: Derivative, picture: Image.Image, *, force: bool) -> None:
    """Write ``row``'s bytes under a fresh name, then mark it ready unless someone else did first."""
    data, width, height = _encoded(picture, conf.derivative_variants()[row.variant])
    media_type = conf.derivative_format()
    storage = conf.storage()
    fresh = f"{DERIVATIVES_PREFIX}{file.entity_id}/{file.pk}.{row.variant}.{uuid.uuid4().hex}"
    name = storage.save(fresh + DERIVATIVE_EXTENSIONS[media_type], ContentFile(data))
    rows = Derivative.objects.filter(pk=row.pk)
    # Remaking (force) replaces exactly the bytes this worker saw; otherwise only a row not ready yet is taken.
    rows = rows.filter(storage_name=row.storage_name) if force else rows.exclude(state=Derivative.State.READY)
    won = rows.update(
        state=Derivative.State.READY,
        media_type=media_type,
        storage_name=name,
        size=len(data),
        width=width,
        height=height,
        sha256=hashlib.sha256(data).hexdigest(),
        reason="",
    )
    if not won:
        storage.delete(name)  # another worker published first (or the file is gone): these bytes are no one's
    elif force and row.storage_name:
        storage.delete(row.blob_name(file))
