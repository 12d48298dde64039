"""Two views for tests/test_request_threads.py: which thread served a request, and one that waits to be let go."""

import threading

from django.http import HttpResponse
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


urlpatterns = [path("thread", thread), path("slow", slow)]
