import gc
import os

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_process_init

from ade import collect_from_now_on

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ade.settings")
app = Celery("engram")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Celery's Django fixup closes the whole connection pool around every task of a prefork worker: a new pool (and new
# PostgreSQL connections) per task, and PoolClosed in the lost-run watchdog thread that shares it. A reuse limit
# it never reaches turns that off; each task instead gives its connection back to the pool (checked before reuse:
# CONN_HEALTH_CHECKS), below.
app.conf["CELERY_DB_REUSE_MAX"] = 2**31
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def release_connection(task=None, **_kwargs) -> None:
    if task is not None and task.request.is_eager:
        return  # an eager task runs inside its caller (request, test), often in its transaction: not ours to close
    from django.db import close_old_connections

    close_old_connections()


@worker_process_init.connect
def warm_up_litellm(**_kwargs) -> None:
    """Each worker process imports litellm in the background as it starts, not during its first turn; without
    collecting garbage meanwhile, as a web server starts (ade/serve.py)."""
    from django.conf import settings

    if settings.WARM_LITELLM:
        from agents.runtime import llm

        gc.disable()
        llm.warm_up(then=collect_from_now_on)


def set_eager(on: bool) -> None:
    """Run tasks inline (tests, benchmarks) or hand them to workers. Celery 5.6 reads the Django-namespaced key
    (CELERY_TASK_ALWAYS_EAGER) before the plain one, so a change must reach both."""
    app.conf.task_always_eager = on
    app.conf.CELERY_TASK_ALWAYS_EAGER = on


def registered(task_name: str):
    """The task of that name. The apps' task modules load when the first one is asked for (a worker loads them as
    it starts), not as a web process starts."""
    if task_name not in app.tasks:
        app.loader.import_default_modules()  # autodiscover_tasks() above: every app's `tasks` module
    return app.tasks[task_name]
