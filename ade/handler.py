"""Django's ASGI handler with the whole request (middleware and view) run on one thread, in one hop.

Django's own ASGI handler runs its middleware chain on the event loop when the middleware can do so, and then
hops to a thread and back for every middleware hook and for the view (all our views are synchronous; an async one
still works, through async_to_sync). Each hop costs a thread handoff: the sync chain costs one per request.

Requests still each get a thread of their own, so a long turn blocks no other. Django starts a new one per request
(and a second one to join it at the end); here they are reused, as a WSGI server's are, through asgiref's
ThreadSensitiveContext with an executor the caller owns.

Django's handler also hops to a thread and back to send request_started and to close the response (which sends
request_finished): three hops per request. Here a response that is not streamed is made and closed in the one hop
(its content is in memory by then), and only sent from the event loop. Streamed responses (SSE) keep Django's way:
they are closed after their last byte, and a client that goes away cancels them.
"""

import asyncio
import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import FileResponse
from django.urls import set_script_prefix

from ade.lanes import ApiLane

IDLE_THREADS = 16  # request threads kept for reuse; more run at once when more requests do, and then end


class OneHopHandler(ApiLane, ASGIHandler):
    def __init__(self):
        super().__init__()
        self.threads = RequestThreads(IDLE_THREADS)
        self._respond_in_thread = sync_to_async(self._respond, thread_sensitive=True)

    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)  # the synchronous chains, whatever ASGIHandler asks for

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        executor = self.threads.take()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            self.threads.give_back(executor)

    async def handle(self, scope, receive, send):
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        try:
            response = await self._respond_in_thread(scope, body_file)
            if response.streaming:
                await self._stream(response, receive, send)
            else:
                await self.send_response(response, send)
        finally:
            body_file.close()

    def _respond(self, scope, body_file):
        """On the request's thread: the whole request, and for a response already in memory its close too."""
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, response = self.create_request(scope, body_file)
        if request is not None:
            response = self.get_response(request)
            response._handler_class = self.__class__
            if isinstance(response, FileResponse):
                response.block_size = self.chunk_size  # as Django's handler does: the server chunks it
        if not response.streaming:
            response.close()  # request_finished: the request's database connections go back now
        return response

    async def _stream(self, response, receive, send):
        """Django's way: a client that goes away cancels the stream; the response is closed after its last byte."""

        tasks = [
            asyncio.create_task(self.listen_for_disconnect(receive)),
            asyncio.create_task(self.send_response(response, send)),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()  # the other one; a finished task keeps its result
            try:
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError, RequestAborted):
                        await task
            finally:
                await sync_to_async(response.close, thread_sensitive=True)()


class RequestThreads:
    """Single-thread executors, one per request in progress, kept idle for the next requests (starting and joining
    two threads per request cost ~0.4 ms of the ~3 ms a bare request takes). What a thread keeps between requests
    is what a WSGI server's threads keep: its database connection wrappers (the connections themselves are closed
    or pooled at the end of each request, by Django's request_finished)."""

    def __init__(self, keep: int):
        self.keep = keep
        self.idle: list[ThreadPoolExecutor] = []
        self.lock = threading.Lock()

    def take(self) -> ThreadPoolExecutor:
        with self.lock:
            if self.idle:
                return self.idle.pop()
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="request")

    def give_back(self, executor: ThreadPoolExecutor) -> None:
        # Only once the thread is free: daphne cancels the application of a connection that went away, and the
        # view goes on running on its thread (a task is cancelled, a thread is not); no request may queue behind it.
        executor.submit(int).add_done_callback(lambda _: self._park(executor))

    def _park(self, executor: ThreadPoolExecutor) -> None:
        with self.lock:
            if len(self.idle) < self.keep:
                self.idle.append(executor)
                return
        executor.shutdown(wait=False)
