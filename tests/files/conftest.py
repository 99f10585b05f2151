import pytest

from tests.factories import FileFactory, PatientFactory


@pytest.fixture
def patient(db):
    return PatientFactory()


@pytest.fixture
def png_file(patient):
    """A PNG owned by ``patient``."""
    return FileFactory(owner=patient, name="photo.png")
