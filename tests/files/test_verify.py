"""files_verify: every stored file re-read and compared with its SHA-256 (local disk and the S3 run)."""

import pytest
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command

from tests.factories import FileFactory


def test_all_intact_files_verify(patient, capsys):
    FileFactory(owner=patient)
    FileFactory(owner=patient)

    call_command("files_verify")

    assert capsys.readouterr().out.strip() == "Verified 2 file(s): 0 problem(s)."


def test_corrupted_and_missing_files_are_reported(patient, storage, capsys):
    intact = FileFactory(owner=patient)
    corrupted = FileFactory(owner=patient)
    missing = FileFactory(owner=patient)
    storage.delete(corrupted.storage_name)
    storage.save(corrupted.storage_name, ContentFile(b"not the bytes that were uploaded"))
    storage.delete(missing.storage_name)

    with pytest.raises(CommandError, match="2 file"):
        call_command("files_verify")

    out = capsys.readouterr().out
    assert f"corrupted: {corrupted.pk}" in out
    assert f"missing: {missing.pk}" in out
    assert str(intact.pk) not in out
