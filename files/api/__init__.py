"""The files API: DRF views, serializers and the table from core exceptions to answers."""
