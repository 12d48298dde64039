from django.apps import AppConfig


class EvalsConfig(AppConfig):
    name = "evals"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Register the Celery task the runner enqueues by name (evals.runner cannot import the task module above it).
        from evals import tasks  # noqa: F401
