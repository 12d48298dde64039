"""API requests go through the API's middleware chain (settings.API_MIDDLEWARE), pages through the whole one
(ade/lanes.py): the page middleware never runs for /v1/, and both keep the security headers."""

import asyncio
from unittest import mock

import pytest
from channels.testing import ApplicationCommunicator
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.middleware.csrf import CsrfViewMiddleware

from ade.handler import OneHopHandler
from ade.wsgi import Handler as WsgiHandler
from tests.apiclient import LanedClientHandler
from tests.asgi import http_scope

PAGE_ONLY = (SessionMiddleware, CsrfViewMiddleware, MessageMiddleware)


def _get(app, path: str, headers=()) -> tuple[int, dict]:
    async def go():
        talk = ApplicationCommunicator(app, http_scope(path, headers))
        await talk.send_input({"type": "http.request", "body": b"", "more_body": False})
        start = await talk.receive_output(10)
        await talk.receive_output(10)
        await talk.wait(10)
        return start["status"], {k.decode().lower(): v.decode() for k, v in start["headers"]}

    return asyncio.run(go())


def _calls_to_page_middleware():
    """Patches on the page-only middlewares' hooks that note each call and go on as before."""
    seen = []

    def noting(cls, hook):
        original = getattr(cls, hook)

        def noted(self, *args):
            seen.append(cls)
            return original(self, *args)

        return mock.patch.object(cls, hook, noted)

    hooks = [(SessionMiddleware, "process_request"), (MessageMiddleware, "process_request")]
    return seen, [noting(cls, hook) for cls, hook in [*hooks, (CsrfViewMiddleware, "process_view")]]


@pytest.mark.django_db(transaction=True)
def test_api_requests_skip_the_page_middleware_and_pages_do_not():
    app = OneHopHandler()
    seen, patches = _calls_to_page_middleware()
    for p in patches:
        p.start()
    try:
        status, headers = _get(app, "/v1/health/", [(b"cookie", b"sessionid=abc; csrftoken=x")])
        assert status == 200 and seen == []
        status, _ = _get(app, "/login/")
        assert status == 200 and set(seen) == set(PAGE_ONLY)
    finally:
        for p in patches:
            p.stop()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/v1/health/", "/v1/docs", "/v1/no-such-route", "/login/"])
def test_every_lane_keeps_the_security_headers(path):
    status, headers = _get(OneHopHandler(), path)
    assert status == (404 if "no-such" in path else 200)
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert "default-src" in headers["content-security-policy"]


@pytest.mark.django_db(transaction=True)
def test_the_api_lane_still_refuses_a_host_not_allowed():
    status, _ = _get(OneHopHandler(), "/v1/health/", [(b"host", b"evil.example")])
    assert status == 400


@pytest.mark.django_db(transaction=True)
def test_the_wsgi_and_test_client_handlers_have_the_lane_too(rf):
    seen, patches = _calls_to_page_middleware()
    for p in patches:
        p.start()
    try:
        for handler in (WsgiHandler(), LanedClientHandler()):
            handler.load_middleware()
            assert handler.get_response(rf.get("/v1/health/")).status_code == 200
            assert seen == []
            assert handler.get_response(rf.get("/login/")).status_code == 200
            assert set(seen) == set(PAGE_ONLY)
            seen.clear()
    finally:
        for p in patches:
            p.stop()
