from clinic.serializers import RecordSerializer
from files.api.serializers import FileSerializer
from patients.models import Patient


class PatientSerializer(RecordSerializer):
    files = FileSerializer(many=True, read_only=True)

    class Meta:
        model = Patient
        fields = ["id", "reg_number", "first_name", "last_name", "files"]
