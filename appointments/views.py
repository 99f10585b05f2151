from appointments.models import Appointment
from appointments.serializers import AppointmentSerializer
from clinic.viewsets import RecordViewSet


class AppointmentViewSet(RecordViewSet):
    queryset = Appointment.objects.all()
    serializer_class = AppointmentSerializer
