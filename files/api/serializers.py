"""The File object as the API shows it, and the upload it accepts.

The first five fields are the contract existing clients read: ``id``,
``type`` (the category), ``mime_type`` (the extension, ".png"),
``entity_id`` and ``url``.
"""

import uuid
from urllib.parse import urlencode

from django.contrib.contenttypes.models import ContentType
from django.core.validators import MaxLengthValidator
from django.db.models import Model, Prefetch, QuerySet
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from files import conf, selectors, signing
from files.api.errors import INVALID_UUID_MESSAGE
from files.models import File, FileVersion
from files.routes import download_prefix, file_list_path
from files.services import file_replace, files_attach


class UUIDField(serializers.UUIDField):
    """A UUID field whose error is the one clients know: ``uuid_parsing``."""

    default_error_messages = {"uuid_parsing": INVALID_UUID_MESSAGE}

    def to_internal_value(self, data):
        if not isinstance(data, str | uuid.UUID):
            self.fail("uuid_parsing")  # DRF would read a JSON number as a UUID's integer
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError:
            self.fail("uuid_parsing")


def file_url(file: File, request) -> str:
    """The signed, absolute URL of ``file``'s bytes for ``request``'s user: ``{base}/static/{entity_id}/{id}{ext}?...``.

    It loads with no header until it expires (see ``files.signing``). Only
    files the user may view reach a serializer (the lists are narrowed by the
    permission policy), so a URL is only ever issued to a user who may view
    the file; it names that user, for the audit trail.
    """
    return _signed_url(file, file.url_suffix, request)


def derivative_url(file: File, variant: str, request) -> str | None:
    """The signed URL of ``file``'s ``variant`` (``thumbnail``, ``preview``), or None while it is not ready.

    It reads the file's prefetched ready derivatives (``selectors.ready_derivatives``), so a page of
    files costs no query per file. The signature covers the variant: the URL opens that picture only.
    """
    derivative = file.ready_derivative(variant)
    return _signed_url(file, derivative.extension, request) if derivative is not None else None


def _signed_url(file: File, extension: str, request) -> str:
    query = signing.sign(
        file_id=str(file.pk), entity_id=str(file.entity_id), extension=extension, issued_to=str(request.user.pk)
    )
    return absolute_url(f"{download_prefix()}{file.entity_id}/{file.pk}{extension}?{query}", request)


def absolute_url(path: str, request) -> str:
    base = conf.public_base_url()
    return f"{base}{path}" if base else request.build_absolute_uri(path)


class FileVersionSerializer(serializers.ModelSerializer):
    """One version of a file's content, with the signed URL that always serves its bytes."""

    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = FileVersion
        fields = ["number", "size", "sha256", "media_type", "extension", "created_by", "created_at", "url"]
        read_only_fields = fields

    def get_url(self, version: FileVersion) -> str:
        return _signed_url(version.file, version.url_suffix, self.context.get("request"))


class FileSerializer(serializers.ModelSerializer):
    type = serializers.CharField(source="category", read_only=True)
    mime_type = serializers.CharField(source="extension", read_only=True)
    url = serializers.SerializerMethodField()
    content_type = serializers.CharField(source="media_type", read_only=True)
    thumbnail_url = serializers.SerializerMethodField(
        help_text="Signed URL of a small picture (fits 256x256; WebP); null while it is being made or for other kinds."
    )
    preview_url = serializers.SerializerMethodField(
        help_text="Signed URL of a larger picture (fits 1024x1024; WebP); null while it is being made."
    )
    scan_status = serializers.ChoiceField(
        choices=File.ScanStatus.choices,
        read_only=True,
        help_text="The malware scan: until `clean`, only the uploader and admins may download it; `infected` never.",
    )
    version = serializers.IntegerField(read_only=True, help_text="The current version's number; `url` serves it.")
    versions = FileVersionSerializer(many=True, read_only=True, help_text="Every version, the first upload first.")

    class Meta:
        model = File
        fields = [
            "id", "type", "mime_type", "entity_id", "url", "name", "size", "content_type", "created_at",
            "thumbnail_url", "preview_url", "width", "height", "pages", "scan_status", "version", "versions",
        ]  # fmt: skip
        read_only_fields = fields

    def get_url(self, file: File) -> str:
        return file_url(file, self.context.get("request"))

    def get_thumbnail_url(self, file: File) -> str | None:
        return derivative_url(file, "thumbnail", self.context.get("request"))

    def get_preview_url(self, file: File) -> str | None:
        return derivative_url(file, "preview", self.context.get("request"))


# Where a record keeps the files its JSON embeds (the viewset's prefetch, or read by the serializer).
_EMBEDDED = "embedded_files"


def embedded_files(user) -> QuerySet[File]:
    """The files a record's JSON embeds for ``user``: those the policy shows them, ``FILES_EMBED_LIMIT`` at most."""
    # Thumbnails, previews and versions: one query each a page.
    files = File.objects.prefetch_related(selectors.ready_derivatives(), selectors.file_versions())
    visible = conf.permission_policy().files_visible_to(user, files)
    return selectors.files_first_per_owner(files=visible, limit=conf.embed_limit())


def embedded_files_prefetch(user) -> Prefetch:
    """The prefetch of a page of records' embedded files: one query, at most ``FILES_EMBED_LIMIT`` rows a record."""
    return Prefetch("files", queryset=embedded_files(user), to_attr=_EMBEDDED)


class FileOwnerSerializer(serializers.ModelSerializer):
    """A record that owns files: the first ``FILES_EMBED_LIMIT`` of them, how many there are, and where to page them.

    ``files`` stays the list of File objects clients read; a record with more
    files than the limit says so in ``files_count`` and lists them all at
    ``files_url`` (``GET /api/files/?entity_id=...``, paginated).
    """

    files = serializers.SerializerMethodField()
    files_count = serializers.SerializerMethodField()
    files_url = serializers.SerializerMethodField()

    @extend_schema_field(FileSerializer(many=True))
    def get_files(self, record: Model) -> list:
        return FileSerializer(self._embedded(record), many=True, context=self.context).data

    def get_files_count(self, record: Model) -> int:
        files = self._embedded(record)
        return files[0].owner_files_count if files else 0

    def get_files_url(self, record: Model) -> str:
        return absolute_url(f"{file_list_path()}?{urlencode({'entity_id': record.pk})}", self.context["request"])

    def _embedded(self, record: Model) -> list[File]:
        if not hasattr(record, _EMBEDDED):
            # A record this request created or changed, not read through the viewset's prefetch: the same query.
            owned = {"entity_type": ContentType.objects.get_for_model(record), "entity_id": record.pk}
            setattr(record, _EMBEDDED, list(embedded_files(self.context["request"].user).filter(**owned)))
        return getattr(record, _EMBEDDED)


class FileUploadSerializer(serializers.Serializer):
    """``multipart/form-data`` with one or more ``file`` parts and a ``type``.

    Saving needs ``owner`` (the record) and ``request`` in the context.
    """

    file = serializers.ListField(
        child=serializers.FileField(allow_empty_file=True),
        allow_empty=False,
        # The browsable API shows a file input (one file; API clients send as many parts as they like).
        style={"base_template": "input.html", "input_type": "file"},
    )
    type = serializers.ChoiceField(choices=[])

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["type"].choices = conf.categories()
        self.fields["type"].default = conf.default_category()
        self.fields["type"].required = False
        # A field's length limit becomes a validator when it is built: add it for the current setting.
        limit = conf.max_files_per_request()
        self.fields["file"].validators.append(
            MaxLengthValidator(limit, message=f"No more than {limit} files may be uploaded at once")
        )

    def create(self, validated_data: dict) -> list[File]:
        # A refusal is the core's FileRejected, which the view answers (files.api.errors).
        return files_attach(
            owner=self.context["owner"],
            uploads=validated_data["file"],
            category=validated_data["type"],
            uploaded_by=self.context["request"].user,
        )


class FileReplaceSerializer(serializers.Serializer):
    """``multipart/form-data`` with one ``file`` part: a file's new content. Saving needs ``file`` and ``request``."""

    file = serializers.FileField(allow_empty_file=True)

    def create(self, validated_data: dict) -> File:
        return file_replace(
            file=self.context["file"], upload=validated_data["file"], replaced_by=self.context["request"].user
        )


class FileFilterSerializer(serializers.Serializer):
    """The query of ``GET /api/files/``."""

    entity_id = UUIDField(required=False)
    type = serializers.ChoiceField(choices=[], required=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["type"].choices = conf.categories()
