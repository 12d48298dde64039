"""Broadcasting live updates: only from actions, only after commit."""

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.db import transaction

log = logging.getLogger(__name__)
_warned_at = 0.0  # when an unreachable channel layer was last logged (once per 10 s, not once per event)


def failures() -> tuple[type[Exception], ...]:
    """What Redis (the channel layer, the run event logs, the lease) raises when it cannot be reached. Redis's own
    errors are imported only when Redis is used: the import took ~50 ms of the embedded default's start-up."""
    if settings.REDIS_URL:
        from redis.exceptions import RedisError

        return (RedisError, OSError)
    return (OSError,)


def agent_group(agent_id: str) -> str:
    return f"agent.{agent_id}"


def user_group(user_id: str) -> str:
    """Every page socket of one user (told `{"type": "access_changed"}` when their membership changes)."""
    return f"user.{user_id}"


def folder_group(folder_id: str) -> str:
    return f"folder.{folder_id}"


_serving_loop: asyncio.AbstractEventLoop | None = None  # the event loop of this process's sockets, once one came


def serve_here() -> None:
    """Called on the server's event loop (ade/asgi.py): the in-process layer's consumers wait on this loop."""
    global _serving_loop
    _serving_loop = asyncio.get_running_loop()


def send_now(group: str, event: dict) -> None:
    """Send `event` to the pages watching `group`, now. Best effort: a live update lost while the channel layer
    (Redis) is down is logged, never raised, as what it reports is stored already (its pages catch up when their
    sockets reconnect). A write told "failed" after it committed would invite a second one."""
    global _warned_at
    try:
        _send(group, event)
    except failures() as exc:
        if time.monotonic() - _warned_at > 10:
            _warned_at = time.monotonic()
            log.warning("live updates are not reaching the pages (the channel layer is unavailable: %s)", exc)


def _send(group: str, event: dict) -> None:
    layer = get_channel_layer()
    if layer is not None and not _nobody_listens(layer, group):
        send = async_to_sync(layer.group_send)
        message = {"type": "engram.event", "event": event}
        loop = _serving_loop if isinstance(layer, InMemoryChannelLayer) else None
        if loop is not None and loop.is_running() and not _loop_running_here():
            # The in-process layer's queues wake only the loop they belong to: sent from a loop of its own (what
            # async_to_sync does in a turn's thread), an event reached the pages when daphne next woke, ~1 s later.
            sent = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop)
            with contextlib.suppress(concurrent.futures.TimeoutError):  # a stalled loop gets it when it wakes
                sent.result(timeout=10)
        elif _loop_running_here():  # a sync caller on an event loop's thread (e.g. a script driving a browser)
            worker = threading.Thread(target=send, args=(group, message))
            worker.start()
            worker.join()
        else:
            send(group, message)


def _loop_running_here() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _nobody_listens(layer, group: str) -> bool:
    """The in-process layer knows its groups: with no page watching, skip the hop to the event loop (a turn
    sends several events, and each hop is a thread switch there and back)."""
    return isinstance(layer, InMemoryChannelLayer) and not layer.groups.get(group)


def broadcast(group: str, event: dict) -> None:
    """Send `event` to a channel-layer group once the current transaction commits."""
    transaction.on_commit(lambda: send_now(group, event))
