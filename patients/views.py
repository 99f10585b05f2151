from clinic.viewsets import RecordViewSet
from patients.models import Patient
from patients.serializers import PatientSerializer


class PatientViewSet(RecordViewSet):
    queryset = Patient.objects.all()
    serializer_class = PatientSerializer
