"""Broadcasting live updates: only from actions, only after commit."""

import asyncio
import threading

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import transaction


def agent_group(agent_id: str) -> str:
    return f"agent.{agent_id}"


def user_group(user_id: str) -> str:
    """Every page socket of one user (told `{"type": "access_changed"}` when their membership changes)."""
    return f"user.{user_id}"


def folder_group(folder_id: str) -> str:
    return f"folder.{folder_id}"


def send_now(group: str, event: dict) -> None:
    layer = get_channel_layer()
    if layer is not None and not _nobody_listens(layer, group):
        send = async_to_sync(layer.group_send)
        message = {"type": "engram.event", "event": event}
        if _loop_running_here():  # a sync caller on an event loop's thread (e.g. a script driving a browser)
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
