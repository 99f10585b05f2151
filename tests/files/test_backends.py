"""Ranged reads of stored bytes (files.backends)."""

import os

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage

from files.backends import open_blob

CONTENT = bytes(range(256)) * 4


@pytest.fixture
def stored(storage):
    return storage.save("owner/file.bin", ContentFile(CONTENT))


def test_slice_reads_exactly_its_range(storage, stored):
    part = open_blob(storage, stored).slice(100, 299)

    assert part.read(50) + part.read() == CONTENT[100:300]
    assert part.read() == b""
    part.close()


def test_slice_iterates_in_chunks_to_its_end(storage, stored):
    part = open_blob(storage, stored).slice(1000, 1023)

    assert b"".join(part) == CONTENT[1000:1024]


def test_missing_bytes_raise_file_not_found(storage):
    with pytest.raises(FileNotFoundError):
        open_blob(storage, "owner/missing.bin").slice(0, 9)


def test_local_slice_is_a_real_file_at_the_range_start(tmp_path):
    # What gunicorn's sendfile needs: a file descriptor whose offset is the range's first byte.
    local = FileSystemStorage(location=tmp_path)
    name = local.save("owner/file.bin", ContentFile(CONTENT))

    part = open_blob(local, name).slice(512, 767)

    assert os.lseek(part.fileno(), 0, os.SEEK_CUR) == 512
    part.close()


def test_a_storage_folder_that_does_not_exist_yet_holds_no_file_until_the_first_is_stored(tmp_path):
    """A new service has no storage folder until its first upload: downloads before it are missing files."""
    local = FileSystemStorage(location=tmp_path / "not-yet")
    with pytest.raises(FileNotFoundError):
        open_blob(local, "owner/file.bin")

    name = local.save("owner/file.bin", ContentFile(CONTENT))
    blob = open_blob(local, name)

    assert b"".join(blob.slice(0, 9)) == CONTENT[:10]
    blob.close()
