from django.contrib import admin

from appointments.models import Appointment
from files.admin import FileOwnerAdmin


@admin.register(Appointment)
class AppointmentAdmin(FileOwnerAdmin):
    list_display = ["scheduled_at", "patient", "doctor", "reason"]
    list_filter = ["scheduled_at"]
    list_select_related = ["patient", "doctor"]
    search_fields = ["patient__reg_number", "patient__last_name", "doctor__last_name"]
