from appointments.models import Appointment
from clinic.serializers import RecordSerializer


class AppointmentSerializer(RecordSerializer):
    class Meta:
        model = Appointment
        fields = ["id", "patient", "doctor", "scheduled_at", "reason", "files", "files_count", "files_url"]
