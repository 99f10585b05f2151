"""factory-boy factories for the clinic's records, users and files."""

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.authtoken.models import Token

from appointments.models import Appointment
from demo import samples
from doctors.models import Doctor
from files.models import File
from files.services import file_attach
from patients.models import Patient


class UserFactory(factory.django.DjangoModelFactory):
    """A user; ``role="doctor"`` puts them in that role's group."""

    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")

    @factory.post_generation
    def role(user, create, extracted, **kwargs):
        if extracted:
            user.groups.add(Group.objects.get(name=extracted))

    @factory.post_generation
    def token(user, create, extracted, **kwargs):
        if create:
            Token.objects.create(user=user)


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    reg_number = factory.Sequence(lambda n: f"PAT-{n:03d}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")


class DoctorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Doctor

    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")


class AppointmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Appointment

    patient = factory.SubFactory(PatientFactory)
    doctor = factory.SubFactory(DoctorFactory)
    scheduled_at = factory.LazyFunction(timezone.now)


class FileFactory(factory.Factory):
    """A file stored through :func:`files.services.file_attach`, bytes and all."""

    class Meta:
        model = File

    owner = factory.SubFactory(PatientFactory)
    name = "photo.png"
    content = factory.LazyFunction(samples.png_bytes)
    category = "document"
    uploaded_by = None

    @classmethod
    def _create(cls, model_class, *, owner, name, content, category, uploaded_by):
        upload = SimpleUploadedFile(name, content)
        return file_attach(owner=owner, upload=upload, category=category, uploaded_by=uploaded_by)

    @classmethod
    def _build(cls, model_class, **kwargs):
        raise NotImplementedError("A File only exists with its bytes: use FileFactory() or .create()")
