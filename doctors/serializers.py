from clinic.serializers import RecordSerializer
from doctors.models import Doctor
from files.api.serializers import FileSerializer


class DoctorSerializer(RecordSerializer):
    files = FileSerializer(many=True, read_only=True)

    class Meta:
        model = Doctor
        fields = ["id", "first_name", "last_name", "specialty", "files"]
