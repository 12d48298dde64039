"""Celery tasks of evals (enqueued by name from evals.runner): ids in, one runner function each."""

from celery import shared_task

from evals import runner


@shared_task(name="evals.start", ignore_result=True)
def start(eval_id: str) -> None:
    runner.start(eval_id)


@shared_task(name="evals.work", ignore_result=True)
def work(eval_id: str) -> None:
    runner.work_and_continue(eval_id)
