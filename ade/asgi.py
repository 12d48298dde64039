import atexit
import logging
import os
import sys
from importlib import import_module

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ade.settings")
django.setup(set_prefix=False)

from ade.handler import OneHopHandler  # noqa: E402

django_asgi_app = OneHopHandler()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.urls import re_path  # noqa: E402

from ade import collect_from_now_on  # noqa: E402
from ade.bodylimit import BodyLimit, install_daphne_limits  # noqa: E402
from ade.events import serve_here  # noqa: E402
from ade.websockets import NoRoute, SameOrigin  # noqa: E402
from agents.pages.routing import websocket_urlpatterns  # noqa: E402
from agents.runtime import llm  # noqa: E402
from evals.pages.routing import websocket_urlpatterns as eval_sockets  # noqa: E402

install_daphne_limits()  # bodies are limited before daphne buffers them (ade/bodylimit.py)


def _on_shutdown() -> None:
    """Under daphne (its reactor is installed before the application loads): on SIGTERM, streams and waiting
    requests stop at once, so the process exits in seconds (turns go on on the workers; clients resume or retry
    on another web server) instead of when its longest turn ends. Once the requests' threads are done, the process
    ends without the interpreter's finalization (`_end_now`)."""
    if "twisted.internet.reactor" not in sys.modules:
        return
    from twisted.internet import reactor

    from agents.runs import stop_following

    reactor.addSystemEventTrigger("before", "shutdown", stop_following)
    # Registered last, so it runs first of the exit handlers: after the threads are joined, before the others.
    reactor.addSystemEventTrigger("after", "shutdown", atexit.register, _end_now)


def _end_now() -> None:
    """Freeing litellm's ~2,750 modules one by one took 1.5 s of every stop, and a stop during litellm's warm-up
    had to wait for the warm-up to end first (agents/runtime/llm.py): 12 s seen under load, past compose's 10 s.
    Stopped just after an in-process turn, the finalization also crashed (exit status -11).
    A server has nothing left to free: its logs are flushed, and the system closes its sockets."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _started() -> None:
    """Start-up is over (litellm's warm-up too). A streamed event crosses three threads (the turn, its relay, the
    event loop) and every reply two; each waits for the GIL while another computes, up to Python's switch interval
    (5 ms). At 0.5 ms the first SSE event came 19.7 -> 11.1 ms after the model's bytes (bench server); not sooner:
    during the warm-up the import took more of the GIL from start-up and the first requests (1.0 -> 1.35 s to
    healthy)."""
    sys.setswitchinterval(0.0005)
    collect_from_now_on()


def _once_listening(start) -> None:
    """Under the daphne command, `start` runs once its reactor runs (the sockets listen): a warm-up thread started
    sooner took half of the GIL from the rest of start-up (~0.17 s later to healthy). Elsewhere (runserver, another
    ASGI server, where the reactor daphne's app installs may never run) at once."""
    if "daphne.cli" not in sys.modules:
        return start()
    from twisted.internet import reactor

    reactor.callWhenRunning(start)


_on_shutdown()
# The URLs (the API's ~190 operations) load now, before litellm's warm-up starts competing for the GIL, instead of
# during the first request.
import_module(settings.ROOT_URLCONF)
if settings.WARM_LITELLM:
    # With workers, each turn hands work to Celery: it loads now, not in the first turn (ade/queue.py).
    _once_listening(lambda: llm.warm_up(then=_started, first=("ade.celery",) if settings.REDIS_URL else ()))
else:
    _once_listening(_started)

routes = ProtocolTypeRouter(
    {
        # The ADE's CSS/JS (and the admin's) straight from the app directories: one process, nothing to collect.
        "http": BodyLimit(ASGIStaticFilesHandler(django_asgi_app)),
        "websocket": SameOrigin(
            AuthMiddlewareStack(URLRouter([*websocket_urlpatterns, *eval_sockets, re_path(r"", NoRoute.as_asgi())]))
        ),
    }
)


async def application(scope, receive, send):
    serve_here()  # where the in-process channel layer must deliver (ade/events.py)
    return await routes(scope, receive, send)
