"""Browser tests: Playwright driving Debian's Chromium (never a downloaded browser), headless."""

import pytest


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "headless": True,
        "executable_path": "/usr/bin/chromium",
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1440, "height": 900}, "accept_downloads": True}


@pytest.fixture(autouse=True)
def _pages_closed_before_the_flush(browser):
    """A test's pages close when it ends, before its tables are flushed: an open page answers the server's pushes
    with requests of its own, and a request still running in the live server during the flush's TRUNCATE can
    deadlock with it (PostgreSQL then cancels one of them)."""
    yield
    for context in browser.contexts:
        context.close()


@pytest.fixture(autouse=True, scope="session")
def _a_flush_picked_as_a_deadlock_victim_runs_again():
    """What the server was answering when a test ended can still deadlock with the flush: PostgreSQL cancels one
    side, and when that is the flush (a clean-clone `make test` once failed the next test on its leftover rows),
    flushing again, once the server's transaction is over, succeeds."""
    import time

    from django.core.management.base import CommandError
    from django.test import testcases

    original = testcases.TransactionTestCase._fixture_teardown

    def teardown(self):
        for attempt in range(3):
            try:
                return original(self)
            except CommandError as exc:
                if "deadlock detected" not in str(exc.__cause__) or attempt == 2:
                    raise
                time.sleep(0.5)

    testcases.TransactionTestCase._fixture_teardown = teardown
    yield
    testcases.TransactionTestCase._fixture_teardown = original
