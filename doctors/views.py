from clinic.viewsets import RecordViewSet
from doctors.models import Doctor
from doctors.serializers import DoctorSerializer


class DoctorViewSet(RecordViewSet):
    queryset = Doctor.objects.all()
    serializer_class = DoctorSerializer
