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
