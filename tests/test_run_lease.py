"""A running turn's lease in Redis (agents/run_leases.py `watch`): what a worker does when Redis is away as a turn starts."""

import pytest

from tests.faultkit import RedisServer, wait_for


@pytest.mark.services
def test_a_turn_starting_while_redis_is_away_takes_its_lease_when_redis_returns(tmp_path, monkeypatch, settings):
    """Redis down as the lease is taken: the turn goes on (its first event then fails it with an error naming Redis,
    or Redis is back in time) instead of the task crashing and leaving its run `running` until the watchdog blamed a
    lost worker. The lease is taken as soon as Redis answers, and released at the end."""
    from agents import run_leases

    settings.RUN_LEASE_SECONDS = 3
    server = RedisServer(tmp_path)  # not started yet: nothing listens on its port
    client = server.client()
    monkeypatch.setattr(run_leases, "redis_client", lambda: client)
    key = "engram:run:run-lease-test:lease"
    try:
        with run_leases.watch("run-lease-test") as cancelled:
            server.start()
            holder = wait_for(lambda: client.get(key), 10, "the lease to be taken once Redis answers")
            assert holder.decode() == run_leases._holder() and not cancelled.is_set()
            assert 0 < client.ttl(key) <= 3
        assert client.get(key) is None
    finally:
        server.stop()


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_cancel_while_redis_is_away_is_answered_and_stops_the_run(monkeypatch, alice, alice_api, tmp_path):
    """The cancel flag's copy in Redis cannot be written: the cancel still answers 200 and the run is cancelled by
    its row (it was a 500 after the row's flag had been set)."""
    from agents import run_leases
    from agents.actions import create_agent
    from agents.models import Run
    from agents.runs import start_turn

    agent = create_agent(alice, {"name": "cancel-me", "memory_blocks": []})
    run = start_turn(alice, agent.id, [{"role": "user", "content": "hi"}])  # recorded, not submitted: queued
    monkeypatch.setattr(run_leases, "redis_client", lambda: RedisServer(tmp_path).client())  # nobody listens there
    r = alice_api.post(f"/v1/agents/{agent.id}/messages/cancel", {"run_ids": [run.id]})
    assert r.status_code == 200 and r.json() == {run.id: "cancelled"}, r.content
    assert Run.objects.get(id=run.id).status == "cancelled"
