"""Browser tests: Playwright driving Debian's Chromium (never a downloaded browser), headless."""

import os

import pytest

# The browser tests' MCP server runs on this machine: let the live server (started later, with this environment)
# reach loopback, as an operator of a single-machine setup would.
os.environ.setdefault("ALLOWED_MODEL_HOSTS", "127.0.0.1")


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
