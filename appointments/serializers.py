from appointments.models import Appointment
from clinic.serializers import RecordSerializer
from files.api.serializers import FileSerializer


class AppointmentSerializer(RecordSerializer):
    files = FileSerializer(many=True, read_only=True)

    class Meta:
        model = Appointment
        fields = ["id", "patient", "doctor", "scheduled_at", "reason", "files"]
