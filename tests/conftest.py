"""Shared fixtures: named personas and small factories. Real services come from the environment
(DATABASE_URL, REDIS_URL); tests that need Redis and workers are marked `services`."""

import os

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs a loop in the main thread
os.environ.setdefault("SCRIPTED_LLM_AUTOSTART", "0")


def pytest_collection_modifyitems(config, items):
    # Browser tests last: pytest-playwright leaves an event loop running that breaks later asyncio tests.
    items.sort(key=lambda item: 1 if item.get_closest_marker("e2e") else 0)
    if not os.environ.get("REDIS_URL"):
        skip = pytest.mark.skip(reason="needs REDIS_URL (real Redis and Celery workers)")
        for item in items:
            if item.get_closest_marker("services"):
                item.add_marker(skip)


@pytest.fixture
def org(db):
    from accounts.models import Organization

    return Organization.objects.create(name="Acme")


@pytest.fixture
def alice(org):
    from accounts.actions import create_user

    return create_user("alice", "correct horse battery", organization=org)


@pytest.fixture
def bob(org):
    from accounts.actions import create_user

    return create_user("bob", "correct horse battery", organization=org)


@pytest.fixture
def mallory(db):
    from accounts.actions import create_user

    return create_user("mallory", "correct horse battery", org_name="Evil Corp")


@pytest.fixture
def alice_key(alice):
    from accounts.actions import create_api_key

    return create_api_key(alice, "tests")[1]
