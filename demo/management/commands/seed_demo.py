"""``manage.py seed_demo``: role users with tokens, records and real files to try the API on."""

import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accounts.roles import ADMIN, DOCTOR, PATIENT, RECEPTIONIST
from appointments.models import Appointment
from demo import samples
from doctors.models import Doctor
from files.services import file_attach
from patients.models import Patient

PATIENTS = [("PAT-001", "John", "Doe"), ("PAT-002", "Amina", "Okafor"), ("PAT-003", "Lena", "Fischer")]
DOCTORS = [("Sara", "Khan", "General practice"), ("Tomas", "Novak", "Radiology")]


class Command(BaseCommand):
    help = "Create demo users (one per role, with API tokens), patients, doctors, appointments and files."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--password", help="Password for the demo users (default: a new random one).")

    def handle(self, *args, password: str | None = None, **options) -> None:
        password = password or secrets.token_urlsafe(12)
        with transaction.atomic():
            users = {role: self._user(role, password) for role in (ADMIN, DOCTOR, RECEPTIONIST, PATIENT)}
            if Patient.objects.filter(reg_number=PATIENTS[0][0]).exists():
                self.stdout.write("Demo records exist already; the demo users' passwords were reset.")
            else:
                self._records(uploaded_by=users[RECEPTIONIST])
            self._link(doctor=users[DOCTOR], patient=users[PATIENT])
        self.stdout.write(f"\nDemo users (password: {password}):")
        for role, user in users.items():
            token, _ = Token.objects.get_or_create(user=user)
            self.stdout.write(f"  {role:<13} user {user.username:<13} Authorization: Token {token.key}")

    def _user(self, role: str, password: str):
        user, _ = get_user_model().objects.get_or_create(username=f"demo-{role}")
        user.is_staff = role == ADMIN
        user.set_password(password)
        user.save()
        user.groups.add(Group.objects.get(name=role))
        return user

    def _link(self, *, doctor, patient) -> None:
        """The demo doctor is Dr Khan (who sees John Doe), the demo patient is John Doe."""
        first_name, last_name, _ = DOCTORS[0]
        Doctor.objects.filter(first_name=first_name, last_name=last_name).update(user=doctor)
        Patient.objects.filter(reg_number=PATIENTS[0][0]).update(user=patient)

    def _records(self, *, uploaded_by) -> None:
        patients = [Patient.objects.create(reg_number=r, first_name=f, last_name=last) for r, f, last in PATIENTS]
        doctors = [Doctor.objects.create(first_name=f, last_name=last, specialty=s) for f, last, s in DOCTORS]
        start = timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
        appointment = Appointment.objects.create(
            patient=patients[0], doctor=doctors[0], scheduled_at=start, reason="Follow-up"
        )
        uploads = [
            (patients[0], "profile", "photo.png", samples.png_bytes()),
            (patients[0], "report", "blood-test.pdf", samples.pdf_bytes("Blood test: all values normal")),
            (patients[1], "scan", "x-ray.jpg", samples.jpeg_bytes()),
            (doctors[0], "profile", "portrait.png", samples.png_bytes(color=(30, 160, 90))),
            (appointment, "prescription", "prescription.pdf", samples.pdf_bytes("Amoxicillin 500 mg")),
            (appointment, "document", "referral.docx", samples.docx_bytes("Referral to radiology")),
        ]
        for owner, category, name, content in uploads:
            file_attach(
                owner=owner,
                upload=SimpleUploadedFile(name, content),
                category=category,
                uploaded_by=uploaded_by,
            )
        self.stdout.write(
            f"Created {len(patients)} patients, {len(doctors)} doctors, 1 appointment, {len(uploads)} files."
        )
