from clinic.serializers import RecordSerializer
from patients.models import Patient


class PatientSerializer(RecordSerializer):
    class Meta:
        model = Patient
        fields = ["id", "reg_number", "first_name", "last_name", "files", "files_count", "files_url"]
