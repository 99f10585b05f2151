from django.contrib import admin

from doctors.models import Doctor
from files.admin import FileOwnerAdmin


@admin.register(Doctor)
class DoctorAdmin(FileOwnerAdmin):
    list_display = ["last_name", "first_name", "specialty"]
    search_fields = ["first_name", "last_name", "specialty"]
