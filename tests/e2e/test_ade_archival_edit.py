"""The Archival panel (#15 item 17 and the "search without similarity scores" of item 13): a person edits a
passage, searches and sees each result's scores, and filters by tag and by date."""

from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from agents.actions import create_agent
from agents.pages.templates_catalog import blank_spec
from memory.actions import Actor
from memory.archival import insert_archival
from memory.models import Passage
from tests.e2e.test_ade import open_workspace, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_edit_a_passage_search_with_scores_and_filter_by_tag_and_date(browser, live_server_url, alice):
    base = live_server_url
    agent = create_agent(alice, blank_spec("Archivist"))
    me = Actor.user(alice)
    insert_archival(agent, "The boiler service is due in May.", ["house"], actor=me)
    insert_archival(
        agent,
        "Kickoff meeting notes: budget approved.",
        ["work"],
        actor=me,
        created_at=datetime(2025, 3, 2, 10, tzinfo=UTC),
    )
    insert_archival(
        agent, "Retro notes: ship smaller changes.", ["work"], actor=me, created_at=datetime(2025, 6, 9, 10, tzinfo=UTC)
    )
    page = sign_in(browser, base, alice)
    open_workspace(page, base, agent.id)
    page.locator("#right-panel .tabs").get_by_text("Archival").click()
    archival = page.locator("#archival")
    boiler = archival.locator(".item", has_text="boiler service")

    # edit: new text and tags, saved in place
    boiler.locator(".passage-edit summary").click()
    boiler.locator("textarea[name=text]").fill("The boiler service is due in June, call the plumber.")
    boiler.locator("input[name=tags]").fill("house, plumbing")
    boiler.get_by_role("button", name="Save passage").click()
    saved = archival.locator(".item", has_text="due in June")
    expect(saved.get_by_role("status")).to_have_text("Saved.")
    expect(saved.locator(".tag", has_text="plumbing")).to_be_visible()
    row = Passage.objects.get(text__startswith="The boiler service")
    assert (row.text, row.tags, row.version) == (
        "The boiler service is due in June, call the plumber.",
        ["house", "plumbing"],
        2,
    )

    # search: the edited words are found, each result shows its scores, labelled
    page.fill("#archival-q", "when is the plumber coming")
    page.select_option("#archival-mode", "hybrid")
    page.locator("#archival-search").get_by_role("button", name="Search").click()
    expect(archival.locator(".section-title").first).to_contain_text("Nearest to")
    first = archival.locator("#passage-list > .item").first
    expect(first).to_contain_text("call the plumber")
    expect(first.locator(".passage-score")).to_contain_text("fused")
    expect(first.locator(".passage-score")).to_contain_text("similarity")
    expect(first.locator(".passage-score")).to_contain_text("words #1")
    page.select_option("#archival-mode", "vector")
    page.locator("#archival-search").get_by_role("button", name="Search").click()
    expect(archival.locator("#passage-list .passage-score[data-mode=vector]")).to_have_count(3)
    expect(archival.locator("#passage-list .passage-score").first).not_to_contain_text("fused")
    page.screenshot(path="artifacts/screenshots/archival-search-scores.png")

    # filters: tag, then a date range, with and without a query
    page.fill("#archival-q", "")
    page.fill("#archival-tags", "work")
    page.locator("#archival-search").get_by_role("button", name="Search").click()
    expect(archival.locator("#passage-list > .item")).to_have_count(2)
    expect(archival.locator("#passage-list")).not_to_contain_text("boiler")
    page.fill("#archival-start", "2025-03-01")
    page.fill("#archival-end", "2025-03-31")
    page.locator("#archival-search").get_by_role("button", name="Search").click()
    expect(archival.locator("#passage-list > .item")).to_have_count(1)
    expect(archival.locator("#passage-list")).to_contain_text("Kickoff")
    page.fill("#archival-q", "notes")
    page.locator("#archival-search").get_by_role("button", name="Search").click()
    expect(archival.locator("#passage-list > .item")).to_have_count(1)
    expect(archival.locator("#passage-list .item").first).to_contain_text("Kickoff")
    expect(page.locator("#archival-tags")).to_have_value("work")
    page.screenshot(path="artifacts/screenshots/archival-filters.png")
