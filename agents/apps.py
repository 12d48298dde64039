from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Connect the sleep-time trigger to the end of every turn: it sits above runs, so runs cannot import it.
        # (The Celery tasks register when Celery loads: ade.queue.enqueue, or a worker's start.)
        from agents import sleeptime
        from agents.runs import turn_finished

        turn_finished.connect(sleeptime.after_turn, dispatch_uid="sleeptime.after_turn")
