"""Celery tasks of memory: ids in, one domain function each."""

from celery import shared_task

from . import ingest


@shared_task(name="memory.ingest_file", ignore_result=True)
def ingest_file(file_id: str) -> None:
    ingest.ingest_file(file_id)
