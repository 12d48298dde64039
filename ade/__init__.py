"""Engram's Django project. Its Celery app is in ade/celery.py: workers load it (`celery -A ade`), a web process when it
first hands work over (ade/queue.py)."""

import sys

from ade.jsoncodec import read_json_columns_with_orjson


def _load_django_test_without_jinja2() -> None:
    """django-ninja imports django.test for one signal, and django.test imports jinja2 when it can, for test helpers
    a server never runs: ~0.1 s of every start-up (jinja2 is here for litellm, which imports it after start-up).
    django.test is loaded now with jinja2 hidden, unless something loaded either already (a test run)."""
    if "django.test" in sys.modules or "jinja2" in sys.modules:
        return
    sys.modules["jinja2"] = None  # `import jinja2` raises ImportError: django.test.utils goes on without it
    try:
        import django.test  # noqa: F401
    finally:
        del sys.modules["jinja2"]


_load_django_test_without_jinja2()

read_json_columns_with_orjson()  # before any query collects the fields' converters (ade/jsoncodec.py)
