"""Following a run whose status says finished while its log is still open (agents/run_streams.follow): a run's
status is written before its last events and end marker, so a follower that sees "finished" between two reads
must still read what comes next (100 SSE followers of one turn lost its reply this way under load)."""

import threading
import time

import pytest

from agents import run_streams
from agents.actions import create_agent
from agents.models import Run
from agents.pages.templates_catalog import blank_spec
from agents.run_events import event_log


@pytest.fixture
def finished_run(alice, monkeypatch):
    monkeypatch.setattr(run_streams, "FOLLOW_GRACE_SECONDS", 0.2)
    agent = create_agent(alice, blank_spec("Followed"))
    return Run.objects.create(organization_id=agent.organization_id, agent=agent, status="completed")


@pytest.mark.django_db
def test_events_written_after_the_status_still_reach_a_quiet_follower(finished_run):
    def finish():
        time.sleep(1.3)  # the follower has waited out a read and seen the run finished
        run_streams.publish(finished_run, {"message_type": "stop_reason", "stop_reason": "end_turn"})
        time.sleep(0.2)
        event_log().append(finished_run.id, None)

    threading.Thread(target=finish, daemon=True).start()
    events = list(run_streams.follow(finished_run.id, timeout=10))
    assert [e["message_type"] for e in events] == ["stop_reason"]
    assert events[0]["seq_id"] == 1 and events[0]["run_id"] == finished_run.id


@pytest.mark.django_db
def test_a_finished_run_whose_log_never_closes_ends_after_the_grace(finished_run):
    started = time.monotonic()
    assert list(run_streams.follow(finished_run.id, timeout=10)) == []
    assert time.monotonic() - started < 5
