from clinic.serializers import RecordSerializer
from doctors.models import Doctor


class DoctorSerializer(RecordSerializer):
    class Meta:
        model = Doctor
        fields = ["id", "first_name", "last_name", "specialty", "files", "files_count", "files_url"]
