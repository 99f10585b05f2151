"""factory-boy factories for the clinic's records, users and files."""

import secrets
from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.authtoken.models import Token

from appointments.models import Appointment
from demo import samples
from doctors.models import Doctor
from files import conf
from files.models import DirectUpload, File
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


class PostedDirectUploadFactory(factory.django.DjangoModelFactory):
    """A direct upload handed out to ``created_by`` and its ``content`` posted to the store, not finalized yet.

    Made without a presigned form, so on any storage: only handing one out needs S3, a finalize does not.
    """

    class Meta:
        model = DirectUpload
        exclude = ["owner"]

    owner = factory.SubFactory(PatientFactory)
    entity_type = factory.LazyAttribute(lambda upload: ContentType.objects.get_for_model(upload.owner))
    entity_id = factory.LazyAttribute(lambda upload: upload.owner.pk)
    created_by = factory.SubFactory(UserFactory, role="admin")
    key = factory.LazyFunction(lambda: secrets.token_hex(16))
    filename = "scan.pdf"
    category = "document"
    content = factory.LazyFunction(samples.pdf_bytes)
    size = factory.LazyAttribute(lambda upload: len(upload.content))
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(hours=1))

    @classmethod
    def _create(cls, model_class, *args, content: bytes, **kwargs) -> DirectUpload:
        upload = super()._create(model_class, *args, **kwargs)
        conf.storage().save(upload.incoming_name, ContentFile(content))
        return upload
