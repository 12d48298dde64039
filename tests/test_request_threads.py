"""Request threads are reused (ade/handler.py), and never handed to a request while an earlier one still runs there;
a request crosses to its thread once, and every response is closed (request_finished) whether it was streamed or
its client went away."""

import asyncio
import contextlib
import threading

from channels.testing import ApplicationCommunicator
from django.core import signals
from django.test import override_settings

from ade.handler import OneHopHandler
from tests import request_threads_urls as views
from tests.asgi import http_scope


async def _get(app, path: str) -> int:
    talk = ApplicationCommunicator(app, http_scope(path))
    await talk.send_input({"type": "http.request", "body": b"", "more_body": False})
    start = await talk.receive_output(10)
    body = await talk.receive_output(10)
    assert start["status"] == 200, body
    await talk.wait(10)
    return int(body["body"])


async def _settle(app, executor_count: int) -> None:
    for _ in range(200):  # a thread is parked for reuse by a callback on that thread, just after the response
        if len(app.threads.idle) == executor_count:
            return
        await asyncio.sleep(0.01)


@override_settings(ROOT_URLCONF="tests.request_threads_urls")
async def test_requests_one_after_another_are_served_by_one_reused_thread():
    app = OneHopHandler()
    served = []
    for _ in range(4):
        served.append(await _get(app, "/thread"))
        await _settle(app, 1)
    assert served == served[:1] * 4


@override_settings(ROOT_URLCONF="tests.request_threads_urls")
async def test_a_request_never_waits_behind_one_still_running_even_once_the_server_gave_up_on_it():
    """daphne cancels the application of a connection that went away: our handler then returns at once, while the
    view runs on to its end on its thread. That thread must not be handed to the next request until it is free."""
    app = OneHopHandler()
    views.release.clear()
    views.entered.clear()
    abandoned = ApplicationCommunicator(app, http_scope("/slow"))
    await abandoned.send_input({"type": "http.request", "body": b"", "more_body": False})
    assert await asyncio.get_running_loop().run_in_executor(None, views.entered.wait, 10)
    abandoned.future.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await abandoned.future

    served = await _get(app, "/thread")  # answered at once, on another thread
    assert not views.release.is_set() and served != views.ran_on[-1]
    views.release.set()
    await _settle(app, 2)  # both threads are free and kept
    later = []
    for _ in range(3):
        later.append(await _get(app, "/thread"))
        await _settle(app, 2)
    assert set(later) <= {served, views.ran_on[-1]}  # no new thread


class _Signals:
    """Which thread sent request_started and request_finished, in order."""

    def __init__(self):
        self.seen = []

    def __enter__(self):
        signals.request_started.connect(self.started)
        signals.request_finished.connect(self.finished)
        return self

    def __exit__(self, *exc):
        signals.request_started.disconnect(self.started)
        signals.request_finished.disconnect(self.finished)

    def started(self, **kwargs):
        self.seen.append(("started", threading.get_ident()))

    def finished(self, **kwargs):
        self.seen.append(("finished", threading.get_ident()))


def _counting_hops(app) -> list:
    """Every callable handed to a request thread, as the handler hands them over."""
    handed = []
    take = app.threads.take

    def counted():
        executor = take()
        submit = executor.submit
        executor.submit = lambda fn, *a, **kw: handed.append(fn) or submit(fn, *a, **kw)
        return executor

    app.threads.take = counted
    return handed


@override_settings(ROOT_URLCONF="tests.request_threads_urls")
async def test_a_response_in_memory_is_made_and_closed_in_one_hop_to_its_thread():
    app = OneHopHandler()
    handed = _counting_hops(app)
    with _Signals() as sent:
        served = await _get(app, "/thread")
        await _settle(app, 1)
    assert sent.seen == [("started", served), ("finished", served)]
    assert len([fn for fn in handed if fn is not int]) == 1  # `int`: the no-op that parks the thread afterwards


async def _read_stream(talk) -> list[bytes]:
    start = await talk.receive_output(10)
    assert start["status"] == 200
    chunks = []
    while True:
        views.chunk_gate.release()
        message = await talk.receive_output(10)
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return chunks


async def _stream_request() -> ApplicationCommunicator:
    views.stream_closed.clear()
    views.chunk_gate = asyncio.Semaphore(0)  # of this test's event loop
    talk = ApplicationCommunicator(OneHopHandler(), http_scope("/stream"))
    await talk.send_input({"type": "http.request", "body": b"", "more_body": False})
    return talk


@override_settings(ROOT_URLCONF="tests.request_threads_urls")
async def test_a_streamed_response_is_sent_whole_and_closed_after_its_last_chunk():
    with _Signals() as sent:
        talk = await _stream_request()
        chunks = await _read_stream(talk)
        await talk.wait(10)
    assert b"".join(chunks) == b"chunk 0;chunk 1;chunk 2;"
    assert views.stream_closed.is_set()
    assert [name for name, _ in sent.seen] == ["started", "finished"]


@override_settings(ROOT_URLCONF="tests.request_threads_urls")
async def test_a_stream_whose_client_goes_away_stops_and_is_closed():
    with _Signals() as sent:
        talk = await _stream_request()
        assert (await talk.receive_output(10))["status"] == 200
        views.chunk_gate.release()
        assert (await talk.receive_output(10))["body"] == b"chunk 0;"
        await talk.send_input({"type": "http.disconnect"})
        await talk.wait(10)
    assert views.stream_closed.is_set()
    assert [name for name, _ in sent.seen] == ["started", "finished"]
