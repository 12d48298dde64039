"""Views for tests/test_request_threads.py: which thread served a request, one that waits to be let go, and a
stream that waits for each of its chunks to be let go."""

import asyncio
import threading

from django.http import HttpResponse, StreamingHttpResponse
from django.urls import path

release = threading.Event()
entered = threading.Event()
ran_on: list[int] = []


def thread(request):
    return HttpResponse(str(threading.get_ident()))


def slow(request):
    ran_on.append(threading.get_ident())
    entered.set()
    release.wait(10)
    return HttpResponse(str(threading.get_ident()))


chunk_gate = asyncio.Semaphore(0)  # as our SSE streams are: an async generator, sent from the event loop
stream_closed = threading.Event()


def stream(request):
    async def chunks():
        try:
            for n in range(3):
                await chunk_gate.acquire()
                yield f"chunk {n};"
        finally:
            stream_closed.set()

    return StreamingHttpResponse(chunks())


urlpatterns = [path("thread", thread), path("slow", slow), path("stream", stream)]
