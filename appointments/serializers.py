from rest_framework import serializers

from appointments.models import Appointment
from doctors.models import Doctor
from files.serializers import FileSerializer, UUIDField
from patients.models import Patient


class AppointmentSerializer(serializers.ModelSerializer):
    patient = serializers.PrimaryKeyRelatedField(queryset=Patient.objects.all(), pk_field=UUIDField())
    doctor = serializers.PrimaryKeyRelatedField(queryset=Doctor.objects.all(), pk_field=UUIDField())
    files = FileSerializer(many=True, read_only=True)

    class Meta:
        model = Appointment
        fields = ["id", "patient", "doctor", "scheduled_at", "reason", "files"]
