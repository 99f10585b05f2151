from django.apps import AppConfig


class FilesConfig(AppConfig):
    name = "files"
    verbose_name = "Files"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from files.receivers import connect_owner_receivers, connect_token_receiver

        connect_owner_receivers()
        connect_token_receiver()

        from files import tasks

        tasks.connect()
