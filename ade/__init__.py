"""Engram's Django project. Its Celery app is in ade/celery.py: workers load it (`celery -A ade`), a web process when it
first hands work over (ade/queue.py)."""

import gc
import importlib
import sys

from ade.jsoncodec import read_json_columns_with_orjson


def load_without(module: str, hidden: str) -> None:
    """Import `module` with `hidden` unimportable (`import hidden` raises ImportError, so `module` goes on without
    that optional part), unless either is loaded already."""
    if module in sys.modules or hidden in sys.modules:
        return
    sys.modules[hidden] = None
    try:
        importlib.import_module(module)
    finally:
        del sys.modules[hidden]


def collect_from_now_on() -> None:
    """Start-up is over. The garbage collector, off while it ran (web servers: ade/serve.py; workers: ade/celery.py),
    comes back on: ~15 % of start-up (and of litellm's import) went to collecting as objects came, and they live on.
    Those objects (~300,000) are frozen first, so that no full collection walks them again."""
    gc.freeze()
    gc.enable()


# django-ninja imports django.test for one signal, and django.test imports jinja2 when it can, for test helpers a
# server never runs: ~0.1 s of every start-up (jinja2 is here for litellm, which imports it after start-up).
load_without("django.test", hidden="jinja2")

read_json_columns_with_orjson()  # before any query collects the fields' converters (ade/jsoncodec.py)
