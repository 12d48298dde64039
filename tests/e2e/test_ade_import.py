"""Importing an agent file from the ADE (#15 broken 1): the dialog answers at once, the Import button cannot start a
second import, progress arrives live over the websocket, and the new agent opens when it is done. A broken file is
refused inline, before anything starts."""

import json
import re

import pytest
from playwright.sync_api import expect

from agents.models import Agent
from tests.e2e.test_ade import SAMPLE, TIMEOUT, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def big_agent_file(tmp_path, messages: int):
    """The sample agent with many more messages, so the import writes several batches."""
    doc = json.loads(SAMPLE.read_text())
    agent = doc["agents"][0]
    template = {k: v for k, v in agent["messages"][0].items() if k not in ("tool_calls", "tool_returns")}
    extra = []
    for i in range(messages):
        m = {**template, "role": "user", "id": f"message-{100 + i}", "tool_calls": None, "tool_returns": []}
        m["content"] = [{"type": "text", "text": f"note number {i}"}]
        extra.append(m)
    agent["messages"] = agent["messages"] + extra
    path = tmp_path / "big.af"
    path.write_text(json.dumps(doc))
    return path


def test_import_answers_at_once_shows_live_progress_and_opens_the_agent(browser, live_server_url, alice, tmp_path):
    base = live_server_url
    page = sign_in(browser, base, alice)
    frames = []

    def watch(ws):
        if "/ws/imports/" in ws.url:
            ws.on("framereceived", lambda payload: frames.append(payload))

    page.on("websocket", watch)
    page.get_by_role("link", name="Import .af").first.click()
    expect(page.locator("#import-box.ws-live")).to_have_count(1)  # the progress socket is open before the post

    bad = tmp_path / "bad.af"
    bad.write_text("{")
    page.set_input_files("#af-file", str(bad))
    page.click("#import-form button[type=submit]")
    expect(page.locator("#import-form .field-error")).to_contain_text("JSON")

    page.set_input_files("#af-file", str(big_agent_file(tmp_path, 7000)))
    with page.expect_response(re.compile(r"/agents/import/$")) as answer:
        page.click("#import-form button[type=submit]")
    assert answer.value.status == 200
    expect(page.locator("#import-form")).to_have_count(0)  # the form and its button are gone: no second import
    page.wait_for_url(re.compile(r".*/agents/agent-[0-9a-f-]+/$"), timeout=TIMEOUT * 2)
    done = [int(n) for f in frames for n in re.findall(r"data-import-done>(\d+)<", str(f))]
    assert len(done) >= 3 and done == sorted(done), frames  # progress seen to advance, live
    assert any("import_done" in str(f) for f in frames)
    agent = Agent.objects.get(organization=alice.organization)
    assert page.url.endswith(f"/agents/{agent.id}/") and agent.messages.count() > 7000
