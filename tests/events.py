"""Listening to a channel-layer group in tests, as a page's websocket consumer would (in-memory or Redis layer)."""

import asyncio

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer


class GroupListener:
    def __init__(self, group: str):
        self.layer = get_channel_layer()
        self.channel = async_to_sync(self.layer.new_channel)()
        async_to_sync(self.layer.group_add)(group, self.channel)
        self.events: list[dict] = []

    def collect(self, until, timeout: float = 30) -> list[dict]:
        """Receive events until `until(events)` is true; AssertionError after `timeout` seconds."""

        async def receive_until():
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while not until(self.events):
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise AssertionError(f"gave up waiting after {timeout} s; received {self.events}")
                if isinstance(self.layer, InMemoryChannelLayer):
                    # A sender in another thread does not wake this loop (ade/events.py): look again regularly.
                    remaining = min(remaining, 0.1)
                try:
                    message = await asyncio.wait_for(self.layer.receive(self.channel), remaining)
                except TimeoutError:
                    continue
                self.events.append(message["event"])

        async_to_sync(receive_until)()
        return self.events
