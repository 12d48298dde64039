"""A running turn's lease in Redis (agents/runs.py `_watch`): what a worker does when Redis is away as a turn starts."""

import pytest

from tests.faultkit import RedisServer, wait_for


@pytest.mark.services
def test_a_turn_starting_while_redis_is_away_takes_its_lease_when_redis_returns(tmp_path, monkeypatch, settings):
    """Redis down as the lease is taken: the turn goes on (its first event then fails it with an error naming Redis,
    or Redis is back in time) instead of the task crashing and leaving its run `running` until the watchdog blamed a
    lost worker. The lease is taken as soon as Redis answers, and released at the end."""
    from agents import runs

    settings.RUN_LEASE_SECONDS = 3
    server = RedisServer(tmp_path)  # not started yet: nothing listens on its port
    client = server.client()
    monkeypatch.setattr(runs, "redis_client", lambda: client)
    key = "engram:run:run-lease-test:lease"
    try:
        with runs._watch("run-lease-test") as cancelled:
            server.start()
            holder = wait_for(lambda: client.get(key), 10, "the lease to be taken once Redis answers")
            assert holder.decode() == runs._holder() and not cancelled.is_set()
            assert 0 < client.ttl(key) <= 3
        assert client.get(key) is None
    finally:
        server.stop()
