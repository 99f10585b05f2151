from django.contrib import admin

from files.admin import FileOwnerAdmin
from patients.models import Patient


@admin.register(Patient)
class PatientAdmin(FileOwnerAdmin):
    list_display = ["reg_number", "first_name", "last_name"]
    search_fields = ["reg_number", "first_name", "last_name"]
