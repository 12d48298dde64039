"""The event log of each run: numbered events kept so that a stream can resume with `starting_after`.

Two stores with one interface:
- `RedisLog` (REDIS_URL set): one Redis stream per run, entry ids `0-<seq>` assigned by Redis itself, so
  the web process, the worker and the watchdog can all append and readers get every event once, in order.
  Streams expire `RUN_EVENTS_TTL_SECONDS` after their last event, and `RUN_EVENTS_CLOSED_TTL_SECONDS` after their
  end marker (a finished run's stream can be replayed for that long).
- `MemoryLog` (embedded default): the same in this process, kept as long and also bounded in runs and events.

A log is closed by an end marker (it takes a sequence number but is never returned as an event).
"""

import json
import threading
import time
from collections import OrderedDict
from functools import lru_cache

from django.conf import settings


class MemoryLog:
    """Bounded like the Redis streams are by their TTL, and also by size: a streamed reply stores an event per
    token (~0.5 KB each), so 200 runs of 1,000-token replies held ~95 MiB until the bound was in events too."""

    MAX_RUNS = 200
    MAX_EVENTS = 50_000
    clock = staticmethod(time.monotonic)

    def __init__(self, ttl: float, closed_ttl: float | None = None):
        self.ttl, self.closed_ttl = ttl, ttl if closed_ttl is None else closed_ttl
        self._runs: OrderedDict[str, list] = OrderedDict()  # least recently written first
        self._written: dict[str, float] = {}  # run id -> monotonic time of its last event
        self._events = 0
        self._changed = threading.Condition()
        self._waiting = 0  # readers blocked in read()

    def append(self, run_id: str, event: dict | None) -> int:
        """Store `event` (None = the end marker) and return its sequence number."""
        with self._changed:
            entries = self._runs.setdefault(run_id, [])
            entries.append(event)
            self._runs.move_to_end(run_id)
            self._written[run_id] = now = self.clock()
            self._events += 1
            self._forget(now, run_id)
            self._changed.notify_all()
            seq, woken = len(entries), self._waiting
        if woken:
            time.sleep(0)  # hand the GIL to the woken readers now, not after a switch interval of our own work
        return seq

    def _forget(self, now: float, written: str) -> None:
        """Drop runs silent for longer than the TTL and closed runs silent for longer than the closed TTL, then,
        while over a bound, the least recently written closed runs. Neither an open run nor the one just written is
        dropped for size: followers would see a numbering start again, or miss a run's last events."""
        while self._runs:
            oldest = next(iter(self._runs))
            if now - self._written[oldest] <= self.ttl:
                break
            self._drop(oldest)
        stale = []
        for run_id, entries in self._runs.items():  # least recently written first: stops at the first recent one
            if now - self._written[run_id] <= self.closed_ttl:
                break
            if entries[-1] is None and run_id != written:
                stale.append(run_id)
        for run_id in stale:
            self._drop(run_id)
        if len(self._runs) <= self.MAX_RUNS and self._events <= self.MAX_EVENTS:
            return
        for run_id in [r for r, entries in self._runs.items() if entries[-1] is None and r != written]:
            self._drop(run_id)
            if len(self._runs) <= self.MAX_RUNS and self._events <= self.MAX_EVENTS:
                return

    def _drop(self, run_id: str) -> None:
        self._events -= len(self._runs.pop(run_id))
        del self._written[run_id]

    def read(self, run_id: str, after: int, block: float = 0) -> tuple[list[tuple[int, dict]], bool]:
        """Events with seq > after, and whether the end marker was reached. Waits up to `block` s for news."""
        with self._changed:
            if block and len(self._runs.get(run_id, ())) <= after:
                self._waiting += 1
                try:
                    self._changed.wait_for(lambda: len(self._runs.get(run_id, ())) > after, timeout=block)
                finally:
                    self._waiting -= 1
            return _split(list(enumerate(self._runs.get(run_id, ())[after:], start=after + 1)))


class RedisLog:
    def __init__(self, url: str, ttl: int, closed_ttl: int | None = None):
        import redis

        self.redis = redis.Redis.from_url(url)
        self.ttl, self.closed_ttl = ttl, ttl if closed_ttl is None else closed_ttl

    @staticmethod
    def key(run_id: str) -> str:
        return f"engram:run:{run_id}:events"

    def append(self, run_id: str, event: dict | None) -> int:
        key = self.key(run_id)
        fields = {"end": "1"} if event is None else {"event": json.dumps(event, default=str)}
        pipe = self.redis.pipeline(transaction=False)
        pipe.xadd(key, fields, id="0-*")  # Redis numbers the entry: 0-1, 0-2, ...
        pipe.expire(key, self.ttl if event is not None else self.closed_ttl)
        entry_id, _ = pipe.execute()
        return int(entry_id.split(b"-")[1])

    def read(self, run_id: str, after: int, block: float = 0) -> tuple[list[tuple[int, dict]], bool]:
        key = self.key(run_id)
        if block:
            reply = self.redis.xread({key: f"0-{after}"}, count=1000, block=max(1, int(block * 1000)))
            entries = reply[0][1] if reply else []
        else:
            entries = self.redis.xrange(key, min=f"(0-{after}", max="+")
        return _split([(int(eid.split(b"-")[1]), _decode(fields)) for eid, fields in entries])


def _decode(fields: dict) -> dict | None:
    raw = fields.get(b"event")
    return None if raw is None else json.loads(raw)


def _split(entries: list[tuple[int, dict | None]]) -> tuple[list[tuple[int, dict]], bool]:
    """Cut at the end marker: (events before it, whether it was seen)."""
    events = []
    for seq, event in entries:
        if event is None:
            return events, True
        events.append((seq, event))
    return events, False


@lru_cache(maxsize=1)
def _memory_log() -> MemoryLog:
    return MemoryLog(settings.RUN_EVENTS_TTL_SECONDS, settings.RUN_EVENTS_CLOSED_TTL_SECONDS)


@lru_cache(maxsize=4)
def _redis_log(url: str, ttl: int, closed_ttl: int) -> RedisLog:
    return RedisLog(url, ttl, closed_ttl)


def redis_client():
    """The shared Redis connection pool of this process, or None on the embedded default."""
    return event_log().redis if settings.REDIS_URL else None


def event_log() -> MemoryLog | RedisLog:
    """The store for this configuration (Redis whenever REDIS_URL is set, so every process shares it)."""
    if settings.REDIS_URL:
        return _redis_log(settings.REDIS_URL, settings.RUN_EVENTS_TTL_SECONDS, settings.RUN_EVENTS_CLOSED_TTL_SECONDS)
    return _memory_log()
