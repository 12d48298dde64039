"""The in-process run event log (embedded default): numbered like the Redis streams, and bounded in time, runs
and events so that a long-lived server does not keep every streamed token of its last runs."""

import uuid

import pytest

from agents.run_events import MemoryLog


def delta(i: int) -> dict:
    return {"message_type": "assistant_message", "content": f" word{i}"}


def stream(log: MemoryLog, run_id: str, events: int, *, close: bool = True) -> None:
    for i in range(events):
        log.append(run_id, delta(i))
    if close:
        log.append(run_id, None)


def test_events_are_numbered_from_one_and_read_after_a_sequence_number():
    log = MemoryLog(ttl=60)
    assert [log.append("run-a", delta(i)) for i in range(3)] == [1, 2, 3]
    assert log.read("run-a", 1) == ([(2, delta(1)), (3, delta(2))], False)
    log.append("run-a", None)
    assert log.read("run-a", 3) == ([], True)
    assert log.read("run-unknown", 0) == ([], False)


def test_closed_runs_are_forgotten_oldest_written_first_once_over_the_event_budget(monkeypatch):
    monkeypatch.setattr(MemoryLog, "MAX_EVENTS", 100)
    log = MemoryLog(ttl=60)
    stream(log, "run-1", 39)  # 40 entries with its end marker
    stream(log, "run-2", 39)
    log.append("run-1", {"message_type": "note"})  # written last: run-2 is now the oldest written
    stream(log, "run-3", 39)
    assert log.read("run-2", 0) == ([], False)
    assert len(log.read("run-1", 0)[0]) == 39  # the end marker ended the read before the late note
    assert len(log.read("run-3", 0)[0]) == 39
    assert log._events <= 100


def test_an_open_run_keeps_every_event_whatever_the_budget(monkeypatch):
    monkeypatch.setattr(MemoryLog, "MAX_EVENTS", 50)
    monkeypatch.setattr(MemoryLog, "MAX_RUNS", 2)
    log = MemoryLog(ttl=60)
    stream(log, "run-open", 30, close=False)
    stream(log, "run-closed", 30)
    stream(log, "run-long", 200, close=False)
    events, ended = log.read("run-open", 0)
    assert [seq for seq, _ in events] == list(range(1, 31)) and not ended
    assert log.read("run-closed", 0) == ([], False)  # dropped for the open runs' sake
    assert len(log.read("run-long", 150)[0]) == 50
    assert log.append("run-open", None) == 31  # its numbering goes on, and its followers still read its end
    assert log.read("run-open", 30) == ([], True)


def test_runs_silent_for_longer_than_the_ttl_are_forgotten():
    clock = [1000.0]
    log = MemoryLog(ttl=30)
    log.clock = lambda: clock[0]
    stream(log, "run-old", 5)
    clock[0] += 20
    stream(log, "run-recent", 5, close=False)
    clock[0] += 15  # run-old silent for 35 s, run-recent for 15 s
    log.append("run-new", delta(0))
    assert log.read("run-old", 0) == ([], False)
    assert len(log.read("run-recent", 0)[0]) == 5
    assert log._events == 6


def test_the_run_bound_still_holds_for_closed_runs():
    log, runs = MemoryLog(ttl=60), MemoryLog.MAX_RUNS + 50
    for r in range(runs):
        stream(log, f"run-{r}", 2)
    assert len(log._runs) == MemoryLog.MAX_RUNS
    assert log.read(f"run-{runs - 1}", 0)[1] and not log.read("run-0", 0)[0]


def test_a_closed_run_is_kept_for_the_closed_ttl_and_an_open_one_for_the_ttl():
    clock = [1000.0]
    log = MemoryLog(ttl=600, closed_ttl=60)
    log.clock = lambda: clock[0]
    stream(log, "run-finished", 5)
    stream(log, "run-waiting", 5, close=False)
    clock[0] += 59
    log.append("run-other", delta(0))
    assert log.read("run-finished", 0)[1]  # still replayable
    clock[0] += 2
    log.append("run-other", delta(1))
    assert log.read("run-finished", 0) == ([], False)
    assert len(log.read("run-waiting", 0)[0]) == 5  # open: kept until the TTL


@pytest.mark.services
def test_a_redis_stream_expires_after_the_closed_ttl_once_its_run_ends():
    import os

    from agents.run_events import RedisLog

    log = RedisLog(os.environ["REDIS_URL"], ttl=600, closed_ttl=60)
    run_id = f"run-ttl-{uuid.uuid4()}"
    key = log.key(run_id)
    try:
        log.append(run_id, delta(0))
        assert 590 < log.redis.ttl(key) <= 600
        log.append(run_id, None)
        assert 50 < log.redis.ttl(key) <= 60
        assert log.read(run_id, 0) == ([(1, delta(0))], True)
    finally:
        log.redis.delete(key)
