from django.apps import AppConfig


class MemoryConfig(AppConfig):
    name = "memory"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from memory import tasks  # noqa: F401  (registers the tasks memory.ingest enqueues by name)
