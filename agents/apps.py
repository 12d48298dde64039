from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Register the Celery tasks (enqueued by name from agents.runs) and connect the sleep-time trigger to the
        # end of every turn: both sit above runs, so runs cannot import them.
        from agents import sleeptime, tasks  # noqa: F401
        from agents.runs import turn_finished

        turn_finished.connect(sleeptime.after_turn, dispatch_uid="sleeptime.after_turn")
